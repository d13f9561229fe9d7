"""The fault proxy's latency rules: which requests are held back, and for how long."""

from __future__ import annotations

import pytest

from provisioner.local.faultproxy import Faults

CREATES = frozenset({"RunInstances", "CreateVpc"})


@pytest.mark.parametrize(
    ("faults", "action", "held"),
    [
        (Faults(), "RunInstances", False),
        (Faults(latency=1.0), "DescribeVpcs", True),
        (Faults(latency=1.0, latency_actions=CREATES), "RunInstances", True),
        (Faults(latency=1.0, latency_actions=CREATES), "DescribeInstances", False),
        (Faults(latency_step=5.0, latency_actions=CREATES), "CreateVpc", True),
    ],
)
def test_only_the_named_actions_are_held_back(faults: Faults, action: str, held: bool) -> None:
    assert faults.holds(action) is held


@pytest.mark.parametrize(
    ("faults", "delays"),
    [
        (Faults(latency=2.0), [2.0, 2.0, 2.0]),
        (Faults(latency_step=5.0), [0.0, 5.0, 10.0]),
        (Faults(latency=1.0, latency_step=0.5), [1.0, 1.5, 2.0]),
    ],
)
def test_staggered_latency_grows_by_one_step_per_held_request(
    faults: Faults, delays: list[float]
) -> None:
    assert [faults.held_for(order) for order in range(3)] == delays
