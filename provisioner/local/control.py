"""Control plane of the local cloud: start, stop and inspect the moto daemon.

Only the daemon recorded in the state folder is ever signalled, and only after
its pid and start time both match the record, so `stop` cannot hit a process
that `start` did not start.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from provisioner.errors import LocalCloudError
from provisioner.jsonable import Jsonable
from provisioner.local.cgroups import CgroupVersion, detect
from provisioner.local.record import DAEMON_MODULE, DaemonRecord, LocalPaths
from provisioner.netsafety import require_loopback_url
from provisioner.procs import command_line

START_TIMEOUT_SECONDS = 30.0
STOP_GRACE_SECONDS = 30.0  # the daemon removes its hosts before it exits


@dataclass(frozen=True)
class LocalCloudStatus(Jsonable):
    """What `provision local status` reports."""

    running: bool
    endpoint: str | None
    pid: int | None
    started_at: str | None
    stale_record_removed: bool
    state_dir: Path
    log: Path
    # How hosts are held to their instance types: "v1" or "v2" cgroups, or "none" (unlimited).
    cgroups: CgroupVersion


class LocalCloud:
    """The local cloud's daemon, as recorded under `state_dir`."""

    def __init__(self, state_dir: Path) -> None:
        # The daemon is known by the absolute folder it was started with: a relative one
        # would take a running daemon for a stale record (and forget it, still running).
        self.paths = LocalPaths(state_dir.resolve())

    def status(self) -> LocalCloudStatus:
        """Report whether our daemon runs; a record left by a dead daemon is removed."""
        with self._locked():
            record, stale = self._live_record()
            return self._status(record, stale_removed=stale)

    def start(self, *, timeout: float = START_TIMEOUT_SECONDS) -> LocalCloudStatus:
        """Start the daemon unless it already runs, and wait until the API answers."""
        with self._locked():
            record, stale = self._live_record()
            if record is None:
                record = self._spawn(timeout)
            return self._status(record, stale_removed=stale)

    def stop(self) -> LocalCloudStatus:
        """Stop our daemon if it runs. Never signals any other process."""
        with self._locked():
            record, stale = self._live_record()
            if record is not None:
                record.identity.terminate(grace_seconds=STOP_GRACE_SECONDS)
                with contextlib.suppress(FileNotFoundError):
                    self.paths.record.unlink()
            return self._status(None, stale_removed=stale)

    def endpoint(self) -> str:
        """The running daemon's endpoint; raises LocalCloudError if it is not running."""
        current = self.status()
        if not current.running or current.endpoint is None:
            raise LocalCloudError(
                "the local cloud is not running", hint="start it with `provision local start`"
            )
        return current.endpoint

    def _live_record(self) -> tuple[DaemonRecord | None, bool]:
        """The record of a running daemon of ours, and whether a stale record was removed."""
        record = DaemonRecord.load(self.paths.record)
        if record is None:
            stale = self.paths.record.exists()
        elif record.identity.is_alive() and _is_our_daemon(record.pid, self.paths.root):
            return record, False
        else:
            stale = True
        if stale:
            self.paths.record.unlink(missing_ok=True)
        return None, stale

    def _spawn(self, timeout: float) -> DaemonRecord:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        with self.paths.log.open("ab") as log:
            child = subprocess.Popen(
                [sys.executable, "-m", DAEMON_MODULE, "--state-dir", str(self.paths.root)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            record = DaemonRecord.load(self.paths.record)
            if record is not None and record.pid == child.pid and _answers(record.endpoint):
                return record
            if child.poll() is not None:
                raise LocalCloudError(
                    f"the local cloud daemon exited with code {child.returncode}",
                    hint=f"see {self.paths.log}",
                )
            time.sleep(0.1)
        child.terminate()
        raise LocalCloudError(
            f"the local cloud did not answer within {timeout:.0f}s", hint=f"see {self.paths.log}"
        )

    def _status(self, record: DaemonRecord | None, *, stale_removed: bool) -> LocalCloudStatus:
        return LocalCloudStatus(
            running=record is not None,
            endpoint=record.endpoint if record else None,
            pid=record.pid if record else None,
            started_at=record.started_at if record else None,
            stale_record_removed=stale_removed,
            state_dir=self.paths.root,
            log=self.paths.log,
            cgroups=detect(),
        )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialize control operations of concurrent `provision` processes."""
        self.paths.root.mkdir(parents=True, exist_ok=True)
        with self.paths.lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _is_our_daemon(pid: int, state_dir: Path) -> bool:
    argv = command_line(pid)
    return DAEMON_MODULE in argv and str(state_dir) in argv


def _answers(endpoint: str) -> bool:
    url = require_loopback_url(f"{endpoint}/moto-api/")
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
