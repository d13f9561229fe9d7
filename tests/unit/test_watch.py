"""One tick of `provision watch` (in-process, over the fake cloud of the operations' tests):
drift found or not, put back only when that is all an `up` would do, a held lock skipped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provisioner.engine import operations
from provisioner.engine.events import EventSink
from provisioner.engine.locking import LockHolder, locked
from provisioner.engine.watch import WatchOutcome, check, read_ticks, why_not_remediate
from provisioner.graph import CompiledEnvironment, compile_source
from provisioner.plan import Action, Plan, ResourceChange
from provisioner.spec import resolve_environment
from provisioner.spec.addresses import ResourceAddress
from tests.unit.fake_backends import FakeCloud, FakeSetup
from tests.unit.test_operations import Answers, RecordingView

ENVIRONMENTS = Path(__file__).resolve().parent / "two_tier" / "environments"  # a fixture


@pytest.fixture(scope="module")
def dev() -> CompiledEnvironment:
    return compile_source(resolve_environment("dev", ENVIRONMENTS))


def change(address: str, action: Action) -> ResourceChange:
    return ResourceChange(ResourceAddress.parse(address), action)


class DriftingCloud(FakeCloud):
    """A fake cloud whose drift check finds `vm.web[0]` changed out of band."""

    drifted = True

    def drift(self, sink: EventSink) -> Plan:
        self.calls.append("drift")
        found = (change("vm.web[0]", Action.UPDATE),) if self.drifted else ()
        return Plan("dev", found)


def applied(dev: CompiledEnvironment, tmp_path: Path) -> FakeSetup:
    setup = FakeSetup(dev, DriftingCloud(dev.graph), tmp_path)
    view = RecordingView(setup)
    operations.up(setup, view, Answers(), saved=None, rollback=True, parallelism=4)
    return setup


def test_only_updates_with_the_applied_spec_are_put_back() -> None:
    updates = Plan("dev", (change("vm.web[0]", Action.UPDATE),))
    assert why_not_remediate(updates, "d1", "d1") is None
    assert why_not_remediate(updates, "d2", "d1") == (
        "the spec or its playbooks changed since the last successful up"
    )
    assert why_not_remediate(updates, "d1", None) == (
        "no successful up is recorded to compare the spec with"
    )
    more = Plan("dev", (change("vm.web[0]", Action.REPLACE), change("sg.web", Action.DELETE)))
    assert why_not_remediate(more, "d1", "d1") == (
        "the plan does more than put back what drifted: sg.web (delete), vm.web[0] (replace)"
    )


def test_drift_is_reported_and_put_back_only_with_remediate(
    dev: CompiledEnvironment, tmp_path: Path
) -> None:
    setup = applied(dev, tmp_path)
    seen = check(setup, RecordingView(setup), remediate=False, parallelism=4)
    assert seen.outcome is WatchOutcome.DRIFTED and seen.drift_run and seen.up_run is None
    assert "apply" not in setup.cloud.calls[-2:]
    fixed = check(setup, RecordingView(setup), remediate=True, parallelism=4)
    assert fixed.outcome is WatchOutcome.REMEDIATED and fixed.up_run
    assert isinstance(setup.cloud, DriftingCloud)
    setup.cloud.drifted = False
    assert check(setup, RecordingView(setup), remediate=True, parallelism=4).outcome is (
        WatchOutcome.NO_DRIFT
    )
    recorded = read_ticks(setup.runs_root(), "dev")  # every tick, newest first
    assert [t.outcome for t in recorded] == [
        WatchOutcome.NO_DRIFT,
        WatchOutcome.REMEDIATED,
        WatchOutcome.DRIFTED,
    ]
    assert recorded[1] == fixed


def test_a_held_lock_skips_the_tick_and_names_its_holder(
    dev: CompiledEnvironment, tmp_path: Path
) -> None:
    setup = applied(dev, tmp_path)
    holder = LockHolder("here", os.getpid(), "2026-12-01T00:00:00", "provision up dev", "r1")
    calls = len(setup.cloud.calls)
    with locked(setup.lock(), holder):
        tick = check(setup, RecordingView(setup), remediate=True, parallelism=4)
    assert tick.outcome is WatchOutcome.LOCKED
    assert tick.detail == f"locked by `provision up dev` (pid {os.getpid()} on here)"
    assert len(setup.cloud.calls) == calls  # nothing ran
    assert read_ticks(setup.runs_root(), "dev") == [tick]  # recorded, with its holder
