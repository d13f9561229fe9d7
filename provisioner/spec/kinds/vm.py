"""vms: groups of `count` identical VMs, each running the roles listed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import Field

from provisioner.spec.addresses import Addressing, ResourceKind
from provisioner.spec.diagnostics import Diagnostic, FieldPath
from provisioner.spec.kind import CheckContext, Link, Share, SpecKind, duplicates
from provisioner.spec.kinds.key_pair import KEY_PAIR
from provisioner.spec.kinds.security_group import SECURITY_GROUP, SECURITY_GROUPS
from provisioner.spec.kinds.subnet import SUBNET, SUBNETS
from provisioner.spec.model import Environment, SpecModel

VM = ResourceKind.declare(
    "vm", depends_on=(SUBNET, SECURITY_GROUP, KEY_PAIR), addressing=Addressing.INDEXED
)


class VmGroupSpec(SpecModel):
    """`count` identical VMs, addressed as vm.NAME[0] ... vm.NAME[count-1]."""

    count: int = Field(1, ge=0, strict=True)
    instance_type: str
    image: str
    subnet: str
    security_groups: list[str] = Field(default_factory=list)
    key_pair: str | None = None
    roles: list[str] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


def _check(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    subnets, groups = SUBNETS.in_reach(env, ctx), SECURITY_GROUPS.in_reach(env, ctx)
    for name, vm in VMS.items(env).items():
        path = ("vms", name)
        subnet = subnets.get(vm.subnet)
        for index, group_name in enumerate(vm.security_groups):
            group = groups.get(group_name)
            if group is not None and subnet is not None and group.network != subnet.network:
                yield ctx.problem(
                    (*path, "security_groups", index),
                    f"security group '{group_name}' is in network '{group.network}', but subnet "
                    f"'{vm.subnet}' is in '{subnet.network}'",
                )
        yield from duplicates(ctx, (*path, "security_groups"), vm.security_groups)
        yield from duplicates(ctx, (*path, "roles"), vm.roles)


def _shares(section: str, groups: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Share]:
    """A VM group makes `count x (1 + its distinct declared roles)` resources."""
    roles = spec.get("roles")
    declared_roles = set(roles) if isinstance(roles, dict) else set()
    shares = []
    for name, group in groups.items():
        if not isinstance(group, dict):
            continue
        count = _count(group.get("count", 1))
        listed = group.get("roles")
        on_each = (
            {role for role in listed if isinstance(role, str) and role in declared_roles}
            if isinstance(listed, list)
            else set()
        )
        path: FieldPath = (section, name, "count") if "count" in group else (section, name)
        shares.append(Share(path, f"{count} VMs", count * (1 + len(on_each))))
    return shares


def _count(value: Any) -> int:
    """A VM group's count as the graph would use it; one the schema rejects makes no VMs."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return 0


VMS = SpecKind(
    VM,
    "vms",
    VmGroupSpec,
    attributes=frozenset({"id", "private_ip", "public_ip", "hostname"}),
    links=(
        Link("subnet", "subnets", "subnet", external=True),
        Link("security_groups", "security_groups", "security group", external=True),
        Link("key_pair", "key_pairs", "key pair"),
        Link("roles", "roles", "role"),
    ),
    references_in=("vars",),
    reads_secrets=True,
    check=_check,
    count=lambda group: group.count,
    noun="VM group",
    shares=_shares,
    # The VMs of one group are alike: one of them has the same dependencies as all.
    smallest=lambda group: group.model_copy(update={"count": min(group.count, 1)}),
)
