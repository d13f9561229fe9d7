"""Identify processes precisely enough to signal only the ones we started.

A pid alone can be reused after its process dies, so a process is identified by
its pid together with its start time (from /proc/PID/stat).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from provisioner.procs import start_ticks


@dataclass(frozen=True)
class ProcessIdentity:
    """A pid plus the kernel's start time of that process, in clock ticks since boot."""

    pid: int
    start_ticks: int

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity | None:
        """Identify the live process `pid`, or None if there is none (zombies count as gone)."""
        ticks = start_ticks(pid)
        return None if ticks is None else cls(pid, ticks)

    def is_alive(self) -> bool:
        """True while this exact process (not a later one with the same pid) is running."""
        return ProcessIdentity.of(self.pid) == self

    def terminate(self, *, grace_seconds: float) -> bool:
        """SIGTERM, then SIGKILL after `grace_seconds`. Return True if the process was running."""
        if not self.is_alive():
            return False
        _signal(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline:
            if not self.is_alive():
                return True
            time.sleep(0.05)
        if self.is_alive():
            _signal(self.pid, signal.SIGKILL)
            while self.is_alive():
                time.sleep(0.02)
        return True


def command_line(pid: int) -> list[str]:
    """The argv of `pid`, or [] if it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def processes_with_env(name: str, value: str) -> list[ProcessIdentity]:
    """Every live process whose environment has `name=value` exactly (a run's marker)."""
    wanted = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if wanted in environ.split(b"\0"):
            identity = ProcessIdentity.of(int(entry.name))
            if identity is not None:
                found.append(identity)
    return found
