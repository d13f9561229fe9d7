"""Run history: every plan, up, down and drift run leaves a record under the state folder.

A run's folder (`runs/ENV/RUN_ID/`) holds `run.json` (who, where, what, the
plan, per-node timings, the outcome), `events.jsonl` (every engine event, as
it happened) and the Ansible artifacts of the run. `run.json` is rewritten
atomically at the start and at the end, so a killed run still leaves a record
that says it never finished.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from provisioner.engine.events import (
    ConfigureFinished,
    ConfigureStarted,
    Event,
    EventSink,
    NodeReady,
    ResourceFinished,
    ResourceStarted,
)
from provisioner.engine.run_record import (
    EVENTS_FILE,
    LOG_FILE,
    RUN_FILE,
    EnvironmentRunRecord,
    NodeRecord,
    RunInfo,
    RunOutcome,
    RunRecord,
    iso,
    now,
)
from provisioner.errors import ProvisionError
from provisioner.fsutil import atomic_write_json
from provisioner.plan import Plan

_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S
)


@dataclass
class RunRecorder:
    """An event sink that appends every event to `events.jsonl` and times each node."""

    folder: Path
    info: RunInfo
    plan: Plan | None = None
    # A run over several environments: each one's part, and why the run failed (if it did
    # without an exception: some environment did not finish).
    environments: tuple[EnvironmentRunRecord, ...] = ()
    failure: str | None = None
    spec_digest: str | None = None  # an up's: what it applied
    _nodes: dict[str, NodeRecord] = field(default_factory=dict)
    _ready: dict[str, str] = field(default_factory=dict)  # node address -> when it was ready
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
        self._write(RunOutcome.RUNNING, None)
        try:
            yield self
        except KeyboardInterrupt:
            self._write(RunOutcome.INTERRUPTED, "interrupted")
            raise
        except ProvisionError as error:
            self._write(RunOutcome.FAILED, str(error))
            raise
        except BaseException as error:
            self._write(RunOutcome.FAILED, f"{type(error).__name__}: {error}")
            raise
        if self.failure is not None:
            self._write(RunOutcome.FAILED, self.failure)
        else:
            self._write(RunOutcome.SUCCEEDED, None)

    def _time(self, event: Event) -> None:
        if isinstance(event, NodeReady):
            self._ready[event.address] = iso(event.at)
        elif isinstance(event, ResourceStarted | ConfigureStarted):
            action = event.action.value if isinstance(event, ResourceStarted) else "configure"
            # Pulumi may start a resource before its node is ready by our count (it waits
            # only on the resources it reads): then it was ready when it started.
            began = iso(event.at)
            ready = self._ready.get(_node_of(event), began)
            self._nodes[str(event.address)] = NodeRecord(began, action, ready_at=ready)
        elif isinstance(event, ResourceFinished | ConfigureFinished):
            action = event.action.value if isinstance(event, ResourceFinished) else "configure"
            started = self._nodes.get(str(event.address)) or NodeRecord(iso(event.at), action)
            self._nodes[str(event.address)] = replace(
                started,
                ended_at=iso(event.at),
                elapsed=round(event.elapsed, 3),
                result=event.status,
                error=redact(event.error) if event.error else None,
            )

    def _write(self, outcome: RunOutcome, error: str | None) -> None:
        with self._lock:
            nodes = dict(self._nodes)
        record = RunRecord(
            info=self.info,
            folder=self.folder,
            outcome=outcome,
            ended_at=None if outcome is RunOutcome.RUNNING else now(),
            error=redact(error) if error else None,
            plan=self.plan,
            nodes=nodes,
            environments=self.environments,
            spec_digest=self.spec_digest,
        )
        atomic_write_json(self.folder / RUN_FILE, record.to_json())


def _node_of(event: ResourceStarted | ConfigureStarted) -> str:
    """The node a started event is of (`lb.web` for `lb.web/listener-80`)."""
    if isinstance(event, ResourceStarted):
        return str(event.address.node)
    return event.address


class TeeSink:
    """Sends each event to several sinks (the progress display and the run record)."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)


def _log_line(event: Event) -> str:
    """One readable line: time, event type, then its fields."""
    fields = {k: v for k, v in event.to_json().items() if k not in ("type", "at") and v is not None}
    detail = " ".join(f"{key}={value}" for key, value in fields.items())
    return f"{iso(event.at)} {event.type} {detail}"


def redact(text: str) -> str:
    """Replace any private key block in `text` (a last line of defence for logs)."""
    return _PRIVATE_KEY.sub("(private key redacted)", text)
