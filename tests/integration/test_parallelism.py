"""How many cloud operations run at once: all that the graph allows, or `--parallelism`.

A proxy in front of the local cloud holds every `RunInstances` (or
`TerminateInstances`) back for a moment and records when each arrived and was
answered, so the overlap of creates (or deletes) is measured at the cloud's door.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provisioner.local.control import LocalCloud
from provisioner.local.faultproxy import DelayedRequest, FaultProxy, Faults
from tests.integration.projects import Project

pytestmark = pytest.mark.integration

VMS = 5  # one more than the 4 threads of pulumi.dynamic's own provider server
SPEC = f"""\
name: wide
cloud: local
region: us-east-1
networks:
  main: {{cidr: 10.61.0.0/16}}
subnets:
  a: {{network: main, cidr: 10.61.1.0/24}}
security_groups:
  ssh:
    network: main
    ingress: [{{protocol: tcp, ports: 22, cidr: 10.61.0.0/16}}]
vms:
  node: {{count: {VMS}, instance_type: t3.micro, image: ami-12c6146b, subnet: a,
         security_groups: [ssh]}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("wide"))
    project.write_spec("wide", SPEC)
    project.run("local", "start")
    yield project
    project.teardown("wide")


def most_at_once(requests: list[DelayedRequest]) -> int:
    """The largest number of requests that were in flight at the same moment."""
    edges = sorted(
        [(r.arrived, 1) for r in requests] + [(r.answered, -1) for r in requests],
        key=lambda edge: (edge[0], edge[1]),
    )
    current = peak = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def most_in_flight(project: Project, action: str, *command: str) -> int:
    """Run `provision COMMAND` with every `action` call held back 1 s; the most at once."""
    held = Faults(latency=1.0, latency_actions=frozenset({action}))
    with FaultProxy(LocalCloud(project.state / "local").endpoint(), held) as proxy:
        project.extra_env = {"PROVISION_LOCAL_ENDPOINT": proxy.endpoint}
        try:
            project.run(*command)
        finally:
            project.extra_env = {}
        delayed = list(proxy.counts.delayed)
    assert len(delayed) == VMS
    return most_at_once(delayed)


def test_independent_vms_are_created_all_at_once_beyond_pulumis_four_provider_threads(
    project: Project,
) -> None:
    assert most_in_flight(project, "RunInstances", "up", "wide", "--yes") == VMS


def test_parallelism_bounds_the_deletes_in_flight(project: Project) -> None:
    command = ("down", "wide", "--yes", "--parallelism", "3")
    assert most_in_flight(project, "TerminateInstances", *command) == 3


def test_parallelism_bounds_the_creates_in_flight(project: Project) -> None:
    command = ("up", "wide", "--yes", "--parallelism", "1")
    assert most_in_flight(project, "RunInstances", *command) == 1
