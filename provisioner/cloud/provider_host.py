"""The dynamic-provider plugin that the Pulumi engine starts to run our boto3 providers.

Pulumi's own launcher (`python -m pulumi.dynamic`) serves provider calls from a
pool of 4 threads, so no more than 4 resources are created, read or deleted at
once, whatever the engine's `--parallel` allows. This runs the same server with
as many threads as the run's parallelism (`PROVISION_PROVIDER_WORKERS`).
`make setup` installs it as `pulumi-resource-pulumi-python`.
"""

from __future__ import annotations

import os
import runpy
import threading
from concurrent import futures
from typing import Any

from provisioner.cloud.aws import clients

WORKERS_ENV = "PROVISION_PROVIDER_WORKERS"
DEFAULT_PARALLELISM = 64


def main() -> None:
    """Serve the dynamic providers with at least `$PROVISION_PROVIDER_WORKERS` threads."""
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
    runpy.run_module("pulumi.dynamic.__main__", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
