"""Typed events the engine emits while it works; the CLI renders them, run history stores them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from provisioner.jsonable import dump
from provisioner.plan import Action
from provisioner.spec.addresses import ResourceAddressText


class Phase(StrEnum):
    """A stage of a run, announced by PhaseStarted and PhaseFinished."""

    PLAN = "plan"
    CLOUD = "cloud"
    HOSTS = "hosts"
    ROLLBACK = "rollback"
    DESTROY = "destroy"
    DRIFT = "drift"


class LogLevel(StrEnum):
    """How much a LogMessage matters."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Status(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Event:
    """Base of every event; `at` is the wall-clock time it happened."""

    at: float = field(default_factory=time.time, kw_only=True)

    @property
    def type(self) -> str:
        return type(self).__name__

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **dump(self)}


@dataclass(frozen=True)
class PhaseStarted(Event):
    """A phase of a run began."""

    phase: Phase
    environment: str


@dataclass(frozen=True)
class PhaseFinished(Event):
    phase: Phase
    environment: str
    ok: bool
    elapsed: float


@dataclass(frozen=True)
class ResourceStarted(Event):
    """Work on one resource began."""

    address: ResourceAddressText
    action: Action

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "kind": self.address.kind.value}


@dataclass(frozen=True)
class ResourceFinished(Event):
    """Work on one resource ended, well or not."""

    address: ResourceAddressText
    action: Action
    status: Status
    elapsed: float
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "kind": self.address.kind.value}


class TaskStatus(StrEnum):
    """How one Ansible task ended on one host."""

    OK = "ok"
    CHANGED = "changed"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class ConfigureStarted(Event):
    """A software node (a role on one VM) began configuring."""

    address: str
    host: str


@dataclass(frozen=True)
class HostTaskFinished(Event):
    """One task of a software node ended on its host."""

    address: str
    host: str
    task: str
    status: TaskStatus
    message: str | None = None


@dataclass(frozen=True)
class ConfigureFinished(Event):
    """A software node ended: its outcome, how many tasks changed something, and why it failed."""

    address: str
    host: str
    status: Status
    elapsed: float
    changed: int = 0
    error: str | None = None


@dataclass(frozen=True)
class NodeReady(Event):
    """Every node a node of this run depends on is done: from now on it only waits for a
    free worker (a parallelism limit, a batch window) until it starts."""

    address: str


@dataclass(frozen=True)
class LogMessage(Event):
    """A message from a backend worth showing (warnings, errors)."""

    level: LogLevel
    text: str
    address: str | None = None


class EventSink(Protocol):
    """Where the engine sends events. It must not raise."""

    def emit(self, event: Event) -> None: ...


class NullSink:
    """A sink that drops every event."""

    def emit(self, event: Event) -> None:
        return None


class ListSink:
    """A sink that keeps every event, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)
