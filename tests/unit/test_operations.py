"""The engine's operations with in-process backends: the lock, the run record, confirmation,
saved plans, the leftovers of a dead run, and `down` of nothing."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict
from pathlib import Path

import pytest

from provisioner.engine import operations
from provisioner.engine.events import EventSink, ListSink
from provisioner.engine.locking import LockHolder
from provisioner.engine.run_record import RunOutcome, find_run
from provisioner.engine.saved_plan import SavedPlan, StalePlanError
from provisioner.errors import ConfigurationError, ConfirmationError, RunFailedError
from provisioner.graph import CompiledEnvironment, compile_source
from provisioner.plan import Plan
from provisioner.spec import resolve_environment

from .fake_backends import FakeCloud, FakeSetup

ENVIRONMENTS = Path(__file__).resolve().parent / "two_tier" / "environments"  # a fixture


@pytest.fixture(scope="module")
def dev() -> CompiledEnvironment:
    return compile_source(resolve_environment("dev", ENVIRONMENTS))


@pytest.fixture
def setup(dev: CompiledEnvironment, tmp_path: Path) -> FakeSetup:
    return FakeSetup(dev, FakeCloud(dev.graph), tmp_path)


class RecordingView:
    """A view that notes what it was shown, and who held the lock when the plan was shown."""

    def __init__(self, setup: FakeSetup) -> None:
        self.setup = setup
        self.plans: list[Plan] = []
        self.recovered_addresses: list[str] = []
        self.holders: list[LockHolder | None] = []
        self.events = ListSink()

    def busy(self, doing: str) -> AbstractContextManager[None]:
        return nullcontext()

    def recovered(self, addresses: list[str]) -> None:
        self.recovered_addresses.extend(addresses)

    def planned(self, plan: Plan) -> None:
        self.plans.append(plan)
        self.holders.append(self.setup.lock().holder())

    def progress(self) -> AbstractContextManager[EventSink]:
        return nullcontext(self.events)


class Answers:
    """A confirm callback that gives `answer` and counts the questions."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.questions: list[str] = []

    def __call__(self, question: str) -> bool:
        self.questions.append(question)
        return self.answer


def refuse(question: str) -> bool:
    raise AssertionError(f"asked {question!r} without reason")


def up(setup: FakeSetup, confirm: operations.Confirm, **options: object) -> operations.Applied:
    view = RecordingView(setup)
    settings: dict[str, object] = {"saved": None, "rollback": True, "parallelism": 4, **options}
    return operations.up(setup, view, confirm, **settings)  # type: ignore[arg-type]


def test_up_holds_the_lock_while_it_runs_and_releases_it(setup: FakeSetup) -> None:
    view = RecordingView(setup)
    applied = operations.up(setup, view, Answers(), saved=None, rollback=True, parallelism=4)
    [holder] = view.holders
    assert holder is not None and holder.run_id == applied.run_id and holder.pid == os.getpid()
    assert setup.lock().holder() is None
    assert setup.runs[0].closed and setup.stopped == [applied.run_id]
    record = find_run(setup.root / "runs", applied.run_id)
    assert record.outcome is RunOutcome.SUCCEEDED and record.plan == applied.plan
    assert len(view.events.events) > 0  # the apply's events reached the progress display


def test_confirm_is_asked_only_when_something_changes(setup: FakeSetup) -> None:
    first = Answers()
    up(setup, first)
    assert first.questions == ["Apply these changes to dev?"]
    again = up(setup, refuse)  # nothing to change: nothing to ask
    assert not again.plan.has_changes


def test_a_declined_confirmation_changes_nothing_and_is_recorded(setup: FakeSetup) -> None:
    with pytest.raises(ConfirmationError, match="cancelled; nothing was changed"):
        up(setup, Answers(False))
    assert setup.cloud.recorded == {} and "apply" not in setup.cloud.calls
    record = find_run(setup.root / "runs", setup.runs[0].run_dir.name)
    assert record.outcome is RunOutcome.FAILED and record.error == "cancelled; nothing was changed"
    assert setup.lock().holder() is None


def test_a_saved_plan_is_applied_without_asking(setup: FakeSetup, tmp_path: Path) -> None:
    saved = tmp_path / "dev.plan"
    planned = operations.plan(setup, RecordingView(setup), hosts=False, parallelism=4, out=saved)
    applied = up(setup, refuse, saved=SavedPlan.load(saved))
    assert applied.plan == planned.plan and setup.cloud.recorded_addresses()


def test_a_saved_plan_is_refused_once_the_state_changed(setup: FakeSetup, tmp_path: Path) -> None:
    saved = tmp_path / "dev.plan"
    operations.plan(setup, RecordingView(setup), hosts=False, parallelism=4, out=saved)
    up(setup, Answers())  # another run applies first
    with pytest.raises(StalePlanError, match="the state changed since the plan was saved"):
        up(setup, refuse, saved=SavedPlan.load(saved))


def test_a_dead_runs_leftovers_are_stopped_before_anything_runs(
    setup: FakeSetup,
) -> None:
    dead = LockHolder(socket.gethostname(), 2**22 + 1, "2026-01-01T00:00:00Z", "up", "dead-run")
    path = setup.root / "locks" / "dev.lock"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(asdict(dead)))
    setup.cloud.pending = ["vm.web[0]"]
    view = RecordingView(setup)
    applied = operations.up(setup, view, Answers(), saved=None, rollback=True, parallelism=4)
    calls = setup.cloud.calls
    assert calls[0] == "stop_leftovers dead-run" and calls[1] == "recover"
    assert view.recovered_addresses == ["vm.web[0]"]
    events = (setup.root / "runs" / "dev" / applied.run_id / "events.jsonl").read_text()
    assert "took over the lock of run dead-run (pid 4194305), which died; stopped 2 processes" in (
        events
    )


def test_a_failed_up_is_recorded_and_still_stops_what_it_started(
    dev: CompiledEnvironment, tmp_path: Path
) -> None:
    setup = FakeSetup(dev, FakeCloud(dev.graph, fail_at="vm.db[0]"), tmp_path)
    with pytest.raises(RunFailedError):
        up(setup, Answers())
    [run] = setup.runs
    assert run.closed and setup.stopped == [run.run_dir.name]
    assert find_run(tmp_path / "runs", run.run_dir.name).outcome is RunOutcome.FAILED
    assert setup.lock().holder() is None


def test_down_of_nothing_recorded_starts_nothing(setup: FakeSetup) -> None:
    destroyed = operations.down(setup, RecordingView(setup), refuse, parallelism=4)
    assert destroyed.run_id is None and destroyed.plan == Plan("dev")
    assert setup.runs == [] and setup.cloud.calls == []


def test_down_asks_then_deletes_everything(setup: FakeSetup) -> None:
    up(setup, Answers())
    confirm = Answers()
    destroyed = operations.down(setup, RecordingView(setup), confirm, parallelism=4)
    assert confirm.questions == ["Delete every resource of dev?"]
    assert destroyed.plan.summary()["delete"] == 11 and setup.cloud.recorded == {}
    assert setup.hosts.released  # the VMs' hosts are forgotten


def test_drift_and_plan_without_out_take_no_lock(setup: FakeSetup) -> None:
    class LockWatchingView(RecordingView):
        @contextmanager
        def busy(self, doing: str) -> Iterator[None]:
            held.append(self.setup.lock().holder())
            yield

    held: list[LockHolder | None] = []
    view = LockWatchingView(setup)
    found = operations.drift(setup, view, hosts=True, parallelism=4)
    planned = operations.plan(setup, view, hosts=True, parallelism=4, out=None)
    assert held == [None, None]
    assert not found.plan.has_changes and planned.plan.has_changes
    assert len(setup.stopped) == 2


def test_up_refuses_an_upstream_never_applied_and_starts_nothing(
    dev: CompiledEnvironment, tmp_path: Path
) -> None:
    using = CompiledEnvironment(
        dev.source, dev.environment.model_copy(update={"uses": ["network"]}), dev.graph
    )
    setup = FakeSetup(using, FakeCloud(dev.graph), tmp_path, elsewhere={"network": 0})
    with pytest.raises(ConfigurationError) as refused:
        up(setup, refuse)
    assert refused.value.message == "dev uses network, which was never applied; nothing was changed"
    assert refused.value.hint == "`provision up dev --with-deps` applies network first, then dev"
    assert setup.runs == [] and setup.cloud.calls == []
    setup.elsewhere["network"] = 3
    assert up(setup, Answers()).result is not None


def test_down_refuses_while_an_environment_that_uses_it_has_resources(
    setup: FakeSetup,
) -> None:
    up(setup, Answers())
    setup.used_by.extend(["app", "web"])
    setup.elsewhere.update({"app": 4, "web": 0})
    before = dict(setup.cloud.recorded)
    with pytest.raises(ConfigurationError) as refused:
        operations.down(setup, RecordingView(setup), refuse, parallelism=4)
    assert "nothing was deleted: app (4 resources)" in str(refused.value)
    assert "web" not in str(refused.value)
    assert refused.value.hint == (
        "`provision down dev --with-dependents` takes app down first, then dev"
    )
    assert setup.cloud.recorded == before
    setup.elsewhere["app"] = 0
    operations.down(setup, RecordingView(setup), Answers(), parallelism=4)
    assert setup.cloud.recorded == {}
