"""Long-running processes the local cloud starts, found again by pid, start time and command.

A process is recorded in a JSON file (its pid and the kernel's start time), so a
later daemon finds the one a killed daemon left, and only that process is ever
signalled: a later process with the same pid, or one whose command line lacks the
marker (a path only this process is given), is not it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from provisioner.fsutil import atomic_write_json, read_json
from provisioner.jsonable import load
from provisioner.procs import ProcessIdentity, command_line

STOP_GRACE_SECONDS = 5.0


class SupervisedProcess:
    """One recorded process: started in its own session, found again, stopped."""

    def __init__(self, record: Path, marker: str) -> None:
        self.record = record
        self.marker = marker
        self._child: subprocess.Popen[bytes] | None = None  # reaped when it exits

    def process(self) -> ProcessIdentity | None:
        """The recorded process, if it still runs."""
        if self._child is not None and self._child.poll() is not None:
            self._child = None
        try:
            identity = load(ProcessIdentity, read_json(self.record))
        except ValueError:
            return None
        if not identity.is_alive() or not any(
            self.marker in part for part in command_line(identity.pid)
        ):
            return None
        return identity

    def start(self, argv: Sequence[str], log: Path) -> ProcessIdentity | None:
        """Start `argv` (output to `log`) and record it; None if it exited at once."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as output:
            self._child = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        identity = ProcessIdentity.of(self._child.pid)
        if identity is not None:
            atomic_write_json(self.record, asdict(identity))
        return identity

    def stop(self) -> None:
        """Stop the recorded process (only that one), if it runs; forget it."""
        process = self.process()
        if process is not None:
            process.terminate(grace_seconds=STOP_GRACE_SECONDS)
        if self._child is not None:
            self._child.poll()
            self._child = None
        self.record.unlink(missing_ok=True)
