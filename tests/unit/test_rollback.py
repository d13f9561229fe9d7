"""Rollback of a failed `up`, with in-process backends: what is deleted, what is kept, and
what the error says."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.engine.events import ListSink, Phase, PhaseFinished
from provisioner.engine.orchestrator import Orchestrator
from provisioner.errors import RunFailedError
from provisioner.graph import CompiledEnvironment, compile_source
from provisioner.spec import resolve_environment

from .fake_backends import FakeCloud, FakeHosts

ENVIRONMENTS = Path(__file__).resolve().parent / "two_tier" / "environments"  # a fixture
# dev's cloud nodes in the order an apply creates them; the first six exist already below.
EXISTING = (
    "bucket.assets",
    "network.main",
    "key.deploy",
    "subnet.private-a",
    "subnet.public-a",
    "sg.web",
)
WEB_VMS = ("vm.web[0]", "vm.web[1]")


@pytest.fixture(scope="module")
def dev() -> CompiledEnvironment:
    return compile_source(resolve_environment("dev", ENVIRONMENTS))


def up(
    dev: CompiledEnvironment, cloud: FakeCloud, hosts: FakeHosts, *, rollback: bool = True
) -> RunFailedError:
    """Run `up` to its failure and return the error it raised."""
    orchestrator = Orchestrator("dev", dev.graph, cloud, ListSink(), hosts)
    planned = orchestrator.plan(hosts=False)
    with pytest.raises(RunFailedError) as failure:
        orchestrator.up(planned, rollback=rollback)
    return failure.value


def test_a_failed_apply_deletes_what_the_run_created_dependents_first_and_keeps_the_rest(
    dev: CompiledEnvironment,
) -> None:
    cloud = FakeCloud(dev.graph, existing=EXISTING, fail_at="vm.db[0]")
    hosts = FakeHosts()
    error = up(dev, cloud, hosts)
    assert cloud.deleted == ["vm.web[1]", "vm.web[0]", "sg.db"]
    assert sorted(error.rolled_back) == sorted(cloud.deleted) == sorted(error.created)
    assert {str(a) for a in cloud.recorded_addresses()} == set(EXISTING)
    # The web VMs' roles ran before the failure; their hosts are released with them.
    assert sorted(hosts.released) == sorted(f"id-{vm}" for vm in WEB_VMS)
    assert str(error).startswith("up failed: vm.db[0]: boom; rolled back the 3 resources")
    assert error.exit_code == 1


def test_a_resource_created_without_an_event_is_rolled_back_too(
    dev: CompiledEnvironment,
) -> None:
    cloud = FakeCloud(dev.graph, existing=EXISTING, fail_at="vm.db[0]", unreported=["sg.db"])
    error = up(dev, cloud, FakeHosts())
    assert "sg.db" in error.rolled_back
    assert {str(a) for a in cloud.recorded_addresses()} == set(EXISTING)


def test_a_failing_role_rolls_back_everything_the_run_created(dev: CompiledEnvironment) -> None:
    cloud = FakeCloud(dev.graph)
    hosts = FakeHosts(fail=["software.db@vm.db[0]"])
    error = up(dev, cloud, hosts)
    assert error.cause.startswith("software.db@vm.db[0] failed: task 'x' failed")
    assert cloud.recorded == {} and len(cloud.deleted) == len(cloud.order)
    assert sorted(hosts.released) == sorted(f"id-{vm}" for vm in (*WEB_VMS, "vm.db[0]"))
    assert "software.web@vm.web[0]" not in hosts.configured  # it depends on the db role


def test_no_rollback_keeps_what_the_run_created(dev: CompiledEnvironment) -> None:
    cloud = FakeCloud(dev.graph, existing=EXISTING, fail_at="vm.db[0]")
    hosts = FakeHosts()
    error = up(dev, cloud, hosts, rollback=False)
    assert cloud.deleted == [] and error.rolled_back == []
    assert sorted(error.created) == ["sg.db", "vm.web[0]", "vm.web[1]"]
    assert {str(a) for a in cloud.recorded_addresses()} == {*EXISTING, *error.created}
    assert hosts.released == []
    assert "kept the 3 resources it created (--no-rollback)" in str(error)


def test_an_interrupt_cancels_the_cloud_operation_then_rolls_back(
    dev: CompiledEnvironment,
) -> None:
    cloud = FakeCloud(dev.graph, existing=EXISTING, interrupt_at="vm.web[1]")
    error = up(dev, cloud, FakeHosts())
    calls = cloud.calls
    assert calls.index("cancel") < calls.index("recover") < calls.index("destroy_only")
    assert error.cause == "interrupted" and error.exit_code == 130
    assert cloud.deleted == ["vm.web[0]", "sg.db"]
    assert {str(a) for a in cloud.recorded_addresses()} == set(EXISTING)


def test_a_rollback_that_fails_is_reported_with_what_it_kept(dev: CompiledEnvironment) -> None:
    cloud = FakeCloud(dev.graph, existing=EXISTING, fail_at="vm.db[0]", rollback_fails=True)
    sink = ListSink()
    orchestrator = Orchestrator("dev", dev.graph, cloud, sink, FakeHosts())
    with pytest.raises(RunFailedError) as failure:
        orchestrator.up(orchestrator.plan(hosts=False))
    error = failure.value
    assert error.rollback_error == "the rollback's destroy failed"
    assert error.rolled_back == [] and sorted(error.created) == ["sg.db", "vm.web[0]", "vm.web[1]"]
    assert "rollback failed (the rollback's destroy failed); kept: " in str(error)
    phases = [e for e in sink.events if isinstance(e, PhaseFinished)]
    assert [(e.phase, e.ok) for e in phases if e.phase is Phase.ROLLBACK] == [
        (Phase.ROLLBACK, False)
    ]
