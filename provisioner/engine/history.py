"""Run history: every plan, up, down and drift run leaves a record under the state folder.

A run's folder (`runs/ENV/RUN_ID/`) holds `run.json` (who, where, what, the
plan, per-node timings, the outcome), `events.jsonl` (every engine event, as
it happened) and the Ansible artifacts of the run. `run.json` is rewritten
atomically at the start and at the end, so a killed run still leaves a record
that says it never finished.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import re
import socket
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.engine.events import (
    ConfigureFinished,
    ConfigureStarted,
    Event,
    EventSink,
    ResourceFinished,
    ResourceStarted,
)
from provisioner.errors import ProvisionError
from provisioner.fsutil import atomic_write_json, read_json
from provisioner.plan import Plan
from provisioner.procs import is_running, start_ticks

RUN_FILE = "run.json"
EVENTS_FILE = "events.jsonl"
LOG_FILE = "run.log"
_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S
)


class Outcome:
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    KILLED = "killed"  # recorded as running, and its process is gone


@dataclass(frozen=True)
class RunInfo:
    """Who started a run, where, and with what command."""

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

    @classmethod
    def current(cls, run_id: str, environment: str, command: Sequence[str], cwd: Path) -> RunInfo:
        return cls(
            id=run_id,
            environment=environment,
            command=tuple(command),
            user=_user(),
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=_now(),
            git_commit=_git_commit(cwd),
            pid_started=start_ticks(os.getpid()),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "environment": self.environment,
            "command": list(self.command),
            "user": self.user,
            "host": self.host,
            "pid": self.pid,
            "pid_started": self.pid_started,
            "started_at": self.started_at,
            "git_commit": self.git_commit,
        }


@dataclass
class _NodeTiming:
    started_at: str
    action: str
    ended_at: str | None = None
    elapsed: float | None = None
    result: str = Outcome.RUNNING
    error: str | None = None


@dataclass
class RunRecorder:
    """An event sink that appends every event to `events.jsonl` and times each node."""

    folder: Path
    info: RunInfo
    plan: Plan | None = None
    _nodes: dict[str, _NodeTiming] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, event: Event) -> None:
        line = redact(json.dumps(event.to_json(), default=str, sort_keys=True))
        with self._lock:
            with (self.folder / EVENTS_FILE).open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
            with (self.folder / LOG_FILE).open("a", encoding="utf-8") as handle:
                handle.write(redact(_log_line(event)) + "\n")
            self._time(event)

    @contextmanager
    def recording(self) -> Iterator[RunRecorder]:
        """Write the record now (running), and again at the end with the outcome."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write(Outcome.RUNNING, None)
        try:
            yield self
        except KeyboardInterrupt:
            self._write(Outcome.INTERRUPTED, "interrupted")
            raise
        except ProvisionError as error:
            self._write(Outcome.FAILED, str(error))
            raise
        except BaseException as error:
            self._write(Outcome.FAILED, f"{type(error).__name__}: {error}")
            raise
        self._write(Outcome.SUCCEEDED, None)

    def _time(self, event: Event) -> None:
        if isinstance(event, ResourceStarted | ConfigureStarted):
            action = event.action.value if isinstance(event, ResourceStarted) else "configure"
            self._nodes[event.address] = _NodeTiming(_iso(event.at), action)
        elif isinstance(event, ResourceFinished | ConfigureFinished):
            action = event.action.value if isinstance(event, ResourceFinished) else "configure"
            timing = self._nodes.setdefault(event.address, _NodeTiming(_iso(event.at), action))
            timing.ended_at = _iso(event.at)
            timing.elapsed = round(event.elapsed, 3)
            timing.result = event.status.value
            timing.error = redact(event.error) if event.error else None

    def _write(self, outcome: str, error: str | None) -> None:
        with self._lock:
            nodes = {address: vars(timing) for address, timing in self._nodes.items()}
        atomic_write_json(
            self.folder / RUN_FILE,
            {
                **self.info.to_json(),
                "ended_at": None if outcome == Outcome.RUNNING else _now(),
                "outcome": outcome,
                "error": redact(error) if error else None,
                "plan": self.plan.to_json() if self.plan is not None else None,
                "nodes": nodes,
                "events": EVENTS_FILE,
                "log": str(self.folder / LOG_FILE),
            },
        )


class TeeSink:
    """Sends each event to several sinks (the progress display and the run record)."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)


def list_runs(runs_root: Path, environment: str) -> list[dict[str, Any]]:
    """The recorded runs of an environment, newest first."""
    folder = runs_root / environment
    if not folder.is_dir():
        return []
    found = [read_json(run / RUN_FILE) for run in folder.iterdir()]
    runs = [run for run in found if isinstance(run, dict)]
    return sorted(runs, key=lambda run: str(run.get("id")), reverse=True)


def find_run(runs_root: Path, run_id: str) -> tuple[dict[str, Any], Path]:
    """A run's record and folder, by id (or a unique prefix of it), across environments."""
    matches = sorted(runs_root.glob(f"*/{run_id}*/{RUN_FILE}")) if runs_root.is_dir() else []
    if not matches:
        raise ProvisionError(f"no run '{run_id}'", hint="`provision history ENV` lists them")
    if len(matches) > 1:
        ids = ", ".join(p.parent.name for p in matches[:5])
        raise ProvisionError(f"'{run_id}' matches several runs: {ids}")
    record = read_json(matches[0])
    if not isinstance(record, dict):
        raise ProvisionError(f"the record of run '{run_id}' is unreadable: {matches[0]}")
    return record, matches[0].parent


def _log_line(event: Event) -> str:
    """One readable line: time, event type, then its fields."""
    fields = {k: v for k, v in event.to_json().items() if k not in ("type", "at") and v is not None}
    detail = " ".join(f"{key}={value}" for key, value in fields.items())
    return f"{_iso(event.at)} {event.type} {detail}"


def redact(text: str) -> str:
    """Replace any private key block in `text` (a last line of defence for logs)."""
    return _PRIVATE_KEY.sub("(private key redacted)", text)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def _iso(timestamp: float) -> str:
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


def summarize(record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields `history` lists for one run."""
    started, ended = record.get("started_at"), record.get("ended_at")
    outcome = record.get("outcome")
    if outcome == Outcome.RUNNING and _died(record):
        outcome = Outcome.KILLED
    return {
        "id": record.get("id"),
        "command": " ".join(record.get("command") or []),
        "outcome": outcome,
        "started_at": started,
        "ended_at": ended,
        "seconds": _seconds(started, ended),
        "user": record.get("user"),
        "host": record.get("host"),
        "error": record.get("error"),
    }


def _died(record: Mapping[str, Any]) -> bool:
    """True if the run's process ran on this host and no longer exists."""
    return record.get("host") == socket.gethostname() and not is_running(
        record.get("pid"), record.get("pid_started")
    )


def _seconds(started: Any, ended: Any) -> float | None:
    try:
        return round(
            (dt.datetime.fromisoformat(ended) - dt.datetime.fromisoformat(started)).total_seconds(),
            1,
        )
    except (TypeError, ValueError):
        return None
