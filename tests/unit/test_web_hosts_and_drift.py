"""The web view's hosts and drift, in-process: each host's roles with their last results and
history, the latest drift report property by property with host file diffs, and drift's
history with the watch's ticks (skipped on a lock, put back) among the checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from provisioner.engine.events import ConfigureFinished, ConfigureStarted, Status
from provisioner.engine.history import RunRecorder
from provisioner.engine.run_record import Operation, RunInfo, list_runs, now
from provisioner.engine.watch import WatchOutcome, WatchTick, read_ticks, record_tick
from provisioner.paths import StatePaths
from provisioner.plan import (
    Action,
    Plan,
    PropertyChange,
    ResourceChange,
    SoftwareChange,
    TaskChange,
    TaskOutlook,
)
from provisioner.spec.addresses import ResourceAddress
from provisioner.web.access import Access
from provisioner.web.app import create_app
from provisioner.web.overview import Project

ENVIRONMENTS = Path(__file__).resolve().parent / "two_tier" / "environments"  # a fixture
ROLE = "software.web@vm.web[0]"


def run(
    paths: StatePaths,
    run_id: str,
    operation: Operation,
    *words: str,
    plan: Plan | None = None,
    configured: tuple[tuple[str, Status], ...] = (),
) -> None:
    """A run of dev, recorded as a run records it: its command, and roles configured."""
    info = RunInfo.current(run_id, "dev", ("provision", *words), Path.cwd(), operation)
    recorder = RunRecorder(paths.root / "runs" / "dev" / run_id, info, plan=plan)
    with recorder.recording():
        for address, status in configured:
            host = address.split("@", 1)[1]
            recorder.emit(ConfigureStarted(address=address, host=host))
            error = "a task failed" if status is Status.FAILED else None
            recorder.emit(
                ConfigureFinished(
                    address=address, host=host, status=status, elapsed=2.0, error=error
                )
            )


@pytest.fixture
def paths(tmp_path: Path) -> StatePaths:
    return StatePaths(tmp_path / ".provision")


def client(paths: StatePaths) -> TestClient:
    return TestClient(create_app(Project(ENVIRONMENTS, paths), Access("127.0.0.1")))


def test_each_host_lists_its_roles_last_results_and_its_history(paths: StatePaths) -> None:
    run(
        paths,
        "20261201T010000Z-aaaaaa",
        Operation.UP,
        "up",
        "dev",
        configured=((ROLE, Status.DONE), ("software.base@vm.web[0]", Status.DONE)),
    )
    run(
        paths,
        "20261201T020000Z-bbbbbb",
        Operation.UP,
        "up",
        "dev",
        configured=((ROLE, Status.FAILED),),
    )
    found = {host["host"]: host for host in client(paths).get("/api/environments/dev/hosts").json()}
    assert sorted(found) == ["vm.db[0]", "vm.web[0]", "vm.web[1]"]
    web = {role["role"]: role for role in found["vm.web[0]"]["roles"]}
    assert sorted(web) == ["base", "web"]
    assert web["web"]["last"]["run"] == "20261201T020000Z-bbbbbb"
    assert (
        web["web"]["last"]["result"] == "failed" and web["web"]["last"]["error"] == "a task failed"
    )
    assert web["base"]["last"]["run"] == "20261201T010000Z-aaaaaa"  # not configured since
    history = [(w["run"][-6:], w["address"]) for w in found["vm.web[0]"]["history"]]
    assert history == [
        ("bbbbbb", ROLE),
        ("aaaaaa", "software.base@vm.web[0]"),
        ("aaaaaa", ROLE),
    ]
    assert found["vm.web[1]"]["history"] == []
    assert all(role["last"] is None for role in found["vm.web[1]"]["roles"])
    page = client(paths).get("/environments/dev/hosts").text
    assert 'data-host="vm.web[0]"' in page and "a task failed" in page
    assert client(paths).get("/api/environments/nope/hosts").status_code == 404


def drifted_plan() -> Plan:
    tagged = PropertyChange("tags.owner", "platform", "someone")
    site = TaskChange(
        "write the site", TaskOutlook.CHANGE, diff="--- before\n+++ after\n-hello\n+edited\n"
    )
    return Plan(
        "dev",
        (ResourceChange(ResourceAddress.parse("vm.web[0]"), Action.UPDATE, (tagged,)),),
        (SoftwareChange(ROLE, "vm.web[0]", Action.UPDATE, (site,)),),
    )


def test_the_latest_drift_report_and_the_history_with_the_watchs_ticks(paths: StatePaths) -> None:
    runs = paths.root / "runs"
    run(paths, "20261201T010000Z-aaaaaa", Operation.DRIFT, "drift", "dev", plan=Plan("dev"))
    record_tick(
        runs,
        WatchTick(
            "dev",
            WatchOutcome.LOCKED,
            now(),
            detail="locked by `provision up dev` (pid 7 on here)",
        ),
    )
    # A watch's check and its remediating up are recorded under the watch's command.
    run(
        paths,
        "20261201T020000Z-bbbbbb",
        Operation.DRIFT,
        "watch",
        "dev",
        "--remediate",
        plan=drifted_plan(),
    )
    run(paths, "20261201T020005Z-cccccc", Operation.UP, "watch", "dev", "--remediate")
    record_tick(
        runs,
        WatchTick(
            "dev",
            WatchOutcome.REMEDIATED,
            now(),
            "20261201T020000Z-bbbbbb",
            "20261201T020005Z-cccccc",
        ),
    )
    assert [t.outcome for t in read_ticks(runs, "dev")] == [
        WatchOutcome.REMEDIATED,
        WatchOutcome.LOCKED,
    ]
    assert [r.id[-6:] for r in list_runs(runs, "dev")] == ["cccccc", "bbbbbb", "aaaaaa"]

    answer = client(paths).get("/api/environments/dev/drift").json()
    latest = answer["latest"]
    assert latest == {**drifted_plan().to_json(), "drift": True, "run": "20261201T020000Z-bbbbbb"}
    assert [
        (p["run"], p["drifted"], p["watch"] and p["watch"]["outcome"]) for p in answer["history"]
    ] == [
        ("20261201T020000Z-bbbbbb", True, "remediated"),
        (None, None, "skipped: locked"),
        ("20261201T010000Z-aaaaaa", False, None),
    ]
    assert answer["history"][0]["resources"] == 1 and answer["history"][0]["software"] == 1

    page = client(paths).get("/environments/dev/drift").text
    assert "tags.owner" in page and "someone" in page and "+edited" in page
    assert "locked by `provision up dev`" in page
    environments = {e["environment"]: e for e in client(paths).get("/api/environments").json()}
    assert environments["dev"]["drift"]["run"] == "20261201T020000Z-bbbbbb"
    # The remediating up is an up (it colours the graph), though the watch ran it.
    ups = client(paths).get("/api/runs", params={"command": "up"}).json()
    assert [r["id"][-6:] for r in ups] == ["cccccc"]


def test_a_browsers_first_visit_with_the_token_keeps_it_in_a_cookie(paths: StatePaths) -> None:
    app = create_app(Project(ENVIRONMENTS, paths), Access.checked("0.0.0.0", "s3cret"))  # noqa: S104
    browser = TestClient(app)
    first = browser.get("/", params={"token": "s3cret"})
    assert first.status_code == 200
    assert "httponly" in first.headers["set-cookie"].lower()
    assert "samesite=strict" in first.headers["set-cookie"].lower()
    assert browser.get("/environments/dev/hosts").status_code == 200  # the cookie carries it
    assert TestClient(app).get("/environments/dev/hosts").status_code == 401
    stranger = TestClient(app, cookies={"provision_token": "wrong"})
    assert stranger.get("/api/runs").status_code == 401
