"""The provider host a command starts once: it serves, and it never outlives the command.

A child Python process stands in for a `provision` command: it starts the host
through `attached_provider_env` and prints the port. The host must answer on that
port, and must be gone soon after the child is killed with SIGKILL (no atexit runs).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.projects import ROOT

pytestmark = pytest.mark.integration

CHILD = """
import sys, time
from pathlib import Path
from provisioner.cloud.pulumi.provider_process import attached_provider_env
found = attached_provider_env({"AWS_REGION": "us-east-1"}, Path(sys.argv[1]))
print(found["PULUMI_DEBUG_PROVIDERS"], flush=True)
time.sleep(600)
"""


def host_pids(marker: str) -> list[int]:
    """Provider hosts whose environment carries `marker` (started for this test)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if marker.encode() in environ and "\nState:\tZ" not in status:
            found.append(int(entry.name))
    return found


def test_the_host_serves_and_exits_when_the_command_that_started_it_is_killed(
    tmp_path: Path,
) -> None:
    marker = f"PROVIDER_PROCESS_TEST={os.getpid()}"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "provider-host.log")],
        cwd=ROOT,
        env={**os.environ, "PROVIDER_PROCESS_TEST": str(os.getpid())},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        name, port = child.stdout.readline().strip().split(":")
        assert name == "pulumi-python"
        with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as connection:
            assert connection.getpeername()[1] == int(port)  # the engine could attach
        hosts = [pid for pid in host_pids(marker) if pid != child.pid]
        assert len(hosts) == 1
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    deadline = time.monotonic() + 10
    while [pid for pid in host_pids(marker) if pid != child.pid]:
        assert time.monotonic() < deadline, "the provider host outlived its command"
        time.sleep(0.1)
