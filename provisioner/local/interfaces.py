"""Network interfaces that the data plane makes in moto for managed resources.

Like AWS's requester-managed interfaces: a load balancer gets one in each of its
subnets, a database one in a subnet of its subnet group. Their addresses come
from the subnet's own allocator, the one instances draw from, and go back to it
with the interface, so no instance ever gets the same one (an interface made
without an address gets a random one from moto, which an instance may hold).
Each carries `OWNER_TAG` (the resource's ARN) and `NAMESPACE_TAG` (the namespace
that holds the address), which is how the firewall and the resolver find them.

Call these with moto's lock held (see dataplane.MotoReader): they read and
change moto's in-process backends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from moto.ec2.exceptions import InvalidSubnetIdError

OWNER_TAG = "local:owner"
NAMESPACE_TAG = "local:namespace"


@dataclass(frozen=True)
class ManagedInterface:
    """One address of a managed resource in one subnet."""

    interface_id: str
    owner: str
    namespace: str
    vpc_id: str
    subnet_id: str
    subnet_cidr: str
    address: str
    group_ids: tuple[str, ...]


def ec2_backends() -> Iterator[Any]:
    """moto's EC2 backend of every account and region that has been used."""
    from moto.ec2.models import ec2_backends as backends  # the daemon serves moto in-process

    for _account, regions in list(backends.items()):
        yield from list(regions.values())


def managed_interfaces(ec2: Any) -> list[ManagedInterface]:
    """Every interface the data plane made in this EC2 backend."""
    found = []
    for eni in list(ec2.enis.values()):
        tags = ec2.tags.get(eni.id, {})
        if OWNER_TAG not in tags:
            continue
        found.append(
            ManagedInterface(
                interface_id=eni.id,
                owner=tags[OWNER_TAG],
                namespace=tags.get(NAMESPACE_TAG, ""),
                vpc_id=eni.subnet.vpc_id,
                subnet_id=eni.subnet.id,
                subnet_cidr=eni.subnet.cidr_block,
                address=eni.private_ip_address,
                group_ids=tuple(group.id for group in eni.group_set),
            )
        )
    return found


def ensure_interface(
    ec2: Any,
    *,
    owner: str,
    namespace: str,
    subnet_id: str,
    group_ids: list[str],
    description: str,
) -> ManagedInterface:
    """The owner's interface in `subnet_id` with `group_ids`, made (with a fresh address) if none.

    An existing interface keeps its address; its groups follow `group_ids`.
    """
    for interface in managed_interfaces(ec2):
        if interface.owner == owner and interface.subnet_id == subnet_id:
            if group_ids and sorted(interface.group_ids) != sorted(group_ids):
                ec2.modify_network_interface_attribute(interface.interface_id, group_ids)
                return replace(interface, group_ids=tuple(group_ids))
            return interface
    subnet = ec2.get_subnet(subnet_id)
    ec2.create_network_interface(
        subnet,
        subnet.get_available_subnet_ip(owner),  # recorded as taken, as an instance's is
        group_ids=group_ids,
        description=description,
        tags={OWNER_TAG: owner, NAMESPACE_TAG: namespace},
    )
    return next(i for i in managed_interfaces(ec2) if i.owner == owner and i.subnet_id == subnet_id)


def remove_interfaces(ec2: Any, owner: str, keep: frozenset[str] = frozenset()) -> None:
    """Delete the owner's interfaces, except those in the subnets of `keep`.

    moto deletes a subnet that still holds interfaces (AWS would refuse): then
    there is no allocator to give the address back to.
    """
    for interface in managed_interfaces(ec2):
        if interface.owner == owner and interface.subnet_id not in keep:
            ec2.delete_network_interface(interface.interface_id)
            with contextlib.suppress(InvalidSubnetIdError):
                ec2.get_subnet(interface.subnet_id).del_subnet_ip(interface.address)
