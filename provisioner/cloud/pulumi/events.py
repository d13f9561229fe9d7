"""Pulumi's engine events turned into our plans (when previewing) and resource events (applying).

Dynamic providers report only whether a resource changes, not which properties,
so a plan's property diff is worked out here from old outputs and new inputs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from provisioner.cloud.pulumi.state import (
    PULUMI_TYPES,
    STACK_TYPE,
    address_of,
    managed_keys,
    masked,
    resource_address_of,
)
from provisioner.engine.events import (
    EventSink,
    LogLevel,
    LogMessage,
    ResourceFinished,
    ResourceStarted,
    Status,
)
from provisioner.plan import Action, PropertyChange, ResourceChange
from provisioner.spec.addresses import ResourceAddress

if TYPE_CHECKING:  # the stack module alone imports the Automation API when it runs
    from pulumi.automation import DiagnosticEvent, EngineEvent, StepEventMetadata

_ACTIONS: dict[str, Action] = {
    "same": Action.NO_OP,
    "create": Action.CREATE,
    "update": Action.UPDATE,
    "replace": Action.REPLACE,
    "create-replacement": Action.REPLACE,
    "delete": Action.DELETE,
}


class EventTranslator:
    """Turns engine events into plan changes (when planning) or resource events (when applying)."""

    def __init__(self, sink: EventSink, *, planning: bool) -> None:
        self.sink = sink
        self.planning = planning
        self._changes: dict[ResourceAddress, ResourceChange] = {}
        self._gone: set[ResourceAddress] = set()
        # The stack's recorded outputs, and those the previewed program would export.
        self.stack_outputs: tuple[Mapping[str, Any], Mapping[str, Any] | None] = ({}, None)
        self._started: dict[ResourceAddress, tuple[float, Action]] = {}
        self._errors: dict[str, str] = {}
        self.last_error: str | None = None
        # Pulumi's own counts by operation, from the engine's summary event at the end.
        self.resource_changes: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, event: EngineEvent) -> None:
        with self._lock:
            if event.diagnostic_event is not None:
                self._diagnostic(event.diagnostic_event)
            elif event.resource_pre_event is not None:
                self._pre(event.resource_pre_event.metadata)
            elif event.res_outputs_event is not None:
                if self.planning:
                    self._planned_outputs(event.res_outputs_event.metadata)
                self._finished(event.res_outputs_event.metadata, Status.DONE)
            elif event.res_op_failed_event is not None:
                self._finished(event.res_op_failed_event.metadata, Status.FAILED)
            elif event.summary_event is not None:
                changes = event.summary_event.resource_changes or {}
                self.resource_changes = {
                    str(getattr(op, "value", op)): count for op, count in changes.items()
                }

    def changes(self) -> list[ResourceChange]:
        return sorted(self._changes.values(), key=lambda c: c.address)

    def gone(self) -> tuple[ResourceAddress, ...]:
        """Recorded resources that the preview's refresh found missing from the cloud."""
        return tuple(sorted(self._gone))

    def _planned_outputs(self, meta: StepEventMetadata) -> None:
        op = str(meta.op.value)
        address = _address(meta)
        if op == "refresh" and meta.new is None and address is not None:
            self._gone.add(address)
        elif meta.type == STACK_TYPE and op in ("same", "update") and meta.new is not None:
            recorded = (meta.old.outputs if meta.old else None) or {}
            self.stack_outputs = (recorded, meta.new.outputs or {})

    def _diagnostic(self, diagnostic: DiagnosticEvent) -> None:
        if diagnostic.severity not in ("warning", "error"):
            return
        text = one_line(diagnostic.message)
        address = address_of(diagnostic.urn) if diagnostic.urn else None
        if diagnostic.severity == "error":
            # A resource's own error explains a failure better than the engine's summary.
            if address or self.last_error is None:
                self.last_error = f"{address}: {text}" if address else text
            if address:
                self._errors[address] = text
        self.sink.emit(LogMessage(level=LogLevel(diagnostic.severity), text=text, address=address))

    def _pre(self, meta: StepEventMetadata) -> None:
        action = _ACTIONS.get(str(meta.op.value))
        address = _address(meta)
        if action is None or address is None:
            return
        if self.planning:
            self._changes[address] = ResourceChange(address, action, _diff(meta))
            return
        if action is Action.NO_OP:
            return
        self._started[address] = (time.monotonic(), action)
        self.sink.emit(ResourceStarted(address=address, action=action))

    def _finished(self, meta: StepEventMetadata, status: Status) -> None:
        address = _address(meta)
        if self.planning or address is None or address not in self._started:
            return
        started, action = self._started.pop(address)
        if meta.op.value == "delete-replaced" and status is Status.DONE:
            return  # the old copy of a replaced resource is gone; the replace already reported
        self.sink.emit(
            ResourceFinished(
                address=address,
                action=action,
                status=status,
                elapsed=time.monotonic() - started,
                error=self._errors.get(str(address)) if status is Status.FAILED else None,
            )
        )


def _address(meta: StepEventMetadata) -> ResourceAddress | None:
    """The address of the resource a step is about; None for Pulumi's own resources
    (the stack, providers) and for names that are not addresses."""
    if meta.type.startswith(PULUMI_TYPES):
        return None
    try:
        return resource_address_of(meta.urn)
    except ValueError:
        return None


def one_line(message: str) -> str:
    """An engine message on one line, at most 500 characters."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return " ".join(lines)[:500]


def _diff(meta: StepEventMetadata) -> tuple[PropertyChange, ...]:
    """Property changes, computed from old outputs and new inputs, for every declared input.

    Output-only placeholders (None in the inputs) are left out.
    """
    old = (meta.old.outputs if meta.old else None) or {}
    new = (meta.new.inputs if meta.new else None) or {}
    op = str(meta.op.value)
    if op not in ("create", "update", "replace", "create-replacement"):
        return ()
    replacing = set(meta.keys or [])
    keys = [key for key in managed_keys(new) if op == "create" or old.get(key) != new[key]]
    changes: list[PropertyChange] = []
    for key in keys:
        before = None if op == "create" else masked(key, old.get(key))
        after = masked(key, new.get(key))
        if isinstance(before, dict) and isinstance(after, dict):
            # Maps (tags) show only the entries that change.
            changes += [
                PropertyChange(f"{key}.{sub}", before.get(sub), after.get(sub), key in replacing)
                for sub in sorted(before.keys() | after.keys())
                if before.get(sub) != after.get(sub)
            ]
        else:
            changes.append(PropertyChange(key, before, after, key in replacing))
    return tuple(changes)
