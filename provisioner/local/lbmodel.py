"""What a load balancer of the local cloud should be: its addresses, listeners and target groups.

Read from moto's ELBv2 state (see load_balancers.py), rendered into an HAProxy
configuration (see haproxy.py). Plain frozen values, so a pass can compare the
load balancer it wants with the one it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from provisioner.local.vpcnet import Attachment, short_id


class HealthCheckProtocol(StrEnum):
    """How a target group checks its targets: an HTTP request, or a TCP connection."""

    HTTP = "HTTP"
    TCP = "TCP"


@dataclass(frozen=True)
class HealthCheck:
    """A target group's health check, in AWS's terms."""

    enabled: bool = True
    protocol: HealthCheckProtocol = HealthCheckProtocol.HTTP
    path: str = "/"
    port: int | None = None  # None: the target's own (traffic) port
    interval_seconds: int = 30
    timeout_seconds: int = 5
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2
    success_codes: str = "200"  # AWS's matcher: "200", "200,302" or "200-299"


@dataclass(frozen=True)
class Target:
    """A registered target that can take traffic: its id, and where it listens."""

    target_id: str  # an instance id, or the address of an `ip` target
    address: str
    port: int

    @property
    def server(self) -> str:
        """Its server name in the HAProxy backend."""
        return f"{self.target_id}_{self.port}"


@dataclass(frozen=True)
class TargetGroup:
    arn: str
    health_check: HealthCheck
    targets: tuple[Target, ...]

    @property
    def backend(self) -> str:
        return backend_name(self.arn)


def backend_name(target_group_arn: str) -> str:
    """The HAProxy backend of a target group: named by the id at the end of its ARN."""
    return f"tg-{short_id(target_group_arn.rsplit('/', 1)[-1], 16)}"


@dataclass(frozen=True)
class Listener:
    """An HTTP listener; it forwards to a target group, or answers 503 without one."""

    port: int
    target_group_arn: str | None

    @property
    def frontend(self) -> str:
        return f"listener-{self.port}"


@dataclass(frozen=True)
class LoadBalancer:
    """One application load balancer: an address in each of its subnets, and what it serves."""

    arn: str
    vpc_id: str
    attachments: tuple[Attachment, ...]
    listeners: tuple[Listener, ...]
    target_groups: tuple[TargetGroup, ...]

    @property
    def lb_id(self) -> str:
        """The id at the end of its ARN (`.../app/NAME/ID`)."""
        return self.arn.rsplit("/", 1)[-1]

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(attachment.address for attachment in self.attachments)
