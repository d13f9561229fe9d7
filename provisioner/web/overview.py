"""What the web view shows, read from the project: its environments (from the specs in
environments/), their recorded runs, state and locks. Nothing here changes anything."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from provisioner.cloud.pulumi.state import recorded_output, recorded_resource_addresses
from provisioner.cloud.pulumi_cloud import PROJECT
from provisioner.cloud.stack_exports import RESOURCES
from provisioner.engine.events import Status
from provisioner.engine.locking import FileLock, LockHolder
from provisioner.engine.run_record import (
    SEVERAL,
    NodeRecord,
    Operation,
    RunRecord,
    list_runs,
)
from provisioner.engine.watch import read_ticks
from provisioner.errors import ProvisionError
from provisioner.graph import CompiledEnvironment, ResourceGraph, compile_source
from provisioner.paths import StatePaths
from provisioner.spec import resolve_environment
from provisioner.spec.overlay import scan_folder
from provisioner.web.drift import DriftPoint, drift_history
from provisioner.web.hosts import Host, hosts


@dataclass(frozen=True)
class RunFilter:
    """Which runs a listing holds: by environment, command (`up`, `drift`, ...) and outcome."""

    environment: str | None = None
    command: str | None = None
    outcome: str | None = None

    def admits(self, run: RunRecord) -> bool:
        return (
            (self.environment is None or run.info.environment == self.environment)
            and (self.command is None or command_of(run) == self.command)
            and (self.outcome is None or run.observed_outcome().value == self.outcome)
        )


@dataclass(frozen=True)
class EnvironmentSummary:
    """One environment at a glance.

    `resources` and `hosts` are what its state records (None: state not in files
    here); `drifted` is the last drift check's answer (None: never checked).
    """

    name: str
    last_run: RunRecord | None
    drift_run: RunRecord | None
    drifted: bool | None
    resources: int | None
    hosts: int | None
    lock: LockHolder | None
    lock_known: bool = True  # False: its lock is in S3, which the view does not read

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.name,
            "last_run": self.last_run.summary_json() if self.last_run else None,
            "drift": {
                "drifted": self.drifted,
                "checked_at": self.drift_run.ended_at or self.drift_run.info.started_at,
                "run": self.drift_run.id,
            }
            if self.drift_run is not None
            else None,
            "resources": self.resources,
            "hosts": self.hosts,
            "locked_by": dataclasses.asdict(self.lock) if self.lock is not None else None,
            "lock_known": self.lock_known,
        }


@dataclass(frozen=True)
class Bar:
    """One node's row in a run's timeline, in seconds from the run's start: waiting from
    `ready` (its dependencies done) to `start`, then working until `end`."""

    address: str
    action: str
    result: str
    ready: float
    start: float
    end: float
    critical: bool
    error: str | None


def timeline(run: RunRecord, graph: ResourceGraph | None) -> list[Bar]:
    """The run's nodes in the order they started, in seconds from the first node being
    ready; with the environment's graph, the chain of dependencies that took longest in
    this run is marked critical."""
    moments = [_moment(n.ready_at or n.started_at) for n in run.nodes.values()]
    origin = min(moments) if moments else _moment(run.info.started_at)  # the first node's
    spent: dict[str, float] = {}
    for address, node in run.nodes.items():
        key = address.split("/", 1)[0]
        spent[key] = spent.get(key, 0.0) + (node.elapsed or 0.0)
    critical: set[str] = set()
    if graph is not None:
        path, _ = graph.critical_path(lambda node: spent.get(str(node.address), 0.0))
        critical = {str(address) for address in path if spent.get(str(address))}
    bars = []
    for address, node in run.nodes.items():
        start = _moment(node.started_at) - origin
        end = _moment(node.ended_at) - origin if node.ended_at else start + (node.elapsed or 0)
        ready = _moment(node.ready_at) - origin if node.ready_at else start
        bars.append(
            Bar(
                address,
                node.action,
                node.result.value,
                min(ready, start),
                start,
                end,
                address.split("/", 1)[0] in critical,
                node.error,
            )
        )
    return sorted(bars, key=lambda bar: (bar.start, bar.address))


def _moment(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


class NodeState(StrEnum):
    """A node's state after an environment's last `up`."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"
    ROLLED_BACK = "rolled back"


STATE_COLOURS: dict[NodeState, str] = {
    NodeState.CREATED: "#8cd17d",
    NodeState.UPDATED: "#a0cbe8",
    NodeState.UNCHANGED: "#eeeeee",
    NodeState.FAILED: "#ff9d9a",
    NodeState.SKIPPED: "#d4a6c8",
    NodeState.ROLLED_BACK: "#f1ce63",
}
# When a node's resources ended differently, the node shows the first of these it has.
_PRECEDENCE = (
    NodeState.FAILED,
    NodeState.ROLLED_BACK,
    NodeState.SKIPPED,
    NodeState.CREATED,
    NodeState.UPDATED,
)


def node_states(run: RunRecord | None) -> dict[str, NodeState]:
    """Each node's state after `run` (an `up`), by node address; nodes it did not touch
    are unchanged (and absent here)."""
    seen: dict[str, set[NodeState]] = {}
    nodes = run.nodes if run is not None else {}
    # A role configured on a VM this run created was created with it.
    created = {address for address, node in nodes.items() if node.action == "create"}
    for address, node in nodes.items():
        host = address.partition("@")[2]
        if node.result is Status.FAILED:
            state = NodeState.FAILED
        elif node.result is Status.SKIPPED:
            state = NodeState.SKIPPED
        elif node.action == "delete":
            state = NodeState.ROLLED_BACK  # an up deletes only what its rollback undoes
        elif node.action == "create" or host in created:
            state = NodeState.CREATED
        else:
            state = NodeState.UPDATED
        seen.setdefault(address.split("/", 1)[0], set()).add(state)
    return {node: next(s for s in _PRECEDENCE if s in states) for node, states in seen.items()}


def command_of(run: RunRecord) -> str:
    """`up` for `provision up dev --yes`, and for an up `provision watch` ran."""
    return run.info.operation_name


@dataclass(frozen=True)
class Project:
    """The project the view reads: its environments folder and its state folder."""

    environments: Path
    paths: StatePaths

    def environment_names(self) -> list[str]:
        return sorted(file.stem for file in scan_folder(self.environments).environments)

    def runs(self, chosen: RunFilter = RunFilter()) -> list[RunRecord]:
        """Recorded runs, newest first (runs over several environments included)."""
        root = self.paths.runs_root
        every = [*self.environment_names(), SEVERAL]
        if chosen.environment is not None and chosen.environment not in every:
            return []  # never a path: only the project's environments have runs here
        names: Sequence[str] = [chosen.environment] if chosen.environment else every
        found = [run for name in names for run in list_runs(root, name) if chosen.admits(run)]
        return sorted(found, key=lambda run: run.id, reverse=True)

    def summary(self, name: str) -> EnvironmentSummary:
        runs = list_runs(self.paths.runs_root, name)
        drift = next((run for run in runs if command_of(run) == Operation.DRIFT and run.plan), None)
        state = self.state(name)
        addresses = recorded_resource_addresses(state, self.paths, PROJECT, name)
        in_files = not (state or "").startswith("s3://")  # S3 state and its lock: unknown here
        lock = FileLock(self.paths.locks / f"{name}.lock", name) if in_files else None
        return EnvironmentSummary(
            name=name,
            last_run=runs[0] if runs else None,
            drift_run=drift,
            drifted=drift.plan.has_changes if drift is not None and drift.plan else None,
            resources=len(addresses) if addresses is not None else None,
            hosts=sum(1 for a in addresses if a.startswith("vm."))
            if addresses is not None
            else None,
            lock=lock.holder() if lock is not None else None,
            lock_known=lock is not None,
        )

    def compiled(self, name: str) -> CompiledEnvironment | None:
        """The environment as its spec is now; None if it does not compile."""
        try:
            return compile_source(resolve_environment(name, self.environments))
        except ProvisionError:
            return None

    def graph(self, name: str) -> ResourceGraph | None:
        """The environment's graph as its spec is now; None if it does not compile."""
        compiled = self.compiled(name)
        return compiled.graph if compiled is not None else None

    def state(self, name: str) -> str | None:
        """Where the environment's spec keeps its state (None: this project's files)."""
        compiled = self.compiled(name)
        return compiled.environment.state if compiled is not None else None

    def last_up(self, name: str) -> RunRecord | None:
        runs = list_runs(self.paths.runs_root, name)
        return next((run for run in runs if command_of(run) == Operation.UP), None)

    def node_history(self, name: str, node: str) -> list[tuple[RunRecord, str, NodeRecord]]:
        """Each recorded run's work on the node's resources, newest run first."""
        return [
            (run, address, record)
            for run in list_runs(self.paths.runs_root, name)
            for address, record in sorted(run.nodes.items())
            if address.split("/", 1)[0] == node
        ]

    def node_outputs(self, name: str, node: str) -> dict[str, Any]:
        """The node's readable attributes as its last apply exported them (never a secret:
        those are exported apart, encrypted)."""
        exported = recorded_output(self.state(name), self.paths, PROJECT, name, RESOURCES)
        found = exported.get(node) if isinstance(exported, dict) else None
        return dict(found) if isinstance(found, dict) else {}

    def hosts(self, name: str) -> list[Host] | None:
        """The environment's VMs, their roles' last results and history (None: no spec)."""
        graph = self.graph(name)
        if graph is None:
            return None
        return hosts(graph, list_runs(self.paths.runs_root, name))

    def drift_history(self, name: str) -> list[DriftPoint]:
        """Every drift check and watch tick of the environment, newest first."""
        root = self.paths.runs_root
        return drift_history(list_runs(root, name), read_ticks(root, name))

    def summaries(self) -> list[EnvironmentSummary]:
        return [self.summary(name) for name in self.environment_names()]
