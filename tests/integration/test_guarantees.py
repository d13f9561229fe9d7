"""Orchestration guarantees on the real parts: faults, rollback, locking, saved plans, history.

A cloud-only environment (no VMs) keeps these fast. Faults are injected by a
proxy in front of the local cloud's API (`PROVISION_LOCAL_ENDPOINT`), which the
tests start and stop.
"""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.local.control import LocalCloud
from provisioner.local.faultproxy import FaultProxy, Faults
from tests.integration.projects import Project

pytestmark = pytest.mark.integration

SPEC = """\
name: guard
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.60.0.0/16}
subnets:
  a: {network: main, cidr: 10.60.1.0/24, public: true}
  b: {network: main, cidr: 10.60.2.0/24}
security_groups:
  web:
    network: main
    ingress: [{protocol: tcp, ports: 80, cidr: 0.0.0.0/0}]
key_pairs:
  deploy: {}
"""
RESOURCES = 7  # vpc, gateway, route table, 2 subnets, group, key pair


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("guard"))
    project.write_spec("guard", SPEC)
    project.run("local", "start")
    yield project
    project.teardown("guard")


@pytest.fixture
def proxy(project: Project) -> Iterator[FaultProxy]:
    """A fault proxy in front of the local cloud; set its faults, then run commands."""
    with FaultProxy(LocalCloud(project.state / "local").endpoint(), Faults()) as running:
        project.extra_env = {"PROVISION_LOCAL_ENDPOINT": running.endpoint}
        yield running
    project.extra_env = {}


def test_up_and_down_complete_under_20_percent_transient_errors(
    project: Project, proxy: FaultProxy
) -> None:
    proxy.faults.throttle, proxy.faults.server_error, proxy.faults.drop = 0.08, 0.07, 0.05
    project.run("up", "guard", "--yes")
    injected = proxy.counts.throttled + proxy.counts.server_errors + proxy.counts.dropped
    assert injected >= 3, proxy.counts
    assert len(project.state_ids("guard")) == RESOURCES
    assert project.tagged_ids("guard") == project.state_ids("guard")
    project.run("down", "guard", "--yes")
    assert project.tagged_ids("guard") == set()


def test_a_permanent_cloud_error_fails_at_once_and_rolls_back_what_the_run_created(
    project: Project, proxy: FaultProxy
) -> None:
    proxy.faults.permanent = {"CreateSecurityGroup": "InvalidParameterValue"}
    result = project.run("up", "guard", "--yes", expect=1)
    assert "InvalidParameterValue" in result.stderr
    assert "rolled back the" in result.stderr and "resources it created" in result.stderr
    assert "Traceback" not in result.stderr
    assert project.tagged_ids("guard") == set()
    assert project.state_ids("guard") == set()
    assert proxy.counts.actions.count("CreateSecurityGroup") == 1  # permanent: no retry


def test_no_rollback_keeps_what_the_failed_run_created(project: Project, proxy: FaultProxy) -> None:
    proxy.faults.permanent = {"CreateSecurityGroup": "InvalidParameterValue"}
    result = project.run("up", "guard", "--yes", "--no-rollback", expect=1)
    assert "(--no-rollback)" in result.stderr
    kept = project.state_ids("guard")
    assert kept and project.tagged_ids("guard") == kept
    proxy.faults.permanent = {}
    project.run("down", "guard", "--yes")
    assert project.tagged_ids("guard") == set()


def test_sigterm_stops_up_and_rolls_back_what_it_created(
    project: Project, proxy: FaultProxy
) -> None:
    proxy.faults.latency = 1.5  # every EC2 call: time to interrupt midway
    proxy.faults.latency_actions = frozenset({"CreateSubnet", "CreateSecurityGroup"})
    process = project.start("up", "guard", "--yes")
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if "subnet.a: create ..." in line:
            process.send_signal(signal.SIGTERM)
            break
    rest, _ = process.communicate(timeout=300)
    output = "".join(seen) + rest
    assert process.returncode == 130, output
    assert "up failed: interrupted" in output and "rolled back the" in output
    assert project.tagged_ids("guard") == set()
    assert project.state_ids("guard") == set()


def test_two_concurrent_ups_exactly_one_runs(project: Project) -> None:
    first, second = project.start("up", "guard", "--yes"), project.start("up", "guard", "--yes")
    outputs = [process.communicate(timeout=600)[0] for process in (first, second)]
    codes = sorted(process.returncode for process in (first, second))
    assert codes == [0, 1], outputs
    refused = next(text for text in outputs if "is locked by" in text)
    assert "provision up guard --yes" in refused and socket.gethostname() in refused
    assert len(project.state_ids("guard")) == RESOURCES


def test_a_saved_plan_applies_exactly_and_a_stale_one_is_refused(
    project: Project, tmp_path: Path
) -> None:
    project.run("down", "guard", "--yes")
    saved = tmp_path / "plan.json"
    project.run("plan", "guard", "--out", str(saved))
    assert json.loads(saved.read_text())["plan"]["summary"]["create"] == RESOURCES
    project.run("up", "guard", "--plan", str(saved))
    assert len(project.state_ids("guard")) == RESOURCES

    again = project.run("up", "guard", "--plan", str(saved), expect=1)
    assert "the state changed since the plan was saved" in again.stderr

    fresh = tmp_path / "fresh.json"
    project.run("plan", "guard", "--out", str(fresh))
    project.write_spec("guard", SPEC.replace("ports: 80", "ports: 8080"))
    edited = project.run("up", "guard", "--plan", str(fresh), expect=1)
    assert "the spec or its playbooks changed" in edited.stderr
    project.write_spec("guard", SPEC)

    ec2 = project.ec2()
    [group] = ec2.describe_security_groups(
        Filters=[{"Name": "tag:provision:address", "Values": ["sg.web"]}]
    )["SecurityGroups"]
    ec2.revoke_security_group_ingress(
        GroupId=group["GroupId"], IpPermissions=group["IpPermissions"]
    )
    drifted = project.run("up", "guard", "--plan", str(fresh), expect=1)
    assert "the cloud changed since the plan was saved: sg.web" in drifted.stderr
    project.run("up", "guard", "--yes")


def test_a_lock_left_by_a_dead_process_is_taken_over(project: Project) -> None:
    lock = project.state / "locks" / "guard.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = {
        "host": socket.gethostname(),
        "pid": 2**22 + 7,  # above the kernel's pid range here: no such process
        "started_at": "2026-01-01T00:00:00Z",
        "command": "provision up guard --yes",
        "run_id": "20260101T000000Z-dead00",
    }
    lock.write_text(json.dumps(holder))
    result = project.run("up", "guard", "--yes", "--json")
    events = project.state / "runs" / "guard" / json.loads(result.stdout)["run"] / "events.jsonl"
    assert "took over the lock of run 20260101T000000Z-dead00" in events.read_text()
    assert "guard was not locked" in project.run("unlock", "guard", "--force").stdout


def test_history_lists_each_run_with_its_outcome_and_show_times_each_node(
    project: Project,
) -> None:
    runs = json.loads(project.run("history", "guard", "--json", "--limit", "100").stdout)
    outcomes = {run["outcome"] for run in runs}
    assert {"succeeded", "failed"} <= outcomes
    assert any(r["command"] == "provision up guard --yes --no-rollback" for r in runs)
    applied = next(
        r
        for r in runs
        if r["outcome"] == "succeeded" and r["command"].startswith("provision up guard --plan")
    )
    shown = json.loads(project.run("show", applied["id"], "--json").stdout)
    assert shown["nodes"] and all(n["elapsed"] is not None for n in shown["nodes"].values())
    assert shown["plan"]["environment"] == "guard"
    assert Path(shown["folder"], "events.jsonl").exists()
