"""load_balancers: application load balancers whose target group is every VM of one group.

A load balancer sits in two or more subnets of distinct zones (as AWS asks), with
security groups and HTTP listeners that forward to its one target group; the
group's targets are the instances of a VM group, so scaling the group registers
and deregisters exactly the instances that came and went. Its cloud names are
derived (AWS allows 32 characters): stable from run to run, unique per
environment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from provisioner.spec.addresses import ResourceKind
from provisioner.spec.diagnostics import Diagnostic
from provisioner.spec.kind import CheckContext, Link, Share, SpecKind, dangling, duplicates
from provisioner.spec.kinds.security_group import SECURITY_GROUP, SECURITY_GROUPS
from provisioner.spec.kinds.subnet import SUBNET, SUBNETS, availability_zone
from provisioner.spec.kinds.vm import VM, VMS
from provisioner.spec.model import Environment, SpecModel

LB = ResourceKind.declare("lb", depends_on=(SUBNET, SECURITY_GROUP, VM))

# ELBv2 names: at most 32 letters, digits and '-'; a derived one ends with 8 hex characters.
_LONGEST_NAME = 32
_SUFFIX = 8
_FEWEST_ZONES = 2
Protocol = Literal["HTTP"]


class HealthCheckSpec(SpecModel):
    """How the target group checks a target: GET `path` every `interval` seconds."""

    path: str = "/"
    interval: int = Field(default=30, ge=5, le=300, strict=True)
    timeout: int = Field(default=5, ge=2, le=120, strict=True)
    healthy_threshold: int = Field(default=5, ge=2, le=10, strict=True)
    unhealthy_threshold: int = Field(default=2, ge=2, le=10, strict=True)

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"a health check path starts with '/', not '{path}'")
        return path

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> HealthCheckSpec:
        if self.timeout >= self.interval:
            raise ValueError(
                f"the timeout ({self.timeout}s) must be shorter than the interval "
                f"({self.interval}s)"
            )
        return self


class ListenerSpec(SpecModel):
    """A port the load balancer listens on, forwarding to its target group."""

    port: int = Field(ge=1, le=65535, strict=True)
    protocol: Protocol = "HTTP"


class TargetGroupSpec(SpecModel):
    """Where the listeners forward: `port` on every instance of the VM group `targets`."""

    port: int = Field(ge=1, le=65535, strict=True)
    protocol: Protocol = "HTTP"
    targets: str
    health_check: HealthCheckSpec = Field(default_factory=HealthCheckSpec)


class LoadBalancerSpec(SpecModel):
    """An application load balancer."""

    subnets: list[str] = Field(min_length=1)
    security_groups: list[str] = Field(default_factory=list)
    internal: bool = True
    listeners: list[ListenerSpec] = Field(min_length=1)
    target_group: TargetGroupSpec
    tags: dict[str, str] = Field(default_factory=dict)


def _derived(readable: str, seed: str) -> str:
    """`readable` cut to fit, then 8 hex characters of sha256(`seed`)."""
    suffix = hashlib.sha256(seed.encode()).hexdigest()[:_SUFFIX]
    kept = readable[: _LONGEST_NAME - _SUFFIX - 1].rstrip("-")
    # AWS refuses a load balancer name that begins with `internal-`.
    kept = f"lb-{kept}"[: _LONGEST_NAME - _SUFFIX - 1] if kept.startswith("internal") else kept
    return f"{kept}-{suffix}"


def load_balancer_name(environment: str, name: str) -> str:
    """The load balancer's name in the cloud: `ENV-NAME-SUFFIX`."""
    return _derived(f"{environment}-{name}", f"{environment}/{name}")


def target_group_name(environment: str, name: str, group: TargetGroupSpec) -> str:
    """The target group's name: a new port or protocol is a new name, so its replacement is
    made before the old one goes (a listener forwards to one of them at every moment)."""
    seed = f"{environment}/{name}/{group.protocol}/{group.port}"
    return _derived(f"{environment}-{name}", seed)


def _check(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    subnets, groups = SUBNETS.in_reach(env, ctx), SECURITY_GROUPS.in_reach(env, ctx)
    for name, balancer in LOAD_BALANCERS.items(env).items():
        path = ("load_balancers", name)
        known = [subnets[s] for s in dict.fromkeys(balancer.subnets) if s in subnets]
        zones = {availability_zone(env, subnet) for subnet in known}
        if len(known) == len(set(balancer.subnets)) and len(zones) < _FEWEST_ZONES:
            yield ctx.problem(
                (*path, "subnets"),
                f"a load balancer needs subnets in at least {_FEWEST_ZONES} availability zones, "
                f"these are all in {', '.join(sorted(zones))}",
            )
        networks = sorted({subnet.network for subnet in known})
        if len(networks) > 1:
            yield ctx.problem(
                (*path, "subnets"), f"the subnets are in several networks: {', '.join(networks)}"
            )
        for index, group_name in enumerate(balancer.security_groups):
            group = groups.get(group_name)
            if group is not None and len(networks) == 1 and group.network != networks[0]:
                yield ctx.problem(
                    (*path, "security_groups", index),
                    f"security group '{group_name}' is in network '{group.network}', "
                    f"not '{networks[0]}'",
                )
        yield from duplicates(ctx, (*path, "subnets"), balancer.subnets)
        yield from duplicates(ctx, (*path, "security_groups"), balancer.security_groups)
        seen: set[int] = set()
        for index, listener in enumerate(balancer.listeners):
            if listener.port in seen:
                yield ctx.problem(
                    (*path, "listeners", index, "port"),
                    f"port {listener.port} has a listener already",
                )
            seen.add(listener.port)
        targets = (*path, "target_group", "targets")
        yield from dangling(ctx, targets, "vms", "VM group", balancer.target_group.targets)
        group_of_vms = VMS.items(env).get(balancer.target_group.targets)
        vm_subnet = subnets.get(group_of_vms.subnet) if group_of_vms is not None else None
        if vm_subnet is not None and len(networks) == 1 and vm_subnet.network != networks[0]:
            yield ctx.problem(
                targets,
                f"VM group '{balancer.target_group.targets}' is in network "
                f"'{vm_subnet.network}', not '{networks[0]}'",
            )


def _shares(section: str, balancers: Mapping[str, Any], spec: Mapping[str, Any]) -> list[Share]:
    """A load balancer makes itself, a target group, its listeners and one registration per
    instance of its VM group."""
    raw_groups = spec.get("vms")
    vm_groups: Mapping[str, Any] = raw_groups if isinstance(raw_groups, dict) else {}
    shares = []
    for name, balancer in balancers.items():
        if not isinstance(balancer, dict):
            continue
        listeners = balancer.get("listeners")
        target_group = balancer.get("target_group")
        targets = target_group.get("targets") if isinstance(target_group, dict) else None
        group = vm_groups.get(targets) if isinstance(targets, str) else None
        count = group.get("count", 1) if isinstance(group, dict) else 0
        count = count if isinstance(count, int) and not isinstance(count, bool) else 0
        made = 2 + (len(listeners) if isinstance(listeners, list) else 0) + max(count, 0)
        shares.append(Share((section, name), "a load balancer and its parts", made))
    return shares


LOAD_BALANCERS = SpecKind(
    LB,
    "load_balancers",
    LoadBalancerSpec,
    attributes=frozenset({"dns_name", "arn"}),
    links=(
        Link("subnets", "subnets", "subnet", external=True),
        Link("security_groups", "security_groups", "security group", external=True),
    ),
    check=_check,
    shares=_shares,
)
