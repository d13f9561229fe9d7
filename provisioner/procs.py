"""Processes as the kernel shows them in /proc (the one module that reads it; every layer may).

A pid alone does not name a process for long: the kernel reuses pids (here the
range is 32768, and a test suite starts tens of thousands of processes). A
process is named by its pid and its start time (`start_ticks`), as recorded
when it was seen alive: a `ProcessIdentity`. Only such an identity is signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")

# Set in the environment of every process a run starts (the Pulumi engine, its provider
# plugin, Ansible, SSH), so that a later run can find what a killed one left.
RUN_ID_ENV = "PROVISION_RUN_ID"


def start_ticks(pid: object) -> int | None:
    """When process `pid` started, in clock ticks since boot; None if none runs (or a zombie)."""
    fields = _stat(pid)
    if fields is None or fields[0] == "Z":
        return None
    return int(fields[19])


def is_running(pid: object, started: int | None = None) -> bool:
    """True if process `pid` exists and is not a zombie (dead, not yet reaped).

    With `started` (its `start_ticks` when it was recorded), only that very
    process counts, not a later one that was given the same pid.
    """
    ticks = start_ticks(pid)
    return ticks is not None and (started is None or ticks == started)


def children(parent: int) -> list[int]:
    """The pids of the processes whose parent is `parent`."""
    found = []
    for pid in _pids():
        fields = _stat(pid)
        if fields is not None and int(fields[1]) == parent:
            found.append(pid)
    return found


def command_line(pid: int) -> list[str]:
    """The argv of `pid`, or [] if it cannot be read."""
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


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
        stop([self], signal.SIGTERM, grace_seconds=grace_seconds)
        return True

    def send(self, signum: int) -> None:
        """Send `signum` to this process if it still runs (never to a later one with its pid)."""
        if self.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)


def stop(processes: Sequence[ProcessIdentity], signum: int, *, grace_seconds: float) -> None:
    """Send `signum` to every process, then SIGKILL those still running after `grace_seconds`.

    Returns once none of them runs.
    """
    for process in processes:
        process.send(signum)
    deadline = time.monotonic() + grace_seconds
    while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    for process in processes:
        process.send(signal.SIGKILL)
    while any(p.is_alive() for p in processes):
        time.sleep(0.02)


def processes_with_env(name: str, value: str) -> list[ProcessIdentity]:
    """Every live process but this one whose environment has `name=value` exactly (a marker)."""
    wanted = f"{name}={value}".encode()
    found = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        try:
            environ = (_PROC / str(pid) / "environ").read_bytes()
        except OSError:
            continue
        if wanted in environ.split(b"\0"):
            identity = ProcessIdentity.of(pid)
            if identity is not None:
                found.append(identity)
    return found


def _pids() -> Iterator[int]:
    return (int(entry.name) for entry in _PROC.iterdir() if entry.name.isdigit())


def _stat(pid: object) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (the state first); None if gone."""
    try:
        stat = (_PROC / str(int(str(pid))) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name may hold spaces and parentheses: the state follows the last ')'.
    return stat[stat.rindex(")") + 2 :].split()
