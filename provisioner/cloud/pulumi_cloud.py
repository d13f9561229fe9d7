"""PulumiCloud: the cloud backend of one environment, as one Pulumi stack.

It implements the engine's CloudBackend protocol on top of `pulumi_engine`,
with the inline program that `stacks.program` builds from the compiled graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from provisioner.cloud.aws import clients
from provisioner.cloud.aws.orphans import sweep
from provisioner.cloud.drift import detect_drift
from provisioner.cloud.errors import boto_errors
from provisioner.cloud.passphrase import passphrase_for
from provisioner.cloud.provider_host import DEFAULT_PARALLELISM
from provisioner.cloud.pulumi.stack import PulumiStack
from provisioner.cloud.pulumi.state import is_secret, is_unknown
from provisioner.cloud.pulumi.workspace import EngineSettings
from provisioner.cloud.state_store import state_url
from provisioner.engine.events import EventSink
from provisioner.engine.ports import EnvironmentOutputs, OnReady, ReadyResource, VmOutput
from provisioner.graph import CompiledEnvironment, ResourceGraph
from provisioner.paths import StatePaths
from provisioner.plan import Action, Plan, PropertyChange, ResourceChange
from provisioner.plan.model import KNOWN_AFTER_APPLY
from provisioner.spec.addresses import Address
from stacks.context import PART_SEPARATOR
from stacks.program import (
    PRIVATE_KEYS_OUTPUT,
    RESOURCES_OUTPUT,
    SPEC_OUTPUTS,
    VMS_OUTPUT,
    build_program,
)

PROJECT = "provision"
# Per VM, the exports the spec gives (the rest of a VM's exports come from the cloud).
_VM_SPEC_FACTS = ("roles", "hostname", "subnet", "key_pair")


@dataclass(frozen=True)
class CloudTarget:
    """Which cloud the stack talks to: the local cloud's environment variables, or AWS's own."""

    cloud: str  # "local" | "aws"
    env: Mapping[str, str]


class PulumiCloud:
    """One environment's cloud resources, managed as one Pulumi stack."""

    def __init__(
        self,
        compiled: CompiledEnvironment,
        target: CloudTarget,
        paths: StatePaths,
        *,
        parallelism: int = DEFAULT_PARALLELISM,
    ) -> None:
        env = compiled.environment
        self.environment = env.name
        settings = EngineSettings(
            state_url=state_url(env.state, paths, target.env),
            pulumi_home=paths.pulumi_home,
            passphrase=passphrase_for(env.name, target.cloud, paths.secrets),
            env=target.env,
            parallelism=parallelism,
        )
        self._compiled = compiled
        self._region = env.region
        self._target_env = dict(target.env)
        self._graph = compiled.graph
        self._stack = PulumiStack(PROJECT, env.name, build_program(compiled), settings)

    def preview(self, sink: EventSink) -> Plan:
        planned = self._stack.plan(
            self.environment, refresh=True, sink=sink, outputs_diff=spec_output_changes
        )
        return settle_unknowns(planned, self._graph)

    def preview_destroy(self, sink: EventSink) -> Plan:
        return self._stack.plan_destroy(self.environment, sink=sink)

    def apply(self, sink: EventSink, on_ready: OnReady | None = None) -> EnvironmentOutputs:
        self._stack.set_program(build_program(self._compiled, on_ready))
        try:
            result = self._stack.up(refresh=True, sink=sink)
        finally:
            self._stack.set_program(build_program(self._compiled))
        return to_environment_outputs(self.environment, result.outputs)

    def destroy(self, sink: EventSink) -> None:
        self._stack.destroy(sink=sink)

    def destroy_only(self, addresses: list[str], sink: EventSink) -> None:
        self._stack.destroy(sink=sink, only=addresses)

    def drift(self, sink: EventSink) -> Plan:
        """One state export, then one bulk read of the live cloud per resource type."""
        return detect_drift(
            self.environment,
            self._stack.resource_states(),
            lambda region: clients.ec2_for(self._target_env, region),
            self._region,
        )

    def fingerprint(self) -> str:
        return self._stack.fingerprint()

    def recorded_addresses(self) -> set[str]:
        return self._stack.addresses()

    def cancel(self) -> None:
        self._stack.cancel()

    def recover(self) -> list[str]:
        """Undo what a killed run left: dead Pulumi locks, pending operations, orphans."""
        self._stack.remove_dead_locks()
        pending = self._stack.clear_pending_operations()
        if not pending:
            return []
        known = {str(r.get("id")) for r in self._stack.resource_states() if r.get("id")}
        with boto_errors("sweeping orphans"):
            swept = sweep(clients.ec2_for(self._target_env, self._region), self.environment, known)
        return pending + [f"orphan {resource_id}" for resource_id in swept]

    def outputs(self) -> EnvironmentOutputs:
        return to_environment_outputs(self.environment, self._stack.outputs())

    def ready_resources(self) -> list[ReadyResource]:
        return to_ready_resources(self._stack.outputs())


def to_ready_resources(raw: Mapping[str, Any]) -> list[ReadyResource]:
    """Each cloud node recorded in the stack's exports, with key pairs' private keys."""
    keys = raw.get(PRIVATE_KEYS_OUTPUT) or {}
    return [
        ReadyResource(Address.parse(address), dict(attributes), private_key=keys.get(address))
        for address, attributes in sorted((raw.get(RESOURCES_OUTPUT) or {}).items())
    ]


def to_environment_outputs(environment: str, raw: Mapping[str, Any]) -> EnvironmentOutputs:
    """The stack's exports as typed outputs."""
    vms = {
        address: VmOutput(
            address=address,
            id=str(vm.get("id") or ""),
            private_ip=str(vm.get("private_ip") or ""),
            public_ip=str(vm.get("public_ip") or ""),
            subnet=str(vm.get("subnet") or ""),
            roles=tuple(vm.get("roles") or ()),
            hostname=str(vm.get("hostname") or ""),
            key_pair=vm.get("key_pair"),
        )
        for address, vm in sorted((raw.get(VMS_OUTPUT) or {}).items())
    }
    return EnvironmentOutputs(
        environment=environment,
        vms=vms,
        values=dict(raw.get(SPEC_OUTPUTS) or {}),
        private_keys=dict(raw.get(PRIVATE_KEYS_OUTPUT) or {}),
    )


def settle_unknowns(plan: Plan, graph: ResourceGraph) -> Plan:
    """Drop the changes (and replacements) a preview shows only because an upstream is updated.

    Pulumi's preview cannot tell that an in-place update keeps a resource's id, so
    every property wired to that id shows as unknown and the dependent as changed.
    Our providers never change ids in place: a value that is unknown only because
    its upstream is updated (not created or replaced) will be the same after apply.
    Resources are settled upstream first, so a settled upstream settles its dependents.
    """
    wave = graph.wave_of()
    order = sorted(plan.changes, key=lambda c: (_node_wave(c.address, wave), c.address))
    settled: dict[str, ResourceChange] = {}
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


def spec_output_changes(
    recorded: Mapping[str, Any], previewed: Mapping[str, Any]
) -> tuple[PropertyChange, ...]:
    """What changes in the outputs a spec defines, leaf by leaf, for people to read.

    Its `outputs`, and each VM's spec-given facts (roles, host name, subnet, key
    pair) of VMs that exist and stay. Values not known yet (of resources the plan
    changes) are left out: the apply renews them anyway.
    """
    changes = [
        PropertyChange(f"{SPEC_OUTPUTS}.{path}", before, after)
        for path, before, after in _leaves(recorded.get(SPEC_OUTPUTS), previewed.get(SPEC_OUTPUTS))
    ]
    old_vms, new_vms = recorded.get(VMS_OUTPUT) or {}, previewed.get(VMS_OUTPUT) or {}
    for address in sorted(set(old_vms) & set(new_vms)):
        for fact in _VM_SPEC_FACTS:
            before, after = old_vms[address].get(fact), new_vms[address].get(fact)
            if before != after:
                changes.append(PropertyChange(f"{VMS_OUTPUT}.{address}.{fact}", before, after))
    return tuple(c for c in changes if not is_unknown(c.after) and not is_secret(c.after))


def _leaves(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(path, before, after) of each leaf that differs between two nested mappings."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            path = f"{prefix}.{key}" if prefix else str(key)
            found += _leaves(old.get(key), new.get(key), path)
        return found
    return [] if old == new else [(prefix, old, new)]


def _node_wave(address: str, wave: Mapping[Address, int]) -> int:
    node = _node(address)
    return wave.get(node, -1) if node is not None else -1


def _node(address: str) -> Address | None:
    try:
        return Address.parse(address.partition(PART_SEPARATOR)[0])
    except ValueError:
        return None


def _upstream(address: str, graph: ResourceGraph, ordered: list[str]) -> list[str]:
    """The cloud resources `address` may take values from.

    Every resource of the nodes its node depends on, and, for a node's extra
    parts, the node's main resource and the parts declared before it.
    """
    node = _node(address)
    if node is None or node not in graph:
        return []
    dependencies = {str(dependency) for dependency in graph.dependencies(node)}
    found = [a for a in ordered if a.partition(PART_SEPARATOR)[0] in dependencies]
    if PART_SEPARATOR in address:
        siblings = [a for a in ordered if a.partition(PART_SEPARATOR)[0] == str(node)]
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
