"""`kill -9` at any point of `up`, then `up` again: the full environment, nothing orphaned.

Each kill point is a line of `up`'s progress output; the run is killed with
SIGKILL as soon as it prints it. The next `up` must complete without manual
steps: it stops what the dead run left running, clears Pulumi's pending
operations and dead locks, and deletes cloud resources the state never recorded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner.hosts.backend import shared_connections_dir
from provisioner.local.hosts import HostFarm
from provisioner.local.record import LocalPaths
from tests.integration.projects import Project

pytestmark = pytest.mark.integration

DEV_RESOURCES = 11
# (line that triggers the kill, whether the environment is first taken down)
KILL_POINTS = [
    ("key.deploy: create ...", True),
    ("subnet.public-a: create done", True),
    ("vm.db[0]: create ...", True),
    ("software.base@vm.db[0]: configure ...", False),
    ("software.db@vm.db[0]: configure ...", False),
    ("software.web@vm.web[1]: configure ...", False),
]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("crash"))
    yield project
    project.teardown("dev")


def kill_at(project: Project, marker: str) -> str:
    """Start `up`, SIGKILL it when it prints `marker`; return what it printed."""
    process = project.start("up", "dev", "--yes")
    assert process.stdout is not None
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        if marker in line:
            process.kill()
            break
    process.wait(timeout=60)
    process.stdout.close()
    assert any(marker in line for line in seen), "".join(seen)
    return "".join(seen)


def leftover_processes(project: Project) -> list[int]:
    """Processes still carrying the marker of one of this project's runs."""
    runs = {folder.name for folder in (project.state / "runs" / "dev").iterdir()}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for item in environ:
            if item.startswith(b"PROVISION_RUN_ID=") and item.split(b"=", 1)[1].decode() in runs:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize(("marker", "from_scratch"), KILL_POINTS, ids=[m for m, _ in KILL_POINTS])
def test_up_after_a_kill_reaches_the_full_environment_with_nothing_orphaned(
    project: Project, marker: str, from_scratch: bool
) -> None:
    if from_scratch:
        project.run("down", "dev", "--yes")
    kill_at(project, marker)

    recovered = project.run("up", "dev", "--yes")
    assert "Applied." in recovered.stdout

    state = project.state_ids("dev")
    assert len(state) == DEV_RESOURCES
    assert project.tagged_ids("dev") == state
    farm = HostFarm(LocalPaths(project.state / "local").hosts)
    deadline = time.monotonic() + 15
    while len(farm.records()) != 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(farm.records()) == 3
    assert leftover_processes(project) == []
    runs = [folder.name for folder in (project.state / "runs" / "dev").iterdir()]
    assert [run for run in runs if shared_connections_dir(run).exists()] == []
    page = project.run("ssh", "dev", "web-0", "--", "curl", "-sf", "http://127.0.0.1:8080/").stdout
    assert "db db-0 says hit" in page


def test_down_after_the_recoveries_leaves_nothing(project: Project) -> None:
    project.run("down", "dev", "--yes")
    assert project.tagged_ids("dev") == set()
    assert HostFarm(LocalPaths(project.state / "local").hosts).records() == {}
