"""The orchestrator: one environment's plan, apply and destroy, phase by phase."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TypeVar

from provisioner.engine.configure import Configurator, plan_software
from provisioner.engine.events import (
    Event,
    EventSink,
    Phase,
    PhaseFinished,
    PhaseStarted,
    ResourceFinished,
    Status,
)
from provisioner.engine.ports import (
    ApplyResult,
    CloudBackend,
    EnvironmentOutputs,
    HostBackend,
    UpstreamPlans,
    UpstreamValues,
)
from provisioner.engine.readiness import ReadinessSink
from provisioner.engine.variables import environments_read
from provisioner.errors import HostError, ProvisionError, RunFailedError
from provisioner.graph import ResourceGraph
from provisioner.plan import Action, Plan, SoftwareChange
from provisioner.spec.addresses import Address, ResourceAddress
from provisioner.spec.kinds.software import SOFTWARE
from provisioner.spec.kinds.vm import VM

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
        *,
        parallelism: int | None = None,
    ) -> None:
        self.environment = environment
        self.parallelism = parallelism
        self.graph = graph
        self.cloud = cloud
        self.hosts = hosts
        self.sink = sink

    def plan(self, *, hosts: bool = True, upstreams: UpstreamPlans | None = None) -> Plan:
        """What `up` would change: the cloud's resources, then (if `hosts`) each VM's software.

        What the environment reads of others that `upstreams` has not applied yet is
        shown as known after their apply.
        """
        return self._phase(Phase.PLAN, lambda: self._plan(hosts, upstreams))

    def _plan(self, hosts: bool, upstreams: UpstreamPlans | None) -> Plan:
        cloud_plan = self.cloud.preview(self.sink, upstreams)
        software = self._software_plan(cloud_plan) if hosts else None
        return cloud_plan if software is None else replace(cloud_plan, software=software)

    def _software_plan(self, cloud_plan: Plan) -> tuple[SoftwareChange, ...] | None:
        """Each existing VM's software as check mode sees it (None: nothing to check)."""
        backend = self._host_backend()
        if backend is None:
            return None
        return plan_software(
            self.graph,
            cloud_plan,
            self.cloud.ready_resources(),
            backend,
            self.sink,
            parallelism=self.parallelism,
            upstreams=self._upstreams(),
        )

    def _upstreams(self) -> dict[str, UpstreamValues]:
        """What the other environments the hosts' variables read export, read once a run."""
        return {name: self.cloud.upstream_values(name) for name in environments_read(self.graph)}

    def plan_destroy(self) -> Plan:
        """What `down` would delete."""
        return self._phase(Phase.PLAN, lambda: self.cloud.preview_destroy(self.sink))

    def up(self, planned: Plan, *, rollback: bool = True) -> ApplyResult:
        """Apply the cloud changes and configure the hosts; on failure, undo what this run made.

        Each VM's software starts as soon as that VM (and whatever else its roles
        depend on) is ready, while the rest of the cloud is still being applied.
        With no cloud changes, the hosts are configured from the recorded outputs.
        If anything fails (or the run is interrupted), every resource this run
        created is deleted again, dependents first, unless `rollback` is False.
        Resources that existed before are left as they are.
        """
        # Every node this run changes: its cloud resources, and each role on each VM.
        changing: list[ResourceAddress | Address] = [c.address for c in planned.pending()]
        changing += [node.address for node in self.graph.of_kind(SOFTWARE)]
        readiness = ReadinessSink(self.graph, changing, self.sink)
        tracker = _ChangeTracker(readiness)
        readiness.start()
        configurator: Configurator | None = None
        # What the state held before this run: everything the plan does not create.
        existed = (
            {c.address for c in planned.changes if c.action is not Action.CREATE}
            if _needs_apply(planned)
            else None
        )
        retired = self._retired_instances(planned)
        backend = self._host_backend()
        try:
            if backend is None:
                outputs = self._phase(
                    Phase.CLOUD, lambda: self._apply_cloud(planned, None, tracker)
                )
                self._forget_hosts(retired)
                return ApplyResult(outputs)
            configurator = Configurator(
                self.environment,
                self.graph,
                backend,
                tracker,
                parallelism=self.parallelism,
                upstreams=self._upstreams(),
            )
            with self._reported(Phase.HOSTS):
                configurator.start()
                try:
                    outputs = self._phase(
                        Phase.CLOUD, lambda: self._apply_cloud(planned, configurator, tracker)
                    )
                except BaseException:
                    configurator.cloud_failed()
                    # The cloud's error is the one to report; hosts it stranded are skipped.
                    with contextlib.suppress(HostError):
                        configurator.finish()
                    raise
                configured = configurator.finish()
            self._forget_hosts(retired)
            return ApplyResult(outputs, configured)
        except (ProvisionError, KeyboardInterrupt) as error:
            raise self._failed(error, tracker, configurator, rollback, existed) from error

    def drift(self, *, hosts: bool = True) -> Plan:
        """Out-of-band changes: managed cloud properties, and host files (check mode)."""

        def detect() -> Plan:
            cloud = self.cloud.drift(self.sink)
            software = self._software_plan(Plan(self.environment)) if hosts else None
            if software is None:
                return cloud
            return replace(cloud, software=tuple(c for c in software if c.action is Action.UPDATE))

        return self._phase(Phase.DRIFT, detect)

    def recover(self) -> list[str]:
        """Clear what a killed run left pending, so that the next operation can run."""
        return self.cloud.recover()

    def _failed(
        self,
        error: BaseException,
        tracker: _ChangeTracker,
        configurator: Configurator | None,
        rollback: bool,
        existed: set[ResourceAddress] | None,
    ) -> RunFailedError:
        cause = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error)
        rolled_back: list[ResourceAddress] = []
        rollback_error: str | None = None
        if isinstance(error, KeyboardInterrupt):
            # The engine may still be applying (only we got the signal): stop it first.
            self.cloud.cancel()
            with contextlib.suppress(ProvisionError):
                self.cloud.recover()
        created, changed = list(tracker.created), list(tracker.changed)
        if existed is not None:
            # What the state records now and did not before (events may have stopped early).
            with contextlib.suppress(ProvisionError):
                recorded = self.cloud.recorded_addresses()
                created += sorted(recorded - existed - set(created))
        if rollback and created:
            instance_ids = configurator.instance_ids(created) if configurator else []
            try:
                self._phase(Phase.ROLLBACK, lambda: self.cloud.destroy_only(created, self.sink))
                rolled_back = created
                if self.hosts is not None and instance_ids:
                    self.hosts.release(instance_ids)
            except ProvisionError as failure:
                rollback_error = str(failure)
                # A rollback that stops partway (a bucket it may not delete) deleted the rest.
                with contextlib.suppress(ProvisionError):
                    left = self.cloud.recorded_addresses()
                    rolled_back = [address for address in created if address not in left]
        return RunFailedError(
            cause,
            created=[str(address) for address in created],
            changed=[str(address) for address in changed],
            rolled_back=[str(address) for address in rolled_back],
            rollback_error=rollback_error,
            interrupted=isinstance(error, KeyboardInterrupt),
        )

    def down(self) -> None:
        """Delete everything, dependents before what they depend on; then forget the hosts."""
        instance_ids = [vm.id for vm in self.cloud.outputs().vms.values() if vm.id]
        self._phase(Phase.DESTROY, lambda: self.cloud.destroy(self.sink))
        self._forget_hosts(instance_ids)

    def _retired_instances(self, planned: Plan) -> list[str]:
        """The instance ids of the VMs the plan deletes or replaces (scaled in, new image)."""
        leaving = {
            change.address
            for change in planned.changes
            if change.kind is VM and change.action in (Action.DELETE, Action.REPLACE)
        }
        if not leaving:
            return []
        recorded = self.cloud.outputs().vms
        vms = [recorded.get(address.node) for address in sorted(leaving)]
        return [vm.id for vm in vms if vm is not None and vm.id]

    def _forget_hosts(self, instance_ids: list[str]) -> None:
        """Wait until the hosts of deleted instances are gone, and unpin their host keys."""
        if self.hosts is not None and instance_ids:
            self.hosts.release(instance_ids)

    def outputs(self) -> EnvironmentOutputs:
        return self.cloud.outputs()

    def _apply_cloud(
        self, planned: Plan, configurator: Configurator | None, sink: EventSink
    ) -> EnvironmentOutputs:
        if configurator is None:
            return self.cloud.apply(sink) if _needs_apply(planned) else self.cloud.outputs()
        recorded = [] if _needs_apply(planned) else self.cloud.ready_resources()
        if _needs_apply(planned) or not recorded:
            # An apply reports each node as it becomes ready (and records them all).
            outputs = self.cloud.apply(sink, configurator.resource_ready)
            recorded = self.cloud.ready_resources()
        else:
            outputs = self.cloud.outputs()
        for resource in recorded:
            configurator.resource_ready(resource)
        return outputs

    def _host_backend(self) -> HostBackend | None:
        """The host backend, if there is one and the graph has software to configure."""
        if any(True for _ in self.graph.of_kind(SOFTWARE)):
            return self.hosts
        return None

    def _phase(self, name: Phase, work: Callable[[], T]) -> T:
        with self._reported(name):
            return work()

    @contextmanager
    def _reported(self, phase: Phase) -> Iterator[None]:
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


def _needs_apply(planned: Plan) -> bool:
    """Whether the cloud must be applied: resources change, or only the outputs do."""
    return planned.has_cloud_changes or planned.has_output_changes


class _ChangeTracker:
    """Passes events on, and notes which resources this run created or changed."""

    def __init__(self, sink: EventSink) -> None:
        self.sink = sink
        self.created: list[ResourceAddress] = []
        self.changed: list[ResourceAddress] = []

    def emit(self, event: Event) -> None:
        if isinstance(event, ResourceFinished) and event.status is Status.DONE:
            if event.action is Action.CREATE:
                self.created.append(event.address)
            elif event.action in (Action.UPDATE, Action.REPLACE):
                self.changed.append(event.address)
        self.sink.emit(event)
