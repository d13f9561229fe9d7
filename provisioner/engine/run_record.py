"""A run's record, `runs/ENV/RUN_ID/run.json`: who ran what, where, the plan and how it ended.

`RunRecorder` (provisioner.engine.history) writes records; `history` and `show`
read them back with `list_runs` and `find_run`.
"""

from __future__ import annotations

import datetime as dt
import getpass
import glob
import os
import secrets
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from provisioner.engine.events import Status
from provisioner.errors import ProvisionError
from provisioner.fsutil import read_json
from provisioner.jsonable import Jsonable
from provisioner.plan import Plan
from provisioner.procs import is_running, start_ticks

RUN_FILE = "run.json"
# The records of runs over several environments (`up --all`, ...): `runs/_several/RUN_ID/`.
# No environment is named so (names start with a letter or digit).
SEVERAL = "_several"
EVENTS_FILE = "events.jsonl"
LOG_FILE = "run.log"


class RunOutcome(StrEnum):
    """How a run ended, as its record says."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    KILLED = "killed"  # recorded as running, and its process is gone


def new_run_id() -> str:
    """Sortable and unique: UTC time, then a random suffix."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


class Operation(StrEnum):
    """What a run did to its environment (`provision watch` runs drift and up too)."""

    PLAN = "plan"
    UP = "up"
    DOWN = "down"
    DRIFT = "drift"


@dataclass(frozen=True)
class RunInfo(Jsonable):
    """Who started a run, where, with what command, and which operation it ran."""

    id: str
    environment: str
    command: tuple[str, ...]
    user: str
    host: str
    pid: int
    started_at: str
    git_commit: str | None
    # The process's start time (clock ticks since boot): with the pid, it names the process.
    pid_started: int | None = None
    operation: Operation | None = None  # None in older records, and for several environments

    @property
    def operation_name(self) -> str:
        """`up` for an up, even one `provision watch` ran; else the command's word."""
        if self.operation is not None:
            return self.operation.value
        return self.command[1] if len(self.command) > 1 else ""

    @classmethod
    def current(
        cls,
        run_id: str,
        environment: str,
        command: Sequence[str],
        cwd: Path,
        operation: Operation | None = None,
    ) -> RunInfo:
        return cls(
            id=run_id,
            environment=environment,
            command=tuple(command),
            user=_user(),
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=now(),
            git_commit=_git_commit(cwd),
            pid_started=start_ticks(os.getpid()),
            operation=operation,
        )


@dataclass(frozen=True)
class NodeRecord(Jsonable):
    """One node's work in a run: its action, when it could start (its dependencies done),
    when it started and ended, and how."""

    started_at: str
    action: str  # the resource's action, or "configure" for a software node
    ended_at: str | None = None
    elapsed: float | None = None
    result: Status = Status.RUNNING
    error: str | None = None
    ready_at: str | None = None


@dataclass(frozen=True)
class EnvironmentRunRecord(Jsonable):
    """One environment's part of a run over several: how it ended, and its own run's id."""

    environment: str
    outcome: str  # done, failed or skipped
    run: str | None = None
    seconds: float = 0.0
    detail: str = ""


@dataclass(frozen=True)
class RunRecord:
    """A run as `run.json` records it; `folder` holds it, its events and its log."""

    info: RunInfo
    folder: Path
    outcome: RunOutcome
    ended_at: str | None = None
    error: str | None = None
    plan: Plan | None = None
    nodes: Mapping[str, NodeRecord] = field(default_factory=dict)
    # For a run over several environments: each one's part, in the order they started.
    environments: tuple[EnvironmentRunRecord, ...] = ()
    # For an `up`: the digest of the spec and playbooks it applied (see saved_plan).
    spec_digest: str | None = None

    def to_json(self) -> dict[str, Any]:
        several = {"environments": [e.to_json() for e in self.environments]}
        return {
            **(several if self.environments else {}),
            **({"spec_digest": self.spec_digest} if self.spec_digest else {}),
            **self.info.to_json(),
            "ended_at": self.ended_at,
            "outcome": self.outcome.value,
            "error": self.error,
            "plan": self.plan.to_json() if self.plan is not None else None,
            "nodes": {address: node.to_json() for address, node in self.nodes.items()},
            "events": EVENTS_FILE,
            "log": str(self.folder / LOG_FILE),
        }

    @classmethod
    def from_json(cls, data: Any, folder: Path) -> RunRecord | None:
        """The record in `data` (read from `folder`), or None if it is not one."""
        try:
            plan = data.get("plan")
            nodes = data.get("nodes") or {}
            parts = data.get("environments") or []
            return cls(
                info=RunInfo.from_json(data),
                folder=folder,
                outcome=RunOutcome(data["outcome"]),
                ended_at=data.get("ended_at"),
                error=data.get("error"),
                plan=Plan.from_json(plan) if plan is not None else None,
                nodes={str(a): NodeRecord.from_json(node) for a, node in nodes.items()},
                environments=tuple(EnvironmentRunRecord.from_json(part) for part in parts),
                spec_digest=data.get("spec_digest"),
            )
        except (KeyError, TypeError, ValueError, AttributeError, ProvisionError):
            return None

    @property
    def id(self) -> str:
        return self.info.id

    def observed_outcome(self) -> RunOutcome:
        """The recorded outcome, or KILLED for a run still recorded as running whose
        process (on this host) is gone."""
        if self.outcome is RunOutcome.RUNNING and self._died():
            return RunOutcome.KILLED
        return self.outcome

    @property
    def seconds(self) -> float | None:
        """How long the run took, once it ended."""
        if self.ended_at is None:
            return None
        try:
            ended = dt.datetime.fromisoformat(self.ended_at)
            return round(
                (ended - dt.datetime.fromisoformat(self.info.started_at)).total_seconds(), 1
            )
        except ValueError:
            return None

    def summary_json(self) -> dict[str, Any]:
        """The fields `history` lists for one run."""
        return {
            "id": self.info.id,
            "command": " ".join(self.info.command),
            "outcome": self.observed_outcome().value,
            "started_at": self.info.started_at,
            "ended_at": self.ended_at,
            "seconds": self.seconds,
            "user": self.info.user,
            "host": self.info.host,
            "error": self.error,
        }

    def _died(self) -> bool:
        """True if the run's process ran on this host and no longer exists."""
        info = self.info
        return info.host == socket.gethostname() and not is_running(info.pid, info.pid_started)


def read_run(folder: Path) -> RunRecord | None:
    """The record of the run in `folder`, or None if it has none that can be read."""
    return RunRecord.from_json(read_json(folder / RUN_FILE), folder)


def list_runs(runs_root: Path, environment: str) -> list[RunRecord]:
    """The recorded runs of an environment, newest first."""
    folder = runs_root / environment
    if not folder.is_dir():
        return []
    found = [read_run(run) for run in folder.iterdir() if run.is_dir()]
    return sorted((run for run in found if run is not None), key=lambda r: r.id, reverse=True)


def find_run(runs_root: Path, run_id: str) -> RunRecord:
    """A run's record, by id (or a unique prefix of it), across environments."""
    pattern = f"*/{glob.escape(run_id)}*/{RUN_FILE}"  # an id, or its start: never a pattern
    matches = sorted(runs_root.glob(pattern)) if runs_root.is_dir() and "/" not in run_id else []
    if not matches:
        raise ProvisionError(f"no run '{run_id}'", hint="`provision history ENV` lists them")
    if len(matches) > 1:
        ids = ", ".join(p.parent.name for p in matches[:5])
        raise ProvisionError(f"'{run_id}' matches several runs: {ids}")
    record = read_run(matches[0].parent)
    if record is None:
        raise ProvisionError(f"the record of run '{run_id}' is unreadable: {matches[0]}")
    return record


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="milliseconds")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _git_commit(cwd: Path) -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None
