"""The orchestrator: one environment's plan, apply and destroy, phase by phase."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from provisioner.engine.events import EventSink, PhaseFinished, PhaseStarted
from provisioner.engine.ports import CloudBackend, EnvironmentOutputs
from provisioner.plan import Plan

T = TypeVar("T")


class Orchestrator:
    """Runs an environment's lifecycle against its backends, reporting to `sink`."""

    def __init__(self, environment: str, cloud: CloudBackend, sink: EventSink) -> None:
        self.environment = environment
        self.cloud = cloud
        self.sink = sink

    def plan(self) -> Plan:
        """What `up` would change."""
        return self._phase("plan", lambda: self.cloud.preview(self.sink))

    def plan_destroy(self) -> Plan:
        """What `down` would delete."""
        return self._phase("plan", lambda: self.cloud.preview_destroy(self.sink))

    def up(self) -> EnvironmentOutputs:
        """Create or change the cloud resources."""
        return self._phase("cloud", lambda: self.cloud.apply(self.sink))

    def down(self) -> None:
        """Delete everything, dependents before what they depend on."""
        self._phase("destroy", lambda: self.cloud.destroy(self.sink))

    def outputs(self) -> EnvironmentOutputs:
        return self.cloud.outputs()

    def _phase(self, name: str, work: Callable[[], T]) -> T:
        with self._reported(name):
            return work()

    @contextmanager
    def _reported(self, phase: str) -> Iterator[None]:
        started = time.monotonic()
        self.sink.emit(PhaseStarted(phase=phase, environment=self.environment))
        ok = False
        try:
            yield
            ok = True
        finally:
            elapsed = time.monotonic() - started
            self.sink.emit(
                PhaseFinished(phase=phase, environment=self.environment, ok=ok, elapsed=elapsed)
            )
