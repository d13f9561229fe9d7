"""What several figures share: a fault proxy in front of the local cloud, and graph sizes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bench.harness import BenchProject
from provisioner.cli.wiring import LOCAL_ENDPOINT_ENV
from provisioner.graph import compile_source
from provisioner.local.control import LocalCloud
from provisioner.local.faultproxy import FaultProxy, Faults
from provisioner.spec import resolve_environment
from provisioner.spec.kinds.software import SOFTWARE


@contextmanager
def proxied(project: BenchProject, faults: Faults) -> Iterator[FaultProxy]:
    """Route the project's cloud calls through a fault-injecting proxy while inside."""
    endpoint = LocalCloud(project.state / "local").start().endpoint
    assert endpoint is not None
    with FaultProxy(endpoint, faults) as proxy:
        project.extra_env[LOCAL_ENDPOINT_ENV] = proxy.endpoint
        try:
            yield proxy
        finally:
            project.extra_env.pop(LOCAL_ENDPOINT_ENV, None)


def cloud_nodes(project: BenchProject, environment: str) -> tuple[int, int]:
    """ENV's cloud node count, and how many of them its longest dependency chain holds."""
    path = project.root / "environments" / f"{environment}.yaml"
    graph = compile_source(resolve_environment(str(path), path.parent)).graph
    cloud = [a for a in graph.addresses() if a.kind is not SOFTWARE]
    chain = sum(1 for wave in graph.waves() if any(a.kind is not SOFTWARE for a in wave))
    return len(cloud), chain
