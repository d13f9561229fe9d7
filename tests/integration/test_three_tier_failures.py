"""The three-tier `dev` (with a network of its own) when its run fails or is killed:
nothing of it stays behind.

Neither in the cloud (load balancer, target group, database, DB subnet group, ...)
nor on the machine (HAProxy, PostgreSQL, the VPC's resolver, namespaces, data).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest

from tests.integration.projects import FAILING_PLAYBOOK, NOTHING_LEFT, ROOT, Project

ENV = "dev"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("three-tier-failures"))
    shutil.copytree(ROOT / "environments", project.root / "environments", dirs_exist_ok=True)
    # dev as one environment with its own network (base's) and zone: what a failed run
    # leaves is dev's alone, and "nothing left" includes the VPC's namespace.
    dev = project.root / "environments" / f"{ENV}.yaml"
    text = dev.read_text().replace("extends: on-network", "extends: base")
    own_zone = "domain: dev.internal\n    network: main"
    dev.write_text(text.replace("zone: ${env.network.dns.internal.zone_id}", own_zone))
    yield project
    project.teardown(ENV)


def nothing_left(project: Project) -> None:
    """The environment left nothing, once the data plane's next passes have run."""
    assert project.leftovers(ENV) == NOTHING_LEFT
    deadline = time.monotonic() + 10
    while project.data_plane() != {"processes": [], "folders": []}:
        assert time.monotonic() < deadline, project.data_plane()
        time.sleep(0.2)


def test_a_run_whose_last_role_fails_rolls_back_the_load_balancer_and_database_too(
    project: Project,
) -> None:
    project.write_playbook("smoke.yml", FAILING_PLAYBOOK)  # the last role of the run
    try:
        failed = project.run("up", ENV, "--yes", expect=1)
    finally:
        shutil.copy(ROOT / "playbooks" / "smoke.yml", project.root / "playbooks" / "smoke.yml")
    output = failed.stdout + failed.stderr
    assert "software.smoke@vm.web[0] failed" in output
    assert "rolled back" in output
    assert "lb.web" in output and "db.main" in output
    nothing_left(project)


def test_a_run_killed_while_the_database_is_made_leaves_nothing_after_down(
    project: Project,
) -> None:
    rds = project.client("rds")
    # Killed with its engine once the database's create has reached the cloud.
    project.crash_once(lambda: bool(rds.describe_db_instances()["DBInstances"]), "up", ENV, "--yes")
    project.run("down", ENV, "--yes")
    nothing_left(project)
