"""The order in which the suite's modules are handed to the workers.

`make test` runs three pytest-xdist workers with `--dist loadfile`: each module
runs whole on one worker (its tests share one environment, in order), and
modules are handed out in collection order to whichever worker is free. The
integration modules that take longest go first, so that no long one starts
last while the other worker has nothing left to do. A module not listed here
keeps its place after them.
"""

from __future__ import annotations

import pytest

LONGEST_FIRST = (
    "tests/integration/test_crash_recovery.py",
    "tests/integration/test_hosts.py",
    "tests/integration/test_guarantees.py",
    "tests/integration/test_three_tier.py",
    "tests/integration/test_live_changes.py",
    "tests/integration/test_three_tier_failures.py",
    "tests/integration/test_environments_in_use.py",
    "tests/integration/test_cloud_lifecycle.py",
    "tests/integration/test_local_cloud_lifecycle.py",
    "tests/integration/test_cloud_faults.py",
    "tests/integration/test_local_load_balancer.py",
    "tests/integration/test_local_database.py",
    "tests/integration/test_dns.py",
    "tests/integration/test_buckets.py",
    "tests/integration/test_cli_lifecycle.py",
    "tests/integration/test_failed_runs.py",
    "tests/integration/test_parallelism.py",
    "tests/integration/test_crash_teardown.py",
    "tests/integration/test_drift.py",
    "tests/integration/test_state_stores.py",
    "tests/integration/test_local_network_plane.py",
    "tests/integration/test_host_fanout.py",
    "tests/integration/test_pulumi_engine_roundtrip.py",
    "tests/integration/test_local_cloud.py",
    "tests/integration/test_cli_graph.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {module: place for place, module in enumerate(LONGEST_FIRST)}
    # A stable sort: the tests of one module keep their order.
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
