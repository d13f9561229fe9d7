"""One run per environment: a lock taken by `up`, `down` and `plan --out`.

The holder (host, pid, start time, command) is recorded with the lock so that
a refused run can say who holds it. With file state the lock is a `flock` on a
file under the state folder: the kernel drops it when its process dies, so a
lock left by a killed run is never in the way. (S3 state uses an S3 object
written conditionally; see `provisioner.cloud.s3_lock`.)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from provisioner.errors import ProvisionError
from provisioner.procs import is_running

# How long `acquire` tries again a flock held with no holder recorded: another process's
# `holder()` probe (microseconds), or a holder between taking the flock and writing itself.
PROBE_GRACE = 0.5


@dataclass(frozen=True)
class LockHolder:
    """Who holds an environment's lock."""

    host: str
    pid: int
    started_at: str
    command: str
    run_id: str
    # The holder's process start time (clock ticks since boot): with the pid, it names the
    # process, so a later process that was given the same pid is not taken for the holder.
    pid_started: int | None = None

    @classmethod
    def from_json(cls, data: Any) -> LockHolder | None:
        try:
            fields = {k: data[k] for k in ("host", "pid", "started_at", "command", "run_id")}
            return cls(**fields, pid_started=data.get("pid_started"))
        except (KeyError, TypeError, AttributeError):
            return None

    def is_dead_local_process(self) -> bool:
        """True if the holder ran on this host and its process is gone."""
        return self.host == socket.gethostname() and not is_running(self.pid, self.pid_started)

    def describe(self) -> str:
        return (
            f"pid {self.pid} on {self.host} since {self.started_at} "
            f"(`{self.command}`, run {self.run_id})"
        )


class EnvironmentLockedError(ProvisionError):
    """Another run holds the environment's lock."""

    def __init__(self, environment: str, holder: LockHolder | None) -> None:
        who = holder.describe() if holder else "another run (holder unknown)"
        super().__init__(
            f"{environment} is locked by {who}",
            hint=f"wait for it, or if it is gone: provision unlock {environment} --force",
        )
        self.holder = holder


class EnvironmentLock(Protocol):
    """An environment's run lock."""

    def acquire(self, holder: LockHolder) -> LockHolder | None:
        """Take the lock or raise EnvironmentLockedError; returns a dead holder taken over."""
        ...

    def release(self) -> None: ...

    def holder(self) -> LockHolder | None:
        """Who holds the lock now, if anyone."""
        ...

    def force_unlock(self) -> LockHolder | None:
        """Remove the lock whoever holds it; returns the holder it removed."""
        ...


@contextlib.contextmanager
def locked(lock: EnvironmentLock, holder: LockHolder) -> Iterator[LockHolder | None]:
    """Hold `lock` for the block; yields the dead holder it took over, if any."""
    stale = lock.acquire(holder)
    try:
        yield stale
    finally:
        lock.release()


class FileLock:
    """A `flock` on `locks/ENV.lock`; the file's content names the holder."""

    def __init__(self, path: Path, environment: str) -> None:
        self.path = path
        self.environment = environment
        self._handle: IO[str] | None = None

    def acquire(self, holder: LockHolder) -> LockHolder | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
        # `holder()` (the web view, a watch) takes the flock for an instant to test it: a
        # lock held without a holder recorded is tried again for a moment before refusing.
        deadline = time.monotonic() + PROBE_GRACE
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                previous = self._read(handle)
                if previous is None and time.monotonic() < deadline:
                    time.sleep(0.01)
                    continue
                handle.close()
                raise EnvironmentLockedError(self.environment, previous) from None
        previous = self._read(handle)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(asdict(holder)))
        handle.flush()
        self._handle = handle
        return previous  # a holder recorded here but without the flock has died

    def release(self) -> None:
        if self._handle is None:
            return
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.flush()
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None

    def holder(self) -> LockHolder | None:
        if not self.path.exists():
            return None
        with self.path.open("a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return self._read(handle)
            fcntl.flock(handle, fcntl.LOCK_UN)
        return None  # nobody holds the flock: whatever the file says is stale

    def force_unlock(self) -> LockHolder | None:
        current = self.holder()
        here = current is not None and current.host == socket.gethostname()
        if current is not None and here and not current.is_dead_local_process():
            raise ProvisionError(
                f"{self.environment} is held by running process {current.pid}",
                hint="stop that process; a file lock is released when its holder exits",
            )
        self.path.unlink(missing_ok=True)
        return current

    @staticmethod
    def _read(handle: IO[str]) -> LockHolder | None:
        handle.seek(0)
        text = handle.read().strip()
        if not text:
            return None
        try:
            return LockHolder.from_json(json.loads(text))
        except json.JSONDecodeError:
            return None
