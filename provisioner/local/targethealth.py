"""Target health as HAProxy sees it, answered by the local cloud's DescribeTargetHealth.

moto says `healthy` of every registered, running target. The daemon replaces
moto's per-target health lookup with one that consults a `TargetHealthTable`,
which the load-balancer realizer fills each pass from HAProxy's stats socket
(under moto's lock, like every read and write of moto's state).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from provisioner.local.haproxy import ServerStatus
from provisioner.local.lbmoto import forwarded_groups


class TargetHealthState(StrEnum):
    """AWS's target health states."""

    INITIAL = "initial"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    UNUSED = "unused"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class TargetHealth:
    state: TargetHealthState
    reason: str | None = None
    description: str | None = None


INITIAL = TargetHealth(
    TargetHealthState.INITIAL, "Elb.InitialHealthChecking", "Initial health checks in progress"
)
NOT_IN_USE = TargetHealth(
    TargetHealthState.UNUSED,
    "Target.NotInUse",
    "Target group is not configured to receive traffic from the load balancer",
)
_CHECKS_DISABLED = TargetHealth(
    TargetHealthState.UNAVAILABLE,
    "Target.HealthCheckDisabled",
    "Health checks are disabled for the target group",
)
_TIMEOUTS = ("L4TOUT", "L6TOUT", "L7TOUT")


def health_of(server: ServerStatus) -> TargetHealth:
    """AWS's word for what HAProxy says of a server."""
    if server.status == "no check":
        return _CHECKS_DISABLED
    if server.check_status == "INI":
        return INITIAL
    if server.status.startswith(("UP", "NOLB", "DRAIN")):
        return TargetHealth(TargetHealthState.HEALTHY)
    if server.check_status == "L7STS":
        return TargetHealth(
            TargetHealthState.UNHEALTHY,
            "Target.ResponseCodeMismatch",
            f"Health checks failed with these codes: [{server.check_code}]",
        )
    if server.check_status in _TIMEOUTS:
        return TargetHealth(TargetHealthState.UNHEALTHY, "Target.Timeout", "Request timed out")
    return TargetHealth(
        TargetHealthState.UNHEALTHY, "Target.FailedHealthChecks", "Health checks failed"
    )


TargetKey = tuple[str, int]  # (target id, port)


class TargetHealthTable:
    """The health of each target of each target group that a running HAProxy serves."""

    def __init__(self) -> None:
        self._groups: dict[str, dict[TargetKey, TargetHealth]] = {}

    def replace(self, groups: dict[str, dict[TargetKey, TargetHealth]]) -> None:
        """Put in what this pass saw (call it under moto's lock)."""
        self._groups = {arn: dict(targets) for arn, targets in groups.items()}

    def lookup(self, group_arn: str, key: TargetKey, *, in_use: bool) -> TargetHealth:
        """A registered target's health; `in_use`: a load balancer forwards to its group."""
        targets = self._groups.get(group_arn)
        if targets is None:
            return INITIAL if in_use else NOT_IN_USE
        return targets.get(key, INITIAL)

    def install(self) -> None:
        """Make this process's moto answer target health from this table."""
        from moto.elbv2 import models  # the daemon serves moto in-process

        original = getattr(models.FakeTargetGroup.health_for, "moto_health_for", None)
        original = original or models.FakeTargetGroup.health_for
        table = self

        def health_for(group: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
            status = original(group, target, ec2_backend)
            if status.status != "healthy":  # not registered, or not running: moto knows
                return status
            seen = table.lookup(
                group.arn, (status.instance_id, int(status.port)), in_use=_in_use(models, group)
            )
            return models.FakeHealthStatus(
                status.instance_id,
                status.port,
                status.health_check_port,
                str(seen.state),
                seen.reason,
                seen.description,
            )

        health_for.moto_health_for = original  # type: ignore[attr-defined]
        setattr(models.FakeTargetGroup, "health_for", health_for)  # noqa: B010 - patch moto


def _in_use(models: Any, group: Any) -> bool:
    """True if a load balancer that still exists has a listener for this target group."""
    balancers = models.elbv2_backends[group.account_id][group.region_name].load_balancers
    return any(
        arn in balancers
        and any(
            group.arn in forwarded_groups(listener)
            for listener in balancers[arn].listeners.values()
        )
        for arn in group.load_balancer_arns
    )
