"""Reads moto's ELBv2 state into the load balancers the local cloud should run.

Each application load balancer gets an address in each of its subnets from a
managed network interface (see interfaces.py: moto's own address allocation, so
no instance gets the same address). Reading makes the missing interfaces and
removes those of deleted load balancers and dropped subnets, so call it with
moto's lock held (see dataplane.MotoReader).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from provisioner.local.interfaces import ensure_interface, managed_interfaces, remove_interfaces
from provisioner.local.lbmodel import (
    HealthCheck,
    HealthCheckProtocol,
    Listener,
    LoadBalancer,
    Target,
    TargetGroup,
)
from provisioner.local.vpcnet import Attachment, VpcNetworks, short_id

log = logging.getLogger(__name__)

LB_ARN_MARK = ":loadbalancer/app/"  # in the ARN of every application load balancer
NAMESPACE_KIND = "lb"
_unserved: set[str] = set()  # listeners already logged as not served (each pass reads them)


def moto_load_balancers(networks: VpcNetworks) -> list[LoadBalancer]:
    """Every application load balancer in moto, with its addresses (made if missing)."""
    found = []
    for elbv2 in _elbv2_backends():
        ec2 = elbv2.ec2_backend
        for balancer in list(elbv2.load_balancers.values()):
            if LB_ARN_MARK in balancer.arn:
                found.append(_load_balancer(elbv2, ec2, balancer, networks))
        live = set(elbv2.load_balancers)
        for interface in managed_interfaces(ec2):
            if LB_ARN_MARK in interface.owner and interface.owner not in live:
                ec2.delete_network_interface(interface.interface_id)
    return found


def remove_all_interfaces() -> None:
    """Delete every load balancer's interface (the data plane is going away)."""
    for elbv2 in _elbv2_backends():
        for interface in managed_interfaces(elbv2.ec2_backend):
            if LB_ARN_MARK in interface.owner:
                elbv2.ec2_backend.delete_network_interface(interface.interface_id)


def forwarded_groups(listener: Any) -> list[str]:
    """The ARNs of the target groups a moto listener forwards to, in any of its rules."""
    found: list[str] = []
    for rule in listener.rules.values():
        for action in rule.actions:
            for arn in _forward_targets(action):
                if arn not in found:
                    found.append(arn)
    return found


def _elbv2_backends() -> Iterator[Any]:
    from moto.elbv2.models import elbv2_backends  # the daemon serves moto in-process

    for _account, regions in list(elbv2_backends.items()):
        yield from list(regions.values())


def _forward_targets(action: Any) -> list[str]:
    if action.type != "forward":
        return []
    if action.data.get("TargetGroupArn"):
        return [action.data["TargetGroupArn"]]
    groups = (action.data.get("ForwardConfig") or {}).get("TargetGroups") or []
    return [group["TargetGroupArn"] for group in groups]


def _load_balancer(elbv2: Any, ec2: Any, balancer: Any, networks: VpcNetworks) -> LoadBalancer:
    lb_id = balancer.arn.rsplit("/", 1)[-1]
    namespace = networks.namespace(NAMESPACE_KIND, lb_id)
    groups = [str(group) for group in balancer.security_groups]
    attachments = []
    for index, subnet in enumerate(balancer.subnets):
        interface = ensure_interface(
            ec2,
            owner=balancer.arn,
            namespace=namespace,
            subnet_id=subnet.id,
            group_ids=groups,
            description=f"ELB {balancer.arn.split(':loadbalancer/', 1)[1]}",
        )
        if groups and set(interface.group_ids) != set(groups):  # the balancer's groups changed
            ec2.modify_network_interface_attribute(interface.interface_id, group_ids=groups)
        attachments.append(
            Attachment(
                vpc_id=str(balancer.vpc_id),
                subnet_id=subnet.id,
                subnet_cidr=subnet.cidr_block,
                address=interface.address,
                peer=f"vl{index}-{short_id(lb_id, 8)}",
                device=f"eth{index}",
            )
        )
    remove_interfaces(ec2, balancer.arn, keep=frozenset(s.id for s in balancer.subnets))
    listeners = []
    group_arns: list[str] = []
    for listener in list(balancer.listeners.values()):
        if (listener.protocol or "HTTP") != "HTTP":
            if listener.arn not in _unserved:
                _unserved.add(listener.arn)
                log.warning("listener %s: only HTTP listeners are served locally", listener.arn)
            continue
        default = [arn for action in listener.default_actions for arn in _forward_targets(action)]
        listeners.append(
            Listener(port=int(listener.port), target_group_arn=next(iter(default), None))
        )
        group_arns += [arn for arn in forwarded_groups(listener) if arn not in group_arns]
    target_groups = tuple(
        _target_group(elbv2.target_groups[arn], ec2)
        for arn in group_arns
        if arn in elbv2.target_groups
    )
    return LoadBalancer(
        arn=balancer.arn,
        vpc_id=str(balancer.vpc_id),
        attachments=tuple(attachments),
        listeners=tuple(listeners),
        target_groups=target_groups,
    )


def _target_group(group: Any, ec2: Any) -> TargetGroup:
    port = group.health_check_port
    matcher = getattr(group, "matcher", None) or {}
    check = HealthCheck(
        enabled=bool(group.health_check_enabled),
        protocol=HealthCheckProtocol.TCP
        if group.health_check_protocol == "TCP"
        else HealthCheckProtocol.HTTP,
        path=group.health_check_path or "/",
        port=None if port in (None, "traffic-port") else int(port),
        interval_seconds=int(group.health_check_interval_seconds),
        timeout_seconds=int(group.health_check_timeout_seconds),
        healthy_threshold=int(group.healthy_threshold_count),
        unhealthy_threshold=int(group.unhealthy_threshold_count),
        success_codes=str(matcher.get("HttpCode") or "200"),
    )
    targets = []
    for registered in list(group.targets.values()):
        address = _target_address(ec2, group.target_type, registered["Id"])
        if address:
            targets.append(Target(registered["Id"], address, int(registered["Port"])))
    return TargetGroup(arn=group.arn, health_check=check, targets=tuple(targets))


def _target_address(ec2: Any, target_type: str, target_id: str) -> str | None:
    """Where a target listens: an `ip` target's own address, or a running instance's."""
    if target_type == "ip":
        return target_id
    instance = ec2.get_instance_by_id(target_id)
    if instance is None or instance.state != "running":
        return None
    return str(instance.private_ip) if instance.private_ip else None
