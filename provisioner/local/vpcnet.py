"""VPC networks of the local cloud: one namespace per VPC, one bridge per subnet.

A VPC is a network namespace with a bridge for each subnet (the subnet's first
address is its gateway) and forwarding between them. Anything that has an
address in a subnet (a host, a load balancer, a database) is a namespace of its
own, plugged into the subnet's bridge by a veth pair: `peer` on the bridge in
the VPC namespace, `device` (`eth0`, `eth1`, ...) in its own namespace.

Namespace names carry a prefix made from the state folder, so two local clouds
on one machine never touch each other's. Nothing is added to the machine's main
namespace, so it has no route to any VPC address.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provisioner.local import netns


def short_id(resource_id: str, size: int = 10) -> str:
    """A stable short name for an id: its hex part, or a hash when that is too long."""
    tail = resource_id.split("-", 1)[-1]
    return tail[:size] if len(tail) <= 17 else hashlib.sha256(tail.encode()).hexdigest()[:size]


def resolver_address(vpc_cidr: str) -> str:
    """Where a VPC's DNS resolver answers: its base address + 2, as on AWS."""
    return str(ipaddress.IPv4Network(vpc_cidr).network_address + 2)


@dataclass(frozen=True)
class Attachment:
    """One address of a namespace in a subnet of a VPC."""

    vpc_id: str
    subnet_id: str
    subnet_cidr: str
    address: str
    peer: str  # the veth end on the subnet's bridge, in the VPC namespace
    device: str = "eth0"  # the end inside the attached namespace

    @property
    def bridge(self) -> str:
        return f"br-{short_id(self.subnet_id, 8)}"

    @property
    def gateway(self) -> str:
        return str(ipaddress.IPv4Network(self.subnet_cidr).network_address + 1)


class VpcNetworks:
    """Creates VPC namespaces and plugs other namespaces into their subnets."""

    def __init__(self, state_root: Path) -> None:
        self.prefix = "p" + hashlib.sha256(str(state_root.resolve()).encode()).hexdigest()[:6]
        # Runs once a namespace is plugged in, before anything in it starts (the
        # daemon applies security groups here, so no packet reaches it unfiltered).
        self.on_attach: Callable[[], None] = lambda: None

    def vpc_namespace(self, vpc_id: str) -> str:
        return f"{self.prefix}-vpc-{short_id(vpc_id)}"

    def namespace(self, kind: str, resource_id: str) -> str:
        """The namespace of one resource of this cloud, e.g. ("host", "i-0abc...")."""
        return f"{self.prefix}-{kind}-{short_id(resource_id)}"

    def vpc_namespaces(self) -> set[str]:
        """The VPC namespaces of this cloud."""
        return {name for name in netns.namespaces() if name.startswith(f"{self.prefix}-vpc-")}

    def attach(self, namespace: str, attachment: Attachment, *, default_route: bool) -> None:
        """Plug `namespace` into the attachment's subnet, with its address (idempotent)."""
        subnet = ipaddress.IPv4Network(attachment.subnet_cidr)
        vpc = self.vpc_namespace(attachment.vpc_id)
        netns.add_namespace(vpc)
        netns.in_namespace(vpc, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        netns.add_bridge(vpc, attachment.bridge, f"{attachment.gateway}/{subnet.prefixlen}")
        netns.add_namespace(namespace)
        netns.add_veth(vpc, attachment.bridge, attachment.peer, namespace, attachment.device)
        address = f"{attachment.address}/{subnet.prefixlen}"
        if address not in netns.ip("-4", "addr", "show", attachment.device, namespace=namespace):
            netns.ip("addr", "add", address, "dev", attachment.device, namespace=namespace)
        netns.ip("link", "set", attachment.device, "up", namespace=namespace)
        if default_route:
            netns.ip("route", "replace", "default", "via", attachment.gateway, namespace=namespace)
        self.on_attach()

    def detach(self, namespace: str, attachments: list[Attachment]) -> None:
        """Stop every process of `namespace`, unplug it and delete it."""
        stop_all(namespace)
        for attachment in attachments:
            netns.delete_link(self.vpc_namespace(attachment.vpc_id), attachment.peer)
        netns.delete_namespace(namespace)

    def remove_vpc_namespace(self, name: str) -> None:
        """Remove a VPC namespace (and anything still running in it)."""
        stop_all(name)
        netns.delete_namespace(name)


def stop_all(namespace: str, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, every process in `namespace`."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        for pid in netns.pids(namespace):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        deadline = time.monotonic() + grace
        while netns.pids(namespace) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not netns.pids(namespace):
            return
