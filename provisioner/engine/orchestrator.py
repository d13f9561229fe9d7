"""The orchestrator: one environment's plan, apply and destroy, phase by phase."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TypeVar

from provisioner.engine.configure import Configurator, plan_software
from provisioner.engine.events import EventSink, PhaseFinished, PhaseStarted
from provisioner.engine.ports import ApplyResult, CloudBackend, EnvironmentOutputs, HostBackend
from provisioner.errors import HostError
from provisioner.graph import ResourceGraph
from provisioner.plan import Plan
from provisioner.spec.addresses import ResourceKind

T = TypeVar("T")


class Orchestrator:
    """Runs an environment's lifecycle against its backends, reporting to `sink`."""

    def __init__(
        self,
        environment: str,
        graph: ResourceGraph,
        cloud: CloudBackend,
        sink: EventSink,
        hosts: HostBackend | None = None,
    ) -> None:
        self.environment = environment
        self.graph = graph
        self.cloud = cloud
        self.hosts = hosts
        self.sink = sink

    def plan(self, *, hosts: bool = True) -> Plan:
        """What `up` would change: the cloud's resources, then (if `hosts`) each VM's software."""
        return self._phase("plan", lambda: self._plan(hosts))

    def _plan(self, hosts: bool) -> Plan:
        cloud_plan = self.cloud.preview(self.sink)
        if not hosts or self.hosts is None or not any(True for _ in self._software()):
            return cloud_plan
        software = plan_software(
            self.graph, cloud_plan, self.cloud.ready_resources(), self.hosts, self.sink
        )
        return replace(cloud_plan, software=software)

    def plan_destroy(self) -> Plan:
        """What `down` would delete."""
        return self._phase("plan", lambda: self.cloud.preview_destroy(self.sink))

    def up(self, planned: Plan) -> ApplyResult:
        """Apply the cloud changes and configure the hosts.

        Each VM's software starts as soon as that VM (and whatever else its roles
        depend on) is ready, while the rest of the cloud is still being applied.
        With no cloud changes, the hosts are configured from the recorded outputs.
        """
        if self.hosts is None or not any(True for _ in self._software()):
            return ApplyResult(self._phase("cloud", lambda: self._apply_cloud(planned, None)))
        configurator = Configurator(self.environment, self.graph, self.hosts, self.sink)
        with self._reported("hosts"):
            configurator.start()
            try:
                outputs = self._phase("cloud", lambda: self._apply_cloud(planned, configurator))
            except BaseException:
                configurator.cloud_failed()
                # The cloud's error is the one to report; hosts it stranded are skipped.
                with contextlib.suppress(HostError):
                    configurator.finish()
                raise
            configured = configurator.finish()
        return ApplyResult(outputs, configured)

    def down(self) -> None:
        """Delete everything, dependents before what they depend on; then forget the hosts."""
        instance_ids = [vm.id for vm in self.cloud.outputs().vms.values() if vm.id]
        self._phase("destroy", lambda: self.cloud.destroy(self.sink))
        if self.hosts is not None and instance_ids:
            self.hosts.release(instance_ids)

    def outputs(self) -> EnvironmentOutputs:
        return self.cloud.outputs()

    def _apply_cloud(self, planned: Plan, configurator: Configurator | None) -> EnvironmentOutputs:
        if configurator is None:
            return (
                self.cloud.apply(self.sink) if planned.has_cloud_changes else self.cloud.outputs()
            )
        recorded = [] if planned.has_cloud_changes else self.cloud.ready_resources()
        if planned.has_cloud_changes or not recorded:
            # An apply reports each node as it becomes ready (and records them all).
            outputs = self.cloud.apply(self.sink, configurator.resource_ready)
            recorded = self.cloud.ready_resources()
        else:
            outputs = self.cloud.outputs()
        for resource in recorded:
            configurator.resource_ready(resource)
        return outputs

    def _software(self) -> Iterator[object]:
        return self.graph.of_kind(ResourceKind.SOFTWARE)

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
