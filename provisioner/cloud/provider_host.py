"""The dynamic-provider plugin that the Pulumi engine starts to run our boto3 providers.

Pulumi's own launcher (`python -m pulumi.dynamic`) serves provider calls from a
pool of 4 threads, so no more than 4 resources are created, read or deleted at
once, whatever the engine's `--parallel` allows. This runs the same server with
as many threads as the run's parallelism (`PROVISION_PROVIDER_WORKERS`).
`make setup` installs it as `pulumi-resource-pulumi-python`.

Started by `provisioner.cloud.pulumi.provider_process` instead (`PROVISION_PROVIDER_ATTACHED`
set), it serves every engine run of that process, and exits when that process closes
its standard input or dies.
"""

from __future__ import annotations

import gc
import importlib
import os
import runpy
import sys
import threading
from concurrent import futures
from typing import Any

from provisioner.cloud.aws import clients

WORKERS_ENV = "PROVISION_PROVIDER_WORKERS"
ATTACHED_ENV = "PROVISION_PROVIDER_ATTACHED"
DEFAULT_PARALLELISM = 64


def main() -> None:
    """Serve the dynamic providers with at least `$PROVISION_PROVIDER_WORKERS` threads."""
    _import_the_server()
    workers = int(os.environ.get(WORKERS_ENV) or DEFAULT_PARALLELISM)
    narrow = futures.ThreadPoolExecutor

    class _Wide(narrow):  # type: ignore[valid-type, misc]
        def __init__(self, max_workers: int | None = None, *args: Any, **kwargs: Any) -> None:
            super().__init__(max(workers, max_workers or 0), *args, **kwargs)

    # pulumi.dynamic's server builds its pool from this module attribute when it starts.
    futures.ThreadPoolExecutor = _Wide  # type: ignore[misc]
    region = os.environ.get("AWS_REGION")
    if region:
        # Loading the EC2 service model takes a while; do it while the engine still plans.
        threading.Thread(target=clients.client, args=("ec2", region), daemon=True).start()
    if os.environ.get(ATTACHED_ENV):
        _answer_attach()
        threading.Thread(target=_exit_when_input_closes, daemon=True).start()
    runpy.run_module("pulumi.dynamic.__main__", run_name="__main__", alter_sys=True)


def _import_the_server() -> None:
    """Import what the server and our providers need with the garbage collector paused.

    The objects these imports make live as long as the process; collecting while
    they are made only scans them again (0.1-0.15 s of CPU at each start). Frozen,
    they are left out of later collections too.
    """
    gc.disable()
    try:
        importlib.import_module("dill")
        importlib.import_module("grpc")
        importlib.import_module("pulumi.dynamic")
        importlib.import_module("pulumi.runtime.proto")
        kinds = importlib.import_module("provisioner.cloud.aws.kind")
        kinds.cloud_kinds()  # imports every kind's module, as unpickling providers would
    finally:
        gc.enable()
    gc.freeze()


def _answer_attach() -> None:
    """Answer the engine's `Attach` call, which it makes to a provider it attaches to.

    pulumi.dynamic's servicer does not implement it (the engine launches that plugin
    itself). It only tells the provider the engine's address, which our providers never
    call, so the answer is a plain OK, given by the generated base class it inherits from.
    """
    from google.protobuf import empty_pb2  # type: ignore[import-untyped]
    from pulumi.runtime.proto import ResourceProviderServicer

    def attach(_servicer: object, _request: object, _context: object) -> Any:
        return empty_pb2.Empty()

    setattr(ResourceProviderServicer, "Attach", attach)  # noqa: B010 - a generated class


def _exit_when_input_closes() -> None:
    """Serve until the process that started this one closes our input (or dies)."""
    sys.stdin.buffer.read()
    os._exit(0)


if __name__ == "__main__":
    main()
