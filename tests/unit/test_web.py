"""The web view, in-process: what its JSON API and pages say of a project's environments and
runs (from records written the way runs write them), and who may read them."""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from provisioner.engine.events import (
    ConfigureFinished,
    ConfigureStarted,
    NodeReady,
    ResourceFinished,
    ResourceStarted,
    Status,
)
from provisioner.engine.history import RunRecorder
from provisioner.engine.locking import FileLock, LockHolder, locked
from provisioner.engine.run_record import RunInfo, read_run
from provisioner.errors import ConfigurationError
from provisioner.paths import StatePaths
from provisioner.plan import Action, Plan, ResourceChange
from provisioner.spec.addresses import ResourceAddress
from provisioner.web.access import Access
from provisioner.web.app import create_app
from provisioner.web.overview import NodeState, Project, node_states

SPEC = "name: {name}\ncloud: local\nregion: us-east-1\n"


def record(
    paths: StatePaths,
    environment: str,
    run_id: str,
    *words: str,
    plan: Plan | None = None,
    fail: bool = False,
) -> None:
    """A run's record, written as a run writes it."""
    info = RunInfo.current(run_id, environment, ("provision", *words), Path.cwd())
    recorder = RunRecorder(paths.root / "runs" / environment / run_id, info, plan=plan)
    with (
        pytest.raises(ConfigurationError) if fail else contextlib.nullcontext(),
        recorder.recording(),
    ):
        if fail:
            raise ConfigurationError("it failed")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    environments = tmp_path / "environments"
    environments.mkdir()
    for name in ("dev", "network"):
        (environments / f"{name}.yaml").write_text(SPEC.format(name=name))
    paths = StatePaths(tmp_path / ".provision")
    drifted = Plan("dev", (ResourceChange(ResourceAddress.parse("vm.web[0]"), Action.UPDATE),))
    record(paths, "dev", "20261130T100000Z-aaaaaa", "up", "dev", "--yes")
    record(paths, "dev", "20261130T110000Z-bbbbbb", "drift", "dev", plan=drifted)
    record(paths, "dev", "20261130T120000Z-cccccc", "up", "dev", "--yes", fail=True)
    return Project(environments, paths)


def test_the_environments_api_gives_each_ones_last_run_drift_and_lock(project: Project) -> None:
    holder = LockHolder("here", os.getpid(), "2026-11-30T12:00:00", "provision up dev", "r1")
    client = TestClient(create_app(project, Access("127.0.0.1")))
    with locked(FileLock(project.paths.locks / "dev.lock", "dev"), holder):
        found = {e["environment"]: e for e in client.get("/api/environments").json()}
    assert list(found) == ["dev", "network"]
    dev = found["dev"]
    assert dev["last_run"]["id"] == "20261130T120000Z-cccccc"
    assert dev["last_run"]["outcome"] == "failed"
    assert dev["drift"]["drifted"] is True and dev["drift"]["run"] == "20261130T110000Z-bbbbbb"
    assert dev["locked_by"]["command"] == "provision up dev"
    assert dev["resources"] == 0 and dev["hosts"] == 0  # no state recorded
    assert found["network"] == {
        "environment": "network",
        "last_run": None,
        "drift": None,
        "resources": 0,
        "hosts": 0,
        "locked_by": None,
        "lock_known": True,
    }


def test_runs_are_listed_newest_first_and_filtered(project: Project) -> None:
    client = TestClient(create_app(project, Access("127.0.0.1")))
    every = [run["id"][-6:] for run in client.get("/api/runs").json()]
    assert every == ["cccccc", "bbbbbb", "aaaaaa"]
    ups = client.get("/api/runs", params={"command": "up", "outcome": "succeeded"}).json()
    assert [run["id"][-6:] for run in ups] == ["aaaaaa"]
    assert client.get("/api/runs", params={"environment": "network"}).json() == []
    assert client.get("/api/runs/20261130T110000Z").json()["plan"]["environment"] == "dev"
    assert client.get("/api/runs/nope").status_code == 404
    page = client.get("/runs", params={"command": "drift"}).text
    assert "bbbbbb" in page and "aaaaaa" not in page


def test_the_environments_page_shows_each_environment(project: Project) -> None:
    page = TestClient(create_app(project, Access("127.0.0.1"))).get("/").text
    assert 'data-environment="dev"' in page and 'data-environment="network"' in page
    assert "drifted" in page and "never run" in page


def test_another_address_than_loopback_needs_a_token_and_every_request_carries_it(
    project: Project,
) -> None:
    with pytest.raises(
        ConfigurationError, match=r"refusing to serve on 0\.0\.0\.0 without a token"
    ):
        Access.checked("0.0.0.0", None)  # noqa: S104 - what is refused
    assert Access.checked("127.0.0.1", None).token is None
    client = TestClient(create_app(project, Access.checked("0.0.0.0", "s3cret")))  # noqa: S104
    assert client.get("/api/environments").status_code == 401
    assert client.get("/", params={"token": "wrong"}).status_code == 401
    assert client.get("/", params={"token": "s3cret"}).status_code == 200
    headers = {"Authorization": "Bearer s3cret"}
    assert client.get("/api/runs", headers=headers).status_code == 200


def test_a_run_page_has_a_bar_per_node_in_start_order_and_filters_its_log_to_failures(
    tmp_path: Path,
) -> None:
    environments = tmp_path / "environments"
    environments.mkdir()
    (environments / "dev.yaml").write_text(
        SPEC.format(name="dev")
        + "networks:\n  main: {cidr: 10.0.0.0/16}\n"
        + "subnets:\n  a: {network: main, cidr: 10.0.1.0/24}\n"
    )
    paths = StatePaths(tmp_path / ".provision")
    run_id = "20261201T000000Z-dddddd"
    info = RunInfo.current(run_id, "dev", ("provision", "up", "dev"), tmp_path)
    recorder = RunRecorder(paths.root / "runs" / "dev" / run_id, info)
    start = time.time()
    with recorder.recording():
        for offset, address, status in (
            (0, "network.main", Status.DONE),
            (2, "subnet.a", Status.FAILED),
        ):
            where = ResourceAddress.parse(address)
            recorder.emit(NodeReady(address=address, at=start + offset))
            recorder.emit(
                ResourceStarted(address=where, action=Action.CREATE, at=start + offset + 0.5)
            )
            recorder.emit(
                ResourceFinished(
                    address=where,
                    action=Action.CREATE,
                    status=status,
                    elapsed=1.0,
                    error="refused" if status is Status.FAILED else None,
                    at=start + offset + 1.5,
                )
            )
    client = TestClient(create_app(Project(environments, paths), Access("127.0.0.1")))
    page = client.get(f"/runs/{run_id}").text
    nodes = re.findall(r'class="bar ([a-z ]+)" data-node="([^"]+)"', page)
    assert [node for _, node in nodes] == ["network.main", "subnet.a"]
    assert nodes[0][0] == "done critical" and nodes[1][0] == "failed critical"
    failures = client.get(f"/runs/{run_id}", params={"failures": "true"}).text
    logged = re.findall(r'<tr class="([a-z]*)">', failures)
    assert logged == ["failed"]
    assert "refused" in failures


def test_a_nodes_state_after_an_up_is_the_worst_of_its_resources(tmp_path: Path) -> None:
    run_id = "20261201T000000Z-eeeeee"
    info = RunInfo.current(run_id, "dev", ("provision", "up", "dev"), tmp_path)
    recorder = RunRecorder(tmp_path / run_id, info)
    outcomes = [
        ("network.main", Action.CREATE, Status.DONE),
        ("network.main/internet-gateway", Action.CREATE, Status.DONE),
        ("lb.web", Action.UPDATE, Status.DONE),
        ("lb.web/listener-80", Action.CREATE, Status.FAILED),
        ("vm.web[0]", Action.DELETE, Status.DONE),  # created, then rolled back
        ("db.main", Action.CREATE, Status.SKIPPED),
        ("vm.web[1]", Action.CREATE, Status.DONE),
    ]
    roles = ("software.web@vm.web[1]", "software.web@vm.web[2]")  # on a new VM; a running one
    with recorder.recording():
        for address, action, status in outcomes:
            where = ResourceAddress.parse(address)
            recorder.emit(ResourceStarted(address=where, action=action))
            recorder.emit(ResourceFinished(address=where, action=action, status=status, elapsed=1))
        for role in roles:
            host = role.split("@")[1]
            recorder.emit(ConfigureStarted(address=role, host=host))
            recorder.emit(ConfigureFinished(address=role, host=host, status=Status.DONE, elapsed=1))
    states = node_states(read_run(tmp_path / run_id))
    assert states == {
        "network.main": NodeState.CREATED,
        "lb.web": NodeState.FAILED,
        "vm.web[0]": NodeState.ROLLED_BACK,
        "db.main": NodeState.SKIPPED,
        "vm.web[1]": NodeState.CREATED,
        "software.web@vm.web[1]": NodeState.CREATED,
        "software.web@vm.web[2]": NodeState.UPDATED,
    }
    assert node_states(None) == {}


def test_a_running_runs_events_stream_as_they_are_recorded_then_end(tmp_path: Path) -> None:
    environments = tmp_path / "environments"
    environments.mkdir()
    paths = StatePaths(tmp_path / ".provision")
    run_id = "20261201T000000Z-ffffff"
    info = RunInfo.current(run_id, "dev", ("provision", "up", "dev"), tmp_path)
    recorder = RunRecorder(paths.root / "runs" / "dev" / run_id, info)
    client = TestClient(create_app(Project(environments, paths), Access("127.0.0.1")))
    url = f"/api/runs/{run_id}/events"
    with recorder.recording():
        recorder.emit(NodeReady(address="network.main"))
        with client.stream("GET", url) as response:
            data = (line for line in response.iter_lines() if line.startswith("data: "))
            assert '"network.main"' in next(data)
            recorder.emit(NodeReady(address="subnet.a"))  # written while the page listens
            assert '"subnet.a"' in next(data)
    ended = client.get(url).text  # the run is over: every event, then the end
    assert ended.count('data: {"address"') == 2
    assert ended.endswith("event: end\ndata: {}\n\n")


def test_only_the_projects_environments_are_read_never_a_path(project: Project) -> None:
    client = TestClient(create_app(project, Access("127.0.0.1")))
    for name in ("nope", "dev.yaml", "..dev"):  # (a client removes a bare `..` itself)
        for page in ("", "/hosts", "/drift", "/nodes/vm.web[0]"):
            assert client.get(f"/environments/{name}{page}").status_code == 404, (name, page)
        assert client.get(f"/api/environments/{name}/drift").status_code == 404
    for name in ("nope", "..", "../..", "dev/../dev"):
        assert client.get("/api/runs", params={"environment": name}).json() == []
    assert client.get("/api/runs", params={"environment": "dev"}).json()  # a known one reads
    assert client.get("/environments/dev/nodes/not-an-address").status_code == 404
    for run_id in ("**", "*", "[a-z]*"):  # an id or its start, never a pattern
        assert client.get(f"/api/runs/{run_id}").status_code == 404
