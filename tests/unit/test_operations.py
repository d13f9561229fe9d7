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
from provisioner.engine.saved_plan import StalePlanError
from provisioner.errors import ConfirmationError, RunFailedError
from provisioner.graph import CompiledEnvironment, compile_source
from provisioner.plan import Plan
from provisioner.spec import resolve_environment

from .fake_backends import FakeCloud, FakeWorkspace

ENVIRONMENTS = Path(__file__).resolve().parents[2] / "environments"


@pytest.fixture(scope="module")
def dev() -> CompiledEnvironment:
    return compile_source(resolve_environment("dev", ENVIRONMENTS))


@pytest.fixture
def workspace(dev: CompiledEnvironment, tmp_path: Path) -> FakeWorkspace:
    return FakeWorkspace(dev, FakeCloud(dev.graph), tmp_path)


class RecordingView:
    """A view that notes what it was shown, and who held the lock when the plan was shown."""

    def __init__(self, workspace: FakeWorkspace) -> None:
        self.workspace = workspace
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
        self.holders.append(self.workspace.lock().holder())

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


def up(
    workspace: FakeWorkspace, confirm: operations.Confirm, **options: object
) -> operations.Applied:
    view = RecordingView(workspace)
    settings: dict[str, object] = {"saved": None, "rollback": True, "parallelism": 4, **options}
    return operations.up(workspace, view, confirm, **settings)  # type: ignore[arg-type]


def test_up_holds_the_lock_while_it_runs_and_releases_it(workspace: FakeWorkspace) -> None:
    view = RecordingView(workspace)
    applied = operations.up(workspace, view, Answers(), saved=None, rollback=True, parallelism=4)
    [holder] = view.holders
    assert holder is not None and holder.run_id == applied.run_id and holder.pid == os.getpid()
    assert workspace.lock().holder() is None
    assert workspace.runs[0].closed and workspace.stopped == [applied.run_id]
    record = find_run(workspace.root / "runs", applied.run_id)
    assert record.outcome is RunOutcome.SUCCEEDED and record.plan == applied.plan
    assert len(view.events.events) > 0  # the apply's events reached the progress display


def test_confirm_is_asked_only_when_something_changes(workspace: FakeWorkspace) -> None:
    first = Answers()
    up(workspace, first)
    assert first.questions == ["Apply these changes to dev?"]
    again = up(workspace, refuse)  # nothing to change: nothing to ask
    assert not again.plan.has_changes


def test_a_declined_confirmation_changes_nothing_and_is_recorded(workspace: FakeWorkspace) -> None:
    with pytest.raises(ConfirmationError, match="cancelled; nothing was changed"):
        up(workspace, Answers(False))
    assert workspace.cloud.recorded == {} and "apply" not in workspace.cloud.calls
    record = find_run(workspace.root / "runs", workspace.runs[0].run_dir.name)
    assert record.outcome is RunOutcome.FAILED and record.error == "cancelled; nothing was changed"
    assert workspace.lock().holder() is None


def test_a_saved_plan_is_applied_without_asking(workspace: FakeWorkspace, tmp_path: Path) -> None:
    saved = tmp_path / "dev.plan"
    planned = operations.plan(
        workspace, RecordingView(workspace), hosts=False, parallelism=4, out=saved
    )
    applied = up(workspace, refuse, saved=saved)
    assert applied.plan == planned.plan and workspace.cloud.recorded_addresses()


def test_a_saved_plan_is_refused_once_the_state_changed(
    workspace: FakeWorkspace, tmp_path: Path
) -> None:
    saved = tmp_path / "dev.plan"
    operations.plan(workspace, RecordingView(workspace), hosts=False, parallelism=4, out=saved)
    up(workspace, Answers())  # another run applies first
    with pytest.raises(StalePlanError, match="the state changed since the plan was saved"):
        up(workspace, refuse, saved=saved)


def test_a_dead_runs_leftovers_are_stopped_before_anything_runs(
    workspace: FakeWorkspace,
) -> None:
    dead = LockHolder(socket.gethostname(), 2**22 + 1, "2026-01-01T00:00:00Z", "up", "dead-run")
    path = workspace.root / "locks" / "dev.lock"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(asdict(dead)))
    workspace.cloud.pending = ["vm.web[0]"]
    view = RecordingView(workspace)
    applied = operations.up(workspace, view, Answers(), saved=None, rollback=True, parallelism=4)
    calls = workspace.cloud.calls
    assert calls[0] == "stop_leftovers dead-run" and calls[1] == "recover"
    assert view.recovered_addresses == ["vm.web[0]"]
    events = (workspace.root / "runs" / "dev" / applied.run_id / "events.jsonl").read_text()
    assert "took over the lock of run dead-run (pid 4194305), which died; stopped 2 processes" in (
        events
    )


def test_a_failed_up_is_recorded_and_still_stops_what_it_started(
    dev: CompiledEnvironment, tmp_path: Path
) -> None:
    workspace = FakeWorkspace(dev, FakeCloud(dev.graph, fail_at="vm.db[0]"), tmp_path)
    with pytest.raises(RunFailedError):
        up(workspace, Answers())
    [run] = workspace.runs
    assert run.closed and workspace.stopped == [run.run_dir.name]
    assert find_run(tmp_path / "runs", run.run_dir.name).outcome is RunOutcome.FAILED
    assert workspace.lock().holder() is None


def test_down_of_nothing_recorded_starts_nothing(workspace: FakeWorkspace) -> None:
    destroyed = operations.down(workspace, RecordingView(workspace), refuse, parallelism=4)
    assert destroyed.run_id is None and destroyed.plan == Plan("dev")
    assert workspace.runs == [] and workspace.cloud.calls == []


def test_down_asks_then_deletes_everything(workspace: FakeWorkspace) -> None:
    up(workspace, Answers())
    confirm = Answers()
    destroyed = operations.down(workspace, RecordingView(workspace), confirm, parallelism=4)
    assert confirm.questions == ["Delete every resource of dev?"]
    assert destroyed.plan.summary()["delete"] == 9 and workspace.cloud.recorded == {}
    assert workspace.hosts.released  # the VMs' hosts are forgotten


def test_drift_and_plan_without_out_take_no_lock(workspace: FakeWorkspace) -> None:
    class LockWatchingView(RecordingView):
        @contextmanager
        def busy(self, doing: str) -> Iterator[None]:
            held.append(self.workspace.lock().holder())
            yield

    held: list[LockHolder | None] = []
    view = LockWatchingView(workspace)
    found = operations.drift(workspace, view, hosts=True, parallelism=4)
    planned = operations.plan(workspace, view, hosts=True, parallelism=4, out=None)
    assert held == [None, None]
    assert not found.plan.has_changes and planned.plan.has_changes
    assert len(workspace.stopped) == 2
