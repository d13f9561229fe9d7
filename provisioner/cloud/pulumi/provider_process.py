"""One dynamic-provider host per process, which every engine run of that process attaches to.

Left to itself, the Pulumi engine starts the provider plugin (`provider_host`) for
each run and stops it at the end: an `up` (a preview, then the update) or a `down`
(a preview of the destroy, then the destroy) started it twice, and every start
imports Pulumi, boto3 and our providers and loads the EC2 model again (about 1.2 s
of CPU). Started here once, and named to the engine in `PULUMI_DEBUG_PROVIDERS`
(the engine then connects to it instead of launching its own), one host serves
every run of the command and keeps its clients and its unpickled providers.

The host lives in its own session, so Ctrl-C at a terminal does not stop it and a
cancelled run can still roll back. It exits when this process closes its standard
input, at exit or by dying.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from provisioner.cloud.provider_host import ATTACHED_ENV
from provisioner.errors import CloudError

# The engine's name for the plugin `pulumi-resource-pulumi-python`.
PROVIDER_PACKAGE = "pulumi-python"
ATTACH_ENV = "PULUMI_DEBUG_PROVIDERS"
START_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 5.0


class ProviderProcess:
    """A provider host started by this process, and the port it serves on."""

    def __init__(self, env: Mapping[str, str], log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as errors:
            self._process = subprocess.Popen(
                [sys.executable, "-u", "-m", "provisioner.cloud.provider_host"],
                env={**os.environ, **env, ATTACHED_ENV: "1"},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                start_new_session=True,
            )
        self.log = log
        self.port = self._read_port()
        # Anything it prints later goes to its log, so that its pipe never fills up.
        threading.Thread(target=self._drain, args=(self._process.stdout,), daemon=True).start()

    def alive(self) -> bool:
        return self._process.poll() is None

    def stop(self) -> None:
        """Close its input (it exits at once); kill it if it has not after a grace period."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _read_port(self) -> int:
        stdout = self._process.stdout
        assert stdout is not None
        answer: list[bytes] = []
        reader = threading.Thread(target=lambda: answer.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_SECONDS)
        line = answer[0].strip() if answer else b""
        if not line.isdigit():
            self.stop()
            raise CloudError(
                f"the Pulumi provider host did not start (it printed {line!r}); see {self.log}"
            )
        return int(line)

    def _drain(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with self.log.open("ab") as log:
            for line in stream:
                log.write(line)


_hosts: dict[frozenset[tuple[str, str]], ProviderProcess] = {}
_lock = threading.Lock()


def attached_provider_env(env: Mapping[str, str], log: Path) -> dict[str, str]:
    """The variable that makes an engine run with `env` attach to this process's provider
    host for that environment, started now if there is none yet (or it died)."""
    key = frozenset(env.items())
    with _lock:
        host = _hosts.get(key)
        if host is None or not host.alive():
            host = ProviderProcess(env, log)
            _hosts[key] = host
    return {ATTACH_ENV: f"{PROVIDER_PACKAGE}:{host.port}"}


@atexit.register
def _stop_all() -> None:
    with _lock:
        for host in _hosts.values():
            host.stop()
        _hosts.clear()
