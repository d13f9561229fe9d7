"""PulumiCloud: the cloud backend of one environment, as one Pulumi stack.

It implements the engine's CloudBackend protocol on top of `cloud.pulumi`, with
the inline program that its program factory (given by the CLI's wiring: the
`stacks` package sits above this layer) builds from the compiled graph.

Before deleting, it asks the providers whether a recorded resource may be
deleted (`AwsProvider.delete_blocker`: a bucket that holds objects may not):
`destroy` then refuses, naming every such resource, before deleting anything;
`destroy_only` (a rollback) deletes the rest and fails naming what it kept.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from provisioner.cloud.aws import clients
from provisioner.cloud.aws.kind import cloud_kind
from provisioner.cloud.aws.live import provider_of
from provisioner.cloud.aws.orphans import sweep
from provisioner.cloud.drift import detect_drift
from provisioner.cloud.errors import boto_errors
from provisioner.cloud.passphrase import check_shared, passphrase_for
from provisioner.cloud.provider_host import DEFAULT_PARALLELISM
from provisioner.cloud.pulumi.stack import Program, PulumiStack
from provisioner.cloud.pulumi.state import is_cloud_resource, resource_address_of
from provisioner.cloud.pulumi.workspace import EngineSettings
from provisioner.cloud.stack_exports import StackExports, spec_output_changes
from provisioner.cloud.state_store import state_url
from provisioner.engine.events import EventSink
from provisioner.engine.ports import (
    EnvironmentOutputs,
    OnReady,
    ReadyResource,
    UpstreamPlans,
    UpstreamValues,
)
from provisioner.errors import CloudError
from provisioner.graph import CompiledEnvironment, ResourceGraph
from provisioner.paths import StatePaths
from provisioner.plan import Action, Plan, ResourceChange
from provisioner.plan.model import KNOWN_AFTER_APPLY
from provisioner.spec.addresses import ResourceAddress
from provisioner.spec.diagnostics import Diagnostic, Location, SpecError
from provisioner.spec.model import Cloud

# The inline program of a compiled environment. During an apply, its `OnReady`
# hears of each cloud node as soon as the node's outputs resolve; during a preview,
# what it reads of environments not applied yet (`UpstreamPlans`) is unknown.
ProgramFactory = Callable[[CompiledEnvironment, OnReady | None, UpstreamPlans], Program]
PROJECT = "provision"


@dataclass(frozen=True)
class CloudTarget:
    """Which cloud the stack talks to: the local cloud's environment variables, or AWS's own."""

    cloud: Cloud
    env: Mapping[str, str]


class PulumiCloud:
    """One environment's cloud resources, managed as one Pulumi stack."""

    def __init__(
        self,
        compiled: CompiledEnvironment,
        target: CloudTarget,
        paths: StatePaths,
        program_for: ProgramFactory,
        *,
        parallelism: int = DEFAULT_PARALLELISM,
    ) -> None:
        env = compiled.environment
        self.environment = env.name
        if env.uses:
            check_shared(env.name, env.uses, target.cloud, paths.secrets)
        settings = EngineSettings(
            state_url=state_url(env.state, paths, target.env),
            pulumi_home=paths.pulumi_home,
            passphrase=passphrase_for(env.name, target.cloud, paths.secrets),
            env=target.env,
            parallelism=parallelism,
        )
        self._compiled = compiled
        self._program_for = program_for
        self._region = env.region
        self._target_env = dict(target.env)
        self._graph = compiled.graph
        self._settings = settings
        self._stack = PulumiStack(PROJECT, env.name, program_for(compiled, None, {}), settings)

    def preview(self, sink: EventSink, upstreams: UpstreamPlans | None = None) -> Plan:
        if upstreams:
            self._stack.set_program(self._program_for(self._compiled, None, upstreams))
        try:
            planned = self._stack.plan(
                self.environment, refresh=True, sink=sink, outputs_diff=spec_output_changes
            )
        finally:
            if upstreams:
                self._stack.set_program(self._program_for(self._compiled, None, {}))
        settled = settle_unknowns(planned, self._graph)
        refuse_impossible(settled, self._compiled)
        return settled

    def preview_destroy(self, sink: EventSink) -> Plan:
        return self._stack.plan_destroy(self.environment, sink=sink)

    def apply(self, sink: EventSink, on_ready: OnReady | None = None) -> EnvironmentOutputs:
        self._stack.set_program(self._program_for(self._compiled, on_ready, {}))
        try:
            result = self._stack.up(refresh=True, sink=sink)
        finally:
            self._stack.set_program(self._program_for(self._compiled, None, {}))
        return StackExports.decode(result.outputs).environment_outputs(self.environment)

    def destroy(self, sink: EventSink) -> None:
        """Delete everything; refused, with nothing deleted, if anything may not be deleted."""
        refused = self._refused_deletes()
        if refused:
            raise CloudError(
                f"refusing to delete {self.environment}, nothing was deleted: "
                f"{_listed(refused)}. Change that (a spec change takes an up), then run "
                "down again"
            )
        self._stack.destroy(sink=sink)

    def destroy_only(self, addresses: list[ResourceAddress], sink: EventSink) -> None:
        """Delete these resources, bar those that may not be deleted (then fail naming them)."""
        refused = self._refused_deletes(set(addresses))
        kept = [str(a) for a in addresses if a not in refused]
        self._stack.destroy(sink=sink, only=kept)
        if refused:
            raise CloudError(f"kept {_listed(refused)}; every other resource was deleted")

    def _refused_deletes(
        self, only: set[ResourceAddress] | None = None
    ) -> dict[ResourceAddress, str]:
        """The recorded resources (of `only`, if given) that may not be deleted now, and why."""
        refused: dict[ResourceAddress, str] = {}
        made: dict[tuple[str, str], Any] = {}
        for state in self._stack.resource_states():
            if not is_cloud_resource(state) or not state.get("id") or state.get("delete"):
                continue
            address, resource_id = resource_address_of(state["urn"]), str(state["id"])
            outputs = state.get("outputs") or {}
            provider = provider_of(resource_id, outputs)
            if (only is not None and address not in only) or not (
                provider and provider.guards_deletes
            ):
                continue
            key = (provider.service, str(outputs.get("region") or self._region))
            with boto_errors(f"checking whether {address} may be deleted"):
                if key not in made:
                    made[key] = clients.client_for(self._target_env, *key)
                why = provider.delete_blocker(made[key], resource_id, outputs)
            if why is not None:
                refused[address] = why
        return refused

    def drift(self, sink: EventSink) -> Plan:
        """One state export, then one bulk read of the live cloud per resource type."""
        return detect_drift(
            self.environment,
            self._stack.resource_states(),
            lambda service, region: clients.client_for(self._target_env, service, region),
            self._region,
        )

    def fingerprint(self) -> str:
        return self._stack.fingerprint()

    def recorded_addresses(self) -> set[ResourceAddress]:
        return {ResourceAddress.parse(address) for address in self._stack.addresses()}

    def cancel(self) -> None:
        self._stack.cancel()

    def recover(self) -> list[str]:
        """Undo what a killed run left: broken state files, dead Pulumi locks, pending
        operations, orphans."""
        self._stack.repair_after_kill()
        pending = self._stack.clear_pending_operations()
        if not pending:
            return []
        known = {str(r.get("id")) for r in self._stack.resource_states() if r.get("id")}
        with boto_errors("sweeping orphans"):
            swept = sweep(
                lambda service: clients.client_for(self._target_env, service, self._region),
                self.environment,
                known,
            )
        kept = [f"orphan {resource_id} (kept: {why})" for resource_id, why in swept.kept.items()]
        return pending + [f"orphan {resource_id}" for resource_id in swept.deleted] + kept

    def outputs(self) -> EnvironmentOutputs:
        return StackExports.decode(self._stack.outputs()).environment_outputs(self.environment)

    def ready_resources(self) -> list[ReadyResource]:
        return StackExports.decode(self._stack.outputs()).ready_resources()

    def upstream_values(self, environment: str) -> UpstreamValues:
        """Read with Pulumi from that environment's stack (never from its state files)."""
        stack = PulumiStack(PROJECT, environment, lambda: None, self._settings)
        exports = StackExports.decode(stack.outputs())
        outputs = exports.outputs if isinstance(exports.outputs, dict) else {}
        return UpstreamValues(outputs, exports.resources, exports.secrets)


def refuse_impossible(plan: Plan, compiled: CompiledEnvironment) -> None:
    """SpecError naming each spec field that makes a planned change one the cloud refuses."""
    problems = []
    for change in plan.changes:
        refusals = cloud_kind(change.kind).refusals
        if refusals is None or change.address.node not in compiled.graph:
            continue
        for path, message in refusals(compiled.graph.node(change.address.node), change):
            where = compiled.document.locate(path) if compiled.document else None
            problems.append(
                Diagnostic(where or Location(compiled.source.file, 1, 1), path, message)
            )
    if problems:
        raise SpecError(problems)


def _listed(refused: Mapping[ResourceAddress, str]) -> str:
    return "; ".join(f"{address}: {why}" for address, why in sorted(refused.items()))


def settle_unknowns(plan: Plan, graph: ResourceGraph) -> Plan:
    """Drop the changes (and replacements) a preview shows only because an upstream is updated.

    Pulumi's preview cannot tell that an in-place update keeps a resource's id, so
    every property wired to that id shows as unknown and the dependent as changed.
    Our providers never change ids in place: a value that is unknown only because
    its upstream is updated (not created or replaced) will be the same after apply.
    Resources are settled upstream first, so a settled upstream settles its dependents.
    """
    wave = graph.wave_of()
    order = sorted(plan.changes, key=lambda c: (wave.get(c.address.node, -1), c.address))
    settled: dict[ResourceAddress, ResourceChange] = {}
    for change in order:
        upstream = _upstream(change.address, graph, [c.address for c in order])
        renewed = any(
            settled[a].action in (Action.CREATE, Action.REPLACE) for a in upstream if a in settled
        )
        if change.action not in (Action.UPDATE, Action.REPLACE) or renewed:
            settled[change.address] = change
            continue
        real = tuple(p for p in change.diff if not _same_but_unknown(p.before, p.after))
        if any(p.forces_replacement for p in real):
            action = Action.REPLACE
        else:
            action = Action.UPDATE if real else Action.NO_OP
        settled[change.address] = replace(change, action=action, diff=real)
    return replace(plan, changes=tuple(settled[c.address] for c in plan.changes))


def _upstream(
    address: ResourceAddress, graph: ResourceGraph, ordered: list[ResourceAddress]
) -> list[ResourceAddress]:
    """The cloud resources `address` may take values from.

    Every resource of the nodes its node depends on, and, for a node's extra
    parts, the node's main resource and the parts declared before it.
    """
    if address.node not in graph:
        return []
    dependencies = set(graph.dependencies(address.node))
    found = [a for a in ordered if a.node in dependencies]
    if address.part is not None:
        siblings = [a for a in ordered if a.node == address.node]
        found += siblings[: siblings.index(address)]
    return found


def _same_but_unknown(before: Any, after: Any) -> bool:
    """True if `after` equals `before` wherever `after` is known."""
    if after == KNOWN_AFTER_APPLY:
        return True
    if isinstance(before, dict) and isinstance(after, dict):
        return before.keys() == after.keys() and all(
            _same_but_unknown(before[k], after[k]) for k in after
        )
    if isinstance(before, list) and isinstance(after, list):
        return len(before) == len(after) and all(
            _same_but_unknown(b, a) for b, a in zip(before, after, strict=True)
        )
    return bool(before == after)
