"""The repository's own three-tier `dev`, brought up from environments/ as `make up` does.

A load balancer (HAProxy) in two public subnets in front of two web VMs, a
managed PostgreSQL in two private subnets, and `app.dev.internal` aliasing the
load balancer in the VPC's resolver. Every check looks from outside: requests
from a host over SSH, the cloud with boto3, processes and namespaces on the
machine.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.projects import NOTHING_LEFT, ROOT, Project
from tests.integration.test_databases import scan_for

ENV = "dev"
APP = "http://app.dev.internal/"
# What the web role's service task runs, by hand.
START_APP = (
    "start-stop-daemon --start --background --make-pidfile --pidfile /run/webapp.pid "
    "--chuid deploy --output /var/log/webapp.log "
    "--exec /usr/bin/python3 -- /opt/webapp/webapp.py /etc/webapp.conf"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("three-tier"))
    shutil.copytree(ROOT / "environments", project.root / "environments", dirs_exist_ok=True)
    yield project
    project.teardown(ENV)


@pytest.fixture(scope="module")
def applied(project: Project) -> dict[str, Any]:
    return project.run_json("up", ENV, "--yes")


def fetch(project: Project, count: int = 1, host: str = "web-0") -> list[str]:
    """`count` requests to the app's name from a web VM, each answer's body (or its error)."""
    script = (
        f"for i in $(seq {count}); do "
        f"curl -s -m 3 -o - -w '\\n<<%{{http_code}}>>\\n' {APP} || echo '<<fail>>'; done"
    )
    output = project.ssh(ENV, host, "sh", "-c", script)
    return [answer.strip() for answer in output.split("\n<<") if answer.strip()][:count]


def served_by(answers: list[str]) -> Counter[str]:
    return Counter(
        match.group(1) if (match := re.search(r"<p>host: (\S+)</p>", a)) else "failed"
        for a in answers
    )


def target_health(project: Project) -> dict[str, str]:
    """Each registered instance's health, as the load balancer's API reports it."""
    elbv2 = project.client("elbv2")
    [group] = [
        g for g in elbv2.describe_target_groups()["TargetGroups"] if ENV in g["TargetGroupName"]
    ]
    described = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
    return {
        d["Target"]["Id"]: d["TargetHealth"]["State"] for d in described["TargetHealthDescriptions"]
    }


def test_the_app_name_answers_with_the_environment_the_host_and_a_database_row(
    project: Project, applied: dict[str, Any]
) -> None:
    [page] = fetch(project)
    assert "environment: dev" in page
    assert re.search(r"row 1 from PostgreSQL: hello from the dev database", page), page


def test_ten_requests_are_spread_over_both_web_vms(
    project: Project, applied: dict[str, Any]
) -> None:
    assert set(served_by(fetch(project, 10))) == {"web-0", "web-1"}


def test_a_stopped_app_leaves_the_pool_within_the_health_check_and_comes_back(
    project: Project, applied: dict[str, Any]
) -> None:
    web1 = project.instances(ENV)["vm.web[1]"]["InstanceId"]
    project.ssh(ENV, "web-1", "start-stop-daemon", "--stop", "--pidfile", "/run/webapp.pid")
    deadline = time.monotonic() + 30
    while target_health(project)[web1] != "unhealthy":
        assert time.monotonic() < deadline, target_health(project)
        time.sleep(0.5)
    assert served_by(fetch(project, 10)) == Counter({"web-0": 10})

    project.ssh(ENV, "web-1", "sh", "-c", START_APP)
    deadline = time.monotonic() + 30
    while target_health(project)[web1] != "healthy":
        assert time.monotonic() < deadline, target_health(project)
        time.sleep(0.5)
    assert set(served_by(fetch(project, 10))) == {"web-0", "web-1"}


def test_a_major_version_the_local_cloud_cannot_serve_is_refused_and_changes_nothing(
    project: Project, applied: dict[str, Any]
) -> None:
    spec = project.root / "environments" / f"{ENV}.yaml"
    original = spec.read_text()
    spec.write_text(
        original
        + 'databases:\n  main: {engine_version: "16.1", allow_major_version_upgrade: true}\n'
    )
    try:
        refused = project.run("up", ENV, "--yes", expect=1)
    finally:
        spec.write_text(original)
    output = refused.stdout + refused.stderr
    assert "serves PostgreSQL 15 only" in output, output
    assert "Traceback" not in output
    [database] = project.client("rds").describe_db_instances()["DBInstances"]
    assert database["EngineVersion"].startswith("15.")
    assert "environment: dev" in fetch(project)[0]


def test_the_database_password_is_in_no_file_or_output_of_the_project(
    project: Project, applied: dict[str, Any]
) -> None:
    password = project.ssh(ENV, "web-0", "sed", "-n", "s/^db_password = //p", "/etc/webapp.conf")
    password = password.strip()
    assert len(password) >= 24
    # (A check-mode diff of the template that holds it is test_databases.py's.)
    outputs = [json.dumps(applied), project.run("plan", ENV, "--no-hosts").stdout]
    outputs += [project.run("history", ENV).stdout]
    outputs += [project.run("show", run.name, "--json").stdout for run in project.runs(ENV)]
    scan_for(password, project, outputs)


def test_down_leaves_no_cloud_resource_namespace_process_or_database_data(
    project: Project, applied: dict[str, Any]
) -> None:
    running = {process.split()[1] for process in project.data_plane()["processes"]}
    assert running == {"haproxy", "postgres", "dnsmasq"}
    project.run("down", ENV, "--yes")
    assert project.leftovers(ENV) == NOTHING_LEFT
    assert project.data_plane() == {"processes": [], "folders": []}
