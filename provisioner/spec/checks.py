"""Checks across the spec: references between items, CIDR containment, playbooks.

They run on the items that passed schema validation. Names of items that failed
it still count as declared, so one broken item does not cascade into dangling
reference reports from everything that uses it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from provisioner.dag import algorithms as dag
from provisioner.spec.addresses import SECTION_KINDS, ResourceKind
from provisioner.spec.diagnostics import Diagnostic, FieldPath
from provisioner.spec.model import Environment
from provisioner.spec.references import find_expressions, parse_reference
from provisioner.spec.schema_errors import closest, suggest
from provisioner.spec.yamldoc import LocatedDocument


@dataclass(frozen=True)
class CheckContext:
    """What the checks need besides the environment itself."""

    doc: LocatedDocument
    declared: Mapping[str, frozenset[str]]  # section -> every declared name, valid or not
    playbooks_dir: Path


def check_environment(env: Environment, ctx: CheckContext) -> list[Diagnostic]:
    """Every cross-item problem in `env`."""
    found: list[Diagnostic] = []
    for check in (_subnets, _security_groups, _vms, _roles, _role_cycles, _references):
        found.extend(check(env, ctx))
    return found


def _problem(ctx: CheckContext, path: FieldPath, message: str) -> Diagnostic:
    return Diagnostic(ctx.doc.locate(path), path, message)


def _dangling(
    ctx: CheckContext, path: FieldPath, section: str, what: str, name: str
) -> Iterator[Diagnostic]:
    names = ctx.declared.get(section, frozenset())
    if name not in names:
        yield _problem(ctx, path, f"unknown {what} '{name}'{suggest(name, names)}")


def _subnets(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    by_network: dict[str, list[str]] = {}
    for name, subnet in env.subnets.items():
        path = ("subnets", name)
        yield from _dangling(ctx, (*path, "network"), "networks", "network", subnet.network)
        zone = env.availability_zone(subnet)
        if env.region and not re.fullmatch(re.escape(env.region) + r"[a-z]", zone):
            yield _problem(
                ctx,
                (*path, "availability_zone"),
                f"availability zone '{zone}' is not in region '{env.region}'",
            )
        network = env.networks.get(subnet.network)
        if network is None:
            continue
        if not subnet.cidr.subnet_of(network.cidr):
            yield _problem(
                ctx,
                (*path, "cidr"),
                f"{subnet.cidr} is outside network '{subnet.network}' ({network.cidr})",
            )
        by_network.setdefault(subnet.network, []).append(name)
    for names in by_network.values():
        yield from _overlaps(env, ctx, names)


def _overlaps(env: Environment, ctx: CheckContext, names: list[str]) -> Iterator[Diagnostic]:
    """Sweep the subnets by start address: one overlaps the widest reaching one before it."""
    ordered = sorted(
        names, key=lambda n: (env.subnets[n].cidr.network_address, env.subnets[n].cidr.prefixlen, n)
    )
    reach: str | None = None
    for name in ordered:
        cidr = env.subnets[name].cidr
        if reach is not None:
            wide = env.subnets[reach].cidr
            if cidr.network_address <= wide.broadcast_address:
                yield _problem(
                    ctx, ("subnets", name, "cidr"), f"{cidr} overlaps subnet '{reach}' ({wide})"
                )
                if cidr.broadcast_address <= wide.broadcast_address:
                    continue
        reach = name


def _security_groups(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    for name, group in env.security_groups.items():
        path = ("security_groups", name)
        yield from _dangling(ctx, (*path, "network"), "networks", "network", group.network)
        for direction in ("ingress", "egress"):
            for index, rule in enumerate(getattr(group, direction)):
                if rule.group is None:
                    continue
                rule_path = (*path, direction, index, "group")
                yield from _dangling(
                    ctx, rule_path, "security_groups", "security group", rule.group
                )
                peer = env.security_groups.get(rule.group)
                if peer is not None and peer.network != group.network:
                    yield _problem(
                        ctx,
                        rule_path,
                        f"security group '{rule.group}' is in network '{peer.network}', "
                        f"not '{group.network}'",
                    )


def _vms(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    for name, vm in env.vms.items():
        path = ("vms", name)
        yield from _dangling(ctx, (*path, "subnet"), "subnets", "subnet", vm.subnet)
        subnet = env.subnets.get(vm.subnet)
        for index, group_name in enumerate(vm.security_groups):
            group_path = (*path, "security_groups", index)
            yield from _dangling(ctx, group_path, "security_groups", "security group", group_name)
            group = env.security_groups.get(group_name)
            if group is not None and subnet is not None and group.network != subnet.network:
                yield _problem(
                    ctx,
                    group_path,
                    f"security group '{group_name}' is in network '{group.network}', but subnet "
                    f"'{vm.subnet}' is in '{subnet.network}'",
                )
        if vm.key_pair is not None:
            yield from _dangling(ctx, (*path, "key_pair"), "key_pairs", "key pair", vm.key_pair)
        yield from _duplicates(ctx, (*path, "security_groups"), vm.security_groups)
        yield from _duplicates(ctx, (*path, "roles"), vm.roles)
        for index, role in enumerate(vm.roles):
            yield from _dangling(ctx, (*path, "roles", index), "roles", "role", role)


def _roles(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    playbooks = _playbook_names(ctx.playbooks_dir)
    for name, role in env.roles.items():
        path = ("roles", name)
        playbook = (ctx.playbooks_dir / role.playbook).resolve()
        if not playbook.is_relative_to(ctx.playbooks_dir.resolve()):
            yield _problem(
                ctx, (*path, "playbook"), f"playbook '{role.playbook}' is outside playbooks/"
            )
        elif not playbook.is_file():
            yield _problem(
                ctx,
                (*path, "playbook"),
                f"no playbook '{role.playbook}' in {ctx.playbooks_dir}"
                f"{_suggest_file(role.playbook, playbooks)}",
            )
        yield from _duplicates(ctx, (*path, "after"), role.after)
        for index, other in enumerate(role.after):
            if other == name:
                yield _problem(
                    ctx, (*path, "after", index), f"role '{name}' cannot run after itself"
                )
            else:
                yield from _dangling(ctx, (*path, "after", index), "roles", "role", other)


def _role_cycles(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    """`after:` cycles among roles, found even when no VM runs the roles yet."""
    graph = nx.DiGraph()
    for name, role in env.roles.items():
        graph.add_node(name)
        graph.add_edges_from(
            (other, name) for other in role.after if other in env.roles and other != name
        )
    for cycle in dag.cycles(graph, key=str):
        ring = [*cycle, cycle[0]]
        first = ring[1]
        index = env.roles[first].after.index(ring[0])
        yield _problem(
            ctx,
            ("roles", first, "after", index),
            f"dependency cycle among roles: {' -> '.join(ring)} (each runs after the one before)",
        )


def _references(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    sources: list[tuple[object, FieldPath]] = [
        *((vm.vars, ("vms", name, "vars")) for name, vm in env.vms.items()),
        *((role.vars, ("roles", name, "vars")) for name, role in env.roles.items()),
        (env.outputs, ("outputs",)),
    ]
    for value, path in sources:
        for where, expression in find_expressions(value, path):
            yield from _reference(env, ctx, where, expression)


def _reference(
    env: Environment, ctx: CheckContext, path: FieldPath, expression: str
) -> Iterator[Diagnostic]:
    try:
        reference = parse_reference(expression)
    except ValueError as error:
        yield _problem(ctx, path, str(error))
        return
    target = reference.target
    section = next(s for s, kind in SECTION_KINDS.items() if kind is target.kind)
    names = ctx.declared.get(section, frozenset())
    if target.name not in names:
        yield _problem(
            ctx,
            path,
            f"${{{expression}}} refers to unknown {target.kind.value} "
            f"'{target.name}'{suggest(target.name, names)}",
        )
        return
    group = env.vms.get(target.name) if target.kind is ResourceKind.VM else None
    if group is not None and target.index is not None and target.index >= group.count:
        yield _problem(
            ctx,
            path,
            f"${{{expression}}} refers to {target}, but VM group '{target.name}' has "
            f"count {group.count}",
        )


def _duplicates(ctx: CheckContext, path: FieldPath, names: Iterable[str]) -> Iterator[Diagnostic]:
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            yield _problem(ctx, (*path, index), f"'{name}' is listed twice")
        seen.add(name)


def _suggest_file(name: str, files: list[str]) -> str:
    """Did-you-mean on file names, compared without their common suffixes."""
    by_stem = {Path(f).stem: f for f in files}
    match = closest(Path(name).stem, by_stem)
    return f" (did you mean '{by_stem[match]}'?)" if match else ""


def _playbook_names(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if p.suffix in (".yml", ".yaml"))
