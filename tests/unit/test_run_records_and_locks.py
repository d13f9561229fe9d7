"""Run records, the file lock, saved-plan checks and spec timeouts, without any cloud."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from provisioner.engine.events import ResourceFinished, ResourceStarted, Status
from provisioner.engine.history import RunRecorder, redact
from provisioner.engine.locking import EnvironmentLockedError, FileLock, LockHolder
from provisioner.engine.run_record import (
    RunInfo,
    RunOutcome,
    RunRecord,
    find_run,
    list_runs,
    read_run,
)
from provisioner.engine.saved_plan import SavedPlan, StalePlanError
from provisioner.errors import ProvisionError
from provisioner.plan import Action, Plan, ResourceChange
from provisioner.procs import start_ticks
from provisioner.spec.addresses import ResourceAddress
from provisioner.spec.model import TimeoutsSpec

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"


def holder(pid: int, run_id: str = "r1") -> LockHolder:
    return LockHolder(socket.gethostname(), pid, "2026-01-01T00:00:00Z", "provision up dev", run_id)


def test_a_held_lock_refuses_a_second_holder_and_names_the_first(tmp_path: Path) -> None:
    first, second = FileLock(tmp_path / "dev.lock", "dev"), FileLock(tmp_path / "dev.lock", "dev")
    assert first.acquire(holder(os.getpid())) is None
    with pytest.raises(EnvironmentLockedError, match=rf"dev is locked by pid {os.getpid()} on"):
        second.acquire(holder(1234, "r2"))
    assert second.holder() == holder(os.getpid())
    first.release()
    assert second.acquire(holder(1234, "r2")) is None
    second.release()


def test_a_lock_whose_holder_died_is_taken_over_and_reported(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    stale = holder(int(dead.stdout), "dead-run")
    (tmp_path / "dev.lock").write_text(json.dumps(stale.__dict__))
    lock = FileLock(tmp_path / "dev.lock", "dev")
    assert lock.holder() is None  # no process holds the flock
    assert lock.acquire(holder(os.getpid())) == stale
    lock.release()


def test_force_unlock_refuses_a_running_local_holder(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "dev.lock", "dev")
    lock.acquire(holder(os.getpid()))
    with pytest.raises(ProvisionError, match="held by running process"):
        FileLock(tmp_path / "dev.lock", "dev").force_unlock()
    lock.release()
    assert FileLock(tmp_path / "dev.lock", "dev").force_unlock() is None


def test_a_run_record_times_each_node_and_redacts_private_keys(tmp_path: Path) -> None:
    info = RunInfo.current("20260101T000000Z-abc", "dev", ["provision", "up"], tmp_path)
    recorder = RunRecorder(tmp_path / "run", info)
    with pytest.raises(ProvisionError), recorder.recording():
        recorder.emit(
            ResourceStarted(address=ResourceAddress.parse("vm.web[0]"), action=Action.CREATE)
        )
        recorder.emit(
            ResourceFinished(
                address=ResourceAddress.parse("vm.web[0]"),
                action=Action.CREATE,
                status=Status.FAILED,
                elapsed=1.25,
                error=f"boom {KEY}",
            )
        )
        raise ProvisionError(f"failed with {KEY}")
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["outcome"] == "failed"
    assert record["nodes"]["vm.web[0]"]["result"] == "failed"
    assert record["nodes"]["vm.web[0]"]["elapsed"] == 1.25
    everything = (tmp_path / "run" / "run.json").read_text()
    everything += (tmp_path / "run" / "events.jsonl").read_text()
    log = Path(record["log"]).read_text()
    assert "ResourceFinished address=vm.web[0]" in log and "status=failed" in log
    everything += log
    assert "PRIVATE KEY" not in everything and "(private key redacted)" in everything
    written = read_run(tmp_path / "run")
    assert written is not None
    listed = written.summary_json()
    assert listed["outcome"] == "failed" and listed["command"] == "provision up"


def test_runs_are_listed_newest_first(tmp_path: Path) -> None:
    for run_id in ("20260101T000000Z-a", "20260102T000000Z-b"):
        info = RunInfo.current(run_id, "dev", ["provision", "plan"], tmp_path)
        with RunRecorder(tmp_path / "dev" / run_id, info).recording() as recorder:
            recorder.plan = Plan("dev")
    runs = list_runs(tmp_path, "dev")
    assert [r.id for r in runs] == ["20260102T000000Z-b", "20260101T000000Z-a"]
    assert all(r.outcome is RunOutcome.SUCCEEDED and r.plan == Plan("dev") for r in runs)


def test_a_run_record_reads_back_as_it_was_written(tmp_path: Path) -> None:
    info = RunInfo.current("20260101T000000Z-abc", "dev", ["provision", "up"], tmp_path)
    plan = Plan("dev", (ResourceChange(ResourceAddress.parse("vm.web[0]"), Action.CREATE),))
    folder = tmp_path / "dev" / info.id
    with RunRecorder(folder, info).recording() as recorder:
        recorder.plan = plan
        recorder.emit(
            ResourceStarted(address=ResourceAddress.parse("vm.web[0]"), action=Action.CREATE)
        )
    record = find_run(tmp_path, "20260101T000000Z-a")  # a unique prefix will do
    assert record.plan == plan and record.info == info and record.folder == folder
    assert record.outcome is RunOutcome.SUCCEEDED
    assert record.nodes["vm.web[0]"].result is Status.RUNNING
    assert record.to_json() == json.loads((folder / "run.json").read_text())
    assert RunRecord.from_json({"id": "x"}, folder) is None


def test_redact_leaves_other_text_alone() -> None:
    assert redact(f"a {KEY} b") == "a (private key redacted) b"
    assert redact("no secrets here") == "no secrets here"


def saved(changes: tuple[ResourceChange, ...]) -> SavedPlan:
    return SavedPlan("dev", "spec", "state", "now", Plan("dev", changes))


def test_a_saved_plan_refuses_another_state_or_other_actions() -> None:
    plan = saved((ResourceChange(ResourceAddress.parse("sg.web"), Action.UPDATE),))
    plan.check_state("state")
    with pytest.raises(StalePlanError, match="state changed"):
        plan.check_state("other")
    plan.check_same_changes(
        Plan("dev", (ResourceChange(ResourceAddress.parse("sg.web"), Action.UPDATE),))
    )
    with pytest.raises(StalePlanError, match=r"cloud changed since the plan was saved: sg\.web"):
        plan.check_same_changes(
            Plan("dev", (ResourceChange(ResourceAddress.parse("sg.web"), Action.NO_OP),))
        )


def test_a_saved_plan_round_trips_and_rejects_other_files(tmp_path: Path) -> None:
    plan = saved(())
    plan.write(tmp_path / "plan.json")
    assert SavedPlan.load(tmp_path / "plan.json") == plan
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ProvisionError, match="not a plan saved by"):
        SavedPlan.load(tmp_path / "other.json")


@pytest.mark.parametrize(
    ("given", "seconds"), [(90, 90), ("90s", 90), ("10m", 600), ("1h", 3600), ("45", 45)]
)
def test_timeouts_accept_seconds_or_a_unit(given: object, seconds: int) -> None:
    assert TimeoutsSpec.model_validate({"vm": given}).vm == seconds


@pytest.mark.parametrize("given", ["ten minutes", "5d", -1, 0, True])
def test_timeouts_reject_what_is_not_a_positive_duration(given: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        TimeoutsSpec.model_validate({"software": given})


def test_a_process_that_reuses_a_dead_holders_pid_is_not_taken_for_it() -> None:
    """pids are reused (32768 of them here); the start time tells the processes apart."""
    alive = start_ticks(os.getpid())
    assert alive is not None
    reused = LockHolder(
        socket.gethostname(), os.getpid(), "2026-01-01T00:00:00Z", "up", "r9", alive - 1
    )
    assert reused.is_dead_local_process()
    itself = LockHolder(
        socket.gethostname(), os.getpid(), "2026-01-01T00:00:00Z", "up", "r9", alive
    )
    assert not itself.is_dead_local_process()
    assert LockHolder.from_json(json.loads(json.dumps(asdict(reused)))) == reused


def test_a_run_whose_pid_was_reused_still_shows_as_killed() -> None:
    info = RunInfo.current("r1", "dev", ["provision", "up", "dev"], Path.cwd())
    assert info.pid_started == start_ticks(os.getpid())
    record = RunRecord(info, Path.cwd(), RunOutcome.RUNNING)
    assert record.observed_outcome() is RunOutcome.RUNNING  # this very process still runs
    reused = RunRecord(replace(info, pid_started=info.pid_started - 1), Path.cwd(), record.outcome)
    assert reused.observed_outcome() is RunOutcome.KILLED
