"""Pipelined configuration: each software node runs as soon as what it depends on is ready.

Cloud nodes are external to the walk: the cloud backend reports each one as its
resource comes into being, while the apply still runs. Software nodes (a role on
one VM) then run on the host backend, independent hosts in parallel; a failed
node skips everything that depends on it.

Nodes of one role that become ready within a short settle window run as one
batch, a single call of the host backend (one ansible-playbook run for all
their hosts); each node still has its own events and outcome.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from provisioner.dag.walk import Batching, Outcome, Walker
from provisioner.engine.events import ConfigureFinished, ConfigureStarted, EventSink, Status
from provisioner.engine.ports import (
    ConfigureResult,
    HostBackend,
    HostTarget,
    ReadyResource,
    UpstreamValues,
)
from provisioner.engine.variables import resolve
from provisioner.errors import HostError, ProvisionError
from provisioner.graph import ResourceGraph
from provisioner.graph.kinds.software import SoftwareNode
from provisioner.graph.kinds.vm import VmNode
from provisioner.plan import Action, Plan, SoftwareChange, TaskOutlook
from provisioner.spec.addresses import Address, ResourceAddress
from provisioner.spec.kinds.software import SOFTWARE
from provisioner.spec.kinds.vm import VM

MAX_PARALLEL_HOSTS = 32
# Roles of VMs reported within a burst run together: a batch waits this long after
# its latest node became ready, and at most BATCH_CAP after its first.
BATCH_SETTLE = 0.5
BATCH_CAP = 1.5


class _NodeFailedError(Exception):
    """A software node did not succeed; the message says why.

    `collateral`: it failed only because another node of its batch did.
    """

    def __init__(self, message: str, *, collateral: bool = False) -> None:
        super().__init__(message)
        self.collateral = collateral


class Configurator:
    """Walks the graph's software nodes, gated on cloud readiness reported from outside."""

    def __init__(
        self,
        environment: str,
        graph: ResourceGraph,
        hosts: HostBackend,
        sink: EventSink,
        *,
        parallelism: int | None = None,
        settle: float = BATCH_SETTLE,
        cap: float = BATCH_CAP,
        upstreams: Mapping[str, UpstreamValues] | None = None,
    ) -> None:
        self.environment = environment
        self.graph = graph
        self.hosts = hosts
        self.sink = sink
        self.upstreams = dict(upstreams or {})
        self._ready: dict[Address, ReadyResource] = {}
        self._results: dict[str, ConfigureResult] = {}
        self._lock = threading.Lock()
        self.cloud_nodes = [a for a in graph.addresses() if a.kind is not SOFTWARE]
        self.software_nodes = [a for a in graph.addresses() if a.kind is SOFTWARE]
        vms = sum(1 for _ in graph.of_kind(VM))
        # `workers` bounds the hosts being configured at once, over every batch.
        workers = host_workers(vms, parallelism)
        self._walker: Walker[Address] = Walker(
            {address: graph.dependencies(address) for address in graph.addresses()},
            external=self.cloud_nodes,
            workers=workers,
            on_skip=self._skipped,
            batching=Batching(
                key=self._batch_key, run=self._configure, settle=settle, cap=cap, size=workers
            ),
        )

    def start(self) -> None:
        self._walker.start()

    def resource_ready(self, resource: ReadyResource) -> None:
        """A cloud node's resource exists: start what waited only for it."""
        with self._lock:
            self._ready[resource.address] = resource
        self._walker.complete(resource.address, ok=True)

    def instance_ids(self, addresses: list[ResourceAddress]) -> list[str]:
        """The instance ids of those `addresses` that are VMs reported ready."""
        with self._lock:
            return [
                str(resource.attributes["id"])
                for address, resource in self._ready.items()
                if address.kind is VM and ResourceAddress(address) in addresses
            ]

    def cloud_failed(self) -> None:
        """The apply failed: every cloud node not reported ready has failed."""
        with self._lock:
            missing = [a for a in self.cloud_nodes if a not in self._ready]
        for address in missing:
            self._walker.complete(address, ok=False)

    def finish(self) -> dict[str, ConfigureResult]:
        """Wait for every software node and return their results; HostError names failures."""
        self.cloud_failed()  # anything never reported cannot be configured
        outcomes = self._walker.wait()
        errors = self._walker.errors
        failed = sorted(
            (a for a in self.software_nodes if outcomes.get(a) is Outcome.FAILED),
            # Name first a node that failed on its own, not one its batch took down with it.
            key=lambda a: bool(getattr(errors.get(a), "collateral", False)),
        )
        skipped = [a for a in self.software_nodes if outcomes.get(a) is Outcome.SKIPPED]
        if failed:
            first = failed[0]
            more = f"; {len(failed) - 1} more failed" if len(failed) > 1 else ""
            also = f"; {len(skipped)} skipped" if skipped else ""
            raise HostError(f"{first} failed: {errors.get(first)}{more}{also}")
        if skipped:
            raise HostError(
                f"{len(skipped)} roles were not configured because resources they need "
                f"were not created: {', '.join(str(a) for a in skipped)}"
            )
        with self._lock:
            return {str(a): self._results[str(a)] for a in self.software_nodes}

    def _batch_key(self, address: Address) -> Hashable:
        node = self.graph.node(address)
        assert isinstance(node, SoftwareNode)
        return (node.role, node.playbook)

    def _configure(self, addresses: Sequence[Address]) -> dict[Address, BaseException]:
        """Configure nodes of one role together; the failed ones, with why."""
        started = time.monotonic()
        pairs: list[tuple[Address, VmNode]] = []
        targets: list[HostTarget] = []
        failures: dict[Address, BaseException] = {}
        for address in addresses:
            node = self.graph.node(address)
            assert isinstance(node, SoftwareNode)
            vm = self.graph.node(node.host)
            assert isinstance(vm, VmNode)
            self.sink.emit(ConfigureStarted(address=str(address), host=vm.hostname))
            pairs.append((address, vm))
            targets.append(self._target(node, vm))
        try:
            results = self.hosts.configure(targets, self.sink)
            if len(results) != len(targets):
                raise HostError(f"the host backend answered {len(results)} of {len(targets)}")
        except ProvisionError as error:
            results = [ConfigureResult(error=str(error))] * len(targets)
        elapsed = time.monotonic() - started
        for (address, vm), result in zip(pairs, results, strict=True):
            with self._lock:
                self._results[str(address)] = result
            self.sink.emit(
                ConfigureFinished(
                    address=str(address),
                    host=vm.hostname,
                    status=Status.DONE if result.succeeded else Status.FAILED,
                    elapsed=elapsed,
                    changed=result.changed,
                    error=result.error,
                )
            )
            if not result.succeeded:
                failures[address] = _NodeFailedError(
                    result.error or "failed", collateral=result.collateral
                )
        return failures

    def _target(self, node: SoftwareNode, vm: VmNode) -> HostTarget:
        with self._lock:
            ready = dict(self._ready)
        return host_target(node, vm, ready, self.upstreams)

    def _skipped(self, address: Address) -> None:
        if address.kind is not SOFTWARE:
            return
        node = self.graph.node(address)
        assert isinstance(node, SoftwareNode)
        vm = self.graph.node(node.host)
        assert isinstance(vm, VmNode)
        self.sink.emit(
            ConfigureFinished(
                address=str(address),
                host=vm.hostname,
                status=Status.SKIPPED,
                elapsed=0.0,
                error="skipped: something it depends on failed",
            )
        )


def host_target(
    node: SoftwareNode,
    vm: VmNode,
    ready: Mapping[Address, ReadyResource],
    upstreams: Mapping[str, UpstreamValues] | None = None,
) -> HostTarget:
    """What configuring `node` on `vm` needs, from the ready cloud resources."""
    instance = ready[vm.address].attributes
    pair = ready.get(vm.key_pair) if vm.key_pair is not None else None
    secrets: dict[str, str] = {}
    return HostTarget(
        node=node,
        vm=vm,
        instance_id=str(instance["id"]),
        private_ip=str(instance["private_ip"]),
        variables={
            **resolve(node.vars, ready, secrets, upstreams),
            **resolve(vm.vars, ready, secrets, upstreams),
        },
        private_key=pair.private_key if pair is not None else None,
        secrets=secrets,
    )


def plan_software(
    graph: ResourceGraph,
    cloud_plan: Plan,
    recorded: list[ReadyResource],
    hosts: HostBackend,
    sink: EventSink,
    *,
    parallelism: int | None = None,
    upstreams: Mapping[str, UpstreamValues] | None = None,
) -> tuple[SoftwareChange, ...]:
    """Each software node's planned configuration.

    On a VM that exists and stays, Ansible's check mode predicts each task (hosts
    in parallel). On a VM that the cloud plan creates or replaces, everything runs.
    """
    ready = {resource.address: resource for resource in recorded}
    renewed = {
        change.address
        for change in cloud_plan.changes
        if change.action in (Action.CREATE, Action.REPLACE, Action.DELETE)
    }
    nodes = [node for node in graph.of_kind(SOFTWARE)]
    checkable: dict[tuple[str, str], list[tuple[SoftwareNode, VmNode]]] = {}
    planned: dict[str, SoftwareChange] = {}
    for node in nodes:
        assert isinstance(node, SoftwareNode)
        vm = graph.node(node.host)
        assert isinstance(vm, VmNode)
        references_ready = all(
            d in ready for d in graph.dependencies(node.address) if d.kind is not SOFTWARE
        )
        if (
            ResourceAddress(vm.address) in renewed
            or vm.address not in ready
            or not references_ready
        ):
            planned[str(node.address)] = SoftwareChange(
                str(node.address), vm.hostname, Action.CREATE
            )
        else:
            checkable.setdefault((node.role, node.playbook), []).append((node, vm))

    def check(pairs: list[tuple[SoftwareNode, VmNode]]) -> list[SoftwareChange]:
        targets = [host_target(node, vm, ready, upstreams) for node, vm in pairs]
        predicted = hosts.check(targets, sink)
        changes = []
        for (node, vm), tasks in zip(pairs, predicted, strict=True):
            changing = any(t.outlook in (TaskOutlook.CHANGE, TaskOutlook.FAIL) for t in tasks)
            action = Action.UPDATE if changing else Action.NO_OP
            changes.append(SoftwareChange(str(node.address), vm.hostname, action, tasks))
        return changes

    # One check run per role, over at most `size` hosts (its forks); up to `size`
    # runs at once, as many as there were single-host runs before batching.
    hosts_count = len({vm.address for pairs in checkable.values() for _, vm in pairs})
    size = host_workers(hosts_count, parallelism)
    batches = [
        pairs[start : start + size]
        for pairs in checkable.values()
        for start in range(0, len(pairs), size)
    ]
    workers = max(1, min(len(batches), size))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check") as pool:
        for batch in pool.map(check, batches):
            for change in batch:
                planned[change.address] = change
    return tuple(planned[str(node.address)] for node in nodes)


def host_workers(hosts: int, parallelism: int | None) -> int:
    """Hosts configured at once: one per host, within the run's parallelism and our cap."""
    limit = min(MAX_PARALLEL_HOSTS, parallelism or MAX_PARALLEL_HOSTS)
    return max(1, min(hosts, limit))
