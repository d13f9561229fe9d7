"""In-process backends for the engine: an in-memory cloud, hosts that answer at once, and a
setup that hands them out. They implement the engine's ports, nothing more."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.engine.events import EventSink, ResourceFinished, ResourceStarted, Status
from provisioner.engine.locking import EnvironmentLock, FileLock
from provisioner.engine.ports import (
    ConfigureResult,
    EnvironmentOutputs,
    HostTarget,
    OnReady,
    ReadyResource,
    UpstreamPlans,
    UpstreamValues,
    VmOutput,
)
from provisioner.errors import CloudError
from provisioner.graph import CompiledEnvironment, ResourceGraph
from provisioner.graph.kinds.vm import VmNode
from provisioner.plan import Action, Plan, ResourceChange, TaskChange
from provisioner.spec.addresses import Address, ResourceAddress
from provisioner.spec.kinds.software import SOFTWARE

ENVIRONMENT = "dev"


class _Attributes(dict[str, Any]):
    """A resource's attributes: any that `${...}` reads has a value."""

    def __init__(self, address: Address, number: int) -> None:
        super().__init__(id=f"id-{address}", private_ip=f"10.0.0.{number}")
        self.address = address

    def __missing__(self, key: str) -> str:
        return f"{self.address}.{key}"


class FakeCloud:
    """A cloud in memory: the state records graph addresses; an apply creates the missing ones
    in dependency order. Like Pulumi, it deletes dependents first, and it refuses (like AWS)
    to delete a resource another recorded resource still depends on.

    `fail_at` fails the create of that address; `interrupt_at` raises KeyboardInterrupt
    there; `unreported` are created without an event (an engine that died before it said
    so); `rollback_fails` fails every `destroy_only`.
    """

    def __init__(
        self,
        graph: ResourceGraph,
        *,
        existing: Sequence[str] = (),
        fail_at: str | None = None,
        interrupt_at: str | None = None,
        unreported: Sequence[str] = (),
        rollback_fails: bool = False,
    ) -> None:
        self.graph = graph
        self.order = [a for wave in graph.waves() for a in wave if a.kind is not SOFTWARE]
        self.recorded: dict[Address, ReadyResource] = {}
        self.upstreams: dict[str, UpstreamValues] = {}  # what other environments export
        for address in self._parse(existing):
            self._record(address)
        self.fail_at, self.interrupt_at = fail_at, interrupt_at
        self.unreported = set(unreported)
        self.rollback_fails = rollback_fails
        self.pending: list[str] = []  # what `recover` reports once
        self.deleted: list[str] = []
        self.calls: list[str] = []  # the operations asked of it, in order

    def preview(self, sink: EventSink, upstreams: UpstreamPlans | None = None) -> Plan:
        self.calls.append("preview")
        return Plan(ENVIRONMENT, tuple(self._change(a) for a in self.order))

    def preview_destroy(self, sink: EventSink) -> Plan:
        self.calls.append("preview_destroy")
        deletes = [a for a in self.order if a in self.recorded]
        return Plan(ENVIRONMENT, tuple(self._change(a, Action.DELETE) for a in deletes))

    def apply(self, sink: EventSink, on_ready: OnReady | None = None) -> EnvironmentOutputs:
        self.calls.append("apply")
        for address in self.order:
            if address not in self.recorded:
                self._create(address, sink)
            if on_ready is not None:
                on_ready(self.recorded[address])
        return self.outputs()

    def destroy(self, sink: EventSink) -> None:
        self.calls.append("destroy")
        self._delete(list(self.recorded), sink)

    def destroy_only(self, addresses: list[ResourceAddress], sink: EventSink) -> None:
        self.calls.append("destroy_only")
        if self.rollback_fails:
            raise CloudError("the rollback's destroy failed")
        self._delete([address.node for address in addresses], sink)

    def drift(self, sink: EventSink) -> Plan:
        self.calls.append("drift")
        return Plan(ENVIRONMENT)

    def fingerprint(self) -> str:
        return hashlib.sha256(" ".join(sorted(map(str, self.recorded))).encode()).hexdigest()

    def recover(self) -> list[str]:
        self.calls.append("recover")
        cleared, self.pending = self.pending, []
        return cleared

    def cancel(self) -> None:
        self.calls.append("cancel")

    def recorded_addresses(self) -> set[ResourceAddress]:
        return {ResourceAddress(a) for a in self.recorded}

    def outputs(self) -> EnvironmentOutputs:
        vms = {}
        for address, resource in self.recorded.items():
            node = self.graph.node(address)
            if isinstance(node, VmNode):
                ip = str(resource.attributes["private_ip"])
                vms[address] = VmOutput(
                    address, resource.attributes["id"], ip, "", node.subnet,
                    node.roles, node.hostname, node.key_pair,
                )  # fmt: skip
        return EnvironmentOutputs(ENVIRONMENT, vms)

    def ready_resources(self) -> list[ReadyResource]:
        return [self.recorded[a] for a in self.order if a in self.recorded]

    def upstream_values(self, environment: str) -> UpstreamValues:
        return self.upstreams[environment]

    def _change(self, address: Address, action: Action | None = None) -> ResourceChange:
        if action is None:
            action = Action.NO_OP if address in self.recorded else Action.CREATE
        return ResourceChange(ResourceAddress(address), action)

    def _create(self, address: Address, sink: EventSink) -> None:
        name = str(address)
        if name == self.interrupt_at:
            raise KeyboardInterrupt
        reported = name not in self.unreported
        if reported:
            sink.emit(ResourceStarted(address=ResourceAddress(address), action=Action.CREATE))
        if name == self.fail_at:
            sink.emit(self._finished(address, Action.CREATE, Status.FAILED, error="boom"))
            raise CloudError(f"{name}: boom")
        self._record(address)
        if reported:
            sink.emit(self._finished(address, Action.CREATE, Status.DONE))

    def _record(self, address: Address) -> None:
        number = self.order.index(address) + 10
        self.recorded[address] = ReadyResource(address, _Attributes(address, number))

    def _delete(self, addresses: list[Address], sink: EventSink) -> None:
        for address in sorted(addresses, key=self.order.index, reverse=True):
            still = [d for d in self.graph.dependents(address) if d in self.recorded]
            if any(d.kind is not SOFTWARE for d in still):
                raise CloudError(f"{address} is still in use by {still[0]}")
            del self.recorded[address]
            self.deleted.append(str(address))
            sink.emit(self._finished(address, Action.DELETE, Status.DONE))

    @staticmethod
    def _finished(
        address: Address, action: Action, status: Status, error: str | None = None
    ) -> ResourceFinished:
        return ResourceFinished(
            address=ResourceAddress(address), action=action, status=status, elapsed=0, error=error
        )

    @staticmethod
    def _parse(addresses: Sequence[str]) -> list[Address]:
        return [Address.parse(a) for a in addresses]


class FakeHosts:
    """Hosts that configure at once; `fail` names software nodes whose role fails."""

    def __init__(self, fail: Sequence[str] = ()) -> None:
        self.fail = set(fail)
        self.configured: list[str] = []
        self.released: list[str] = []

    def configure(self, targets: Sequence[HostTarget], sink: EventSink) -> list[ConfigureResult]:
        self.configured.extend(str(t.node.address) for t in targets)
        return [
            ConfigureResult(failed=1, error="task 'x' failed")
            if str(t.node.address) in self.fail
            else ConfigureResult(ok=1)
            for t in targets
        ]

    def check(self, targets: Sequence[HostTarget], sink: EventSink) -> list[tuple[TaskChange, ...]]:
        return [() for _ in targets]

    def release(self, instance_ids: list[str]) -> None:
        self.released.extend(instance_ids)


@dataclass
class FakeRun:
    """One run's backends, as a setup opens them."""

    cloud: FakeCloud
    hosts: FakeHosts
    run_dir: Path
    closed: bool = False

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeSetup:
    """A setup over one FakeCloud and FakeHosts, its lock and run records under `root`."""

    compiled: CompiledEnvironment
    cloud: FakeCloud
    root: Path
    hosts: FakeHosts = field(default_factory=FakeHosts)
    command: tuple[str, ...] = ("provision", "up", "dev")
    runs: list[FakeRun] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # run ids whose leftovers were stopped
    elsewhere: dict[str, int] = field(default_factory=dict)  # other environments' resources
    used_by: list[str] = field(default_factory=list)  # the environments that use this one

    def nothing_recorded(self) -> bool:
        return not self.cloud.recorded

    def recorded_resources(self, environment: str) -> int | None:
        return self.elsewhere.get(environment, 0)

    def users(self) -> list[str]:
        return list(self.used_by)

    def lock(self) -> EnvironmentLock:
        return FileLock(self.root / "locks" / "dev.lock", "dev")

    def runs_root(self) -> Path:
        return self.root / "runs"

    def open(self, run_id: str, *, parallelism: int) -> FakeRun:
        run = FakeRun(self.cloud, self.hosts, self.root / "runs" / "dev" / run_id)
        self.runs.append(run)
        return run

    def stop_leftovers(self, run_id: str) -> int:
        self.stopped.append(run_id)
        self.cloud.calls.append(f"stop_leftovers {run_id}")
        return 2
