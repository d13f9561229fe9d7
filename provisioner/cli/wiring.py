"""The composition root: compile an environment and connect the engine to its backends."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from pathlib import Path

from provisioner.cli.specs import compile_ref
from provisioner.cloud.aws.target import local_cloud_env
from provisioner.cloud.backend import CloudTarget, PulumiCloud
from provisioner.engine.events import EventSink
from provisioner.engine.orchestrator import Orchestrator
from provisioner.engine.ports import HostReach
from provisioner.graph import CompiledEnvironment
from provisioner.hosts.backend import AnsibleHosts, AnsibleSettings
from provisioner.hosts.reach import DirectReach
from provisioner.local.control import LocalCloud
from provisioner.local.hosts import HostFarm
from provisioner.local.reach import LocalReach
from provisioner.local.record import LocalPaths
from provisioner.paths import StatePaths


@dataclass(frozen=True)
class Session:
    """One command's compiled environment, its orchestrator and its host backend."""

    compiled: CompiledEnvironment
    orchestrator: Orchestrator
    paths: StatePaths
    run_dir: Path
    hosts: AnsibleHosts
    reach: HostReach

    def close(self) -> None:
        """Release what the run holds open (shared SSH connections)."""
        self.hosts.close()


def open_session(ref: str, sink: EventSink, *, cloud_override: str | None = None) -> Session:
    """Compile ENV (bad specs raise before anything is touched) and wire its backends."""
    compiled = compile_ref(ref)
    if cloud_override is not None and cloud_override != compiled.environment.cloud:
        environment = compiled.environment.model_copy(update={"cloud": cloud_override})
        compiled = CompiledEnvironment(compiled.source, environment, compiled.graph)
    paths = StatePaths.discover()
    name = compiled.environment.name
    cloud = PulumiCloud(compiled, _target(compiled, paths), paths)
    run_dir = paths.runs(name) / new_run_id()
    reach = host_reach(compiled, paths)
    hosts = AnsibleHosts(
        AnsibleSettings(
            environment=name,
            playbooks=compiled.source.playbooks_dir.resolve(),
            run_dir=run_dir,
            ansible_home=paths.ansible_home,
            known_hosts=paths.known_hosts(name),
        ),
        reach,
    )
    orchestrator = Orchestrator(name, compiled.graph, cloud, sink, hosts)
    return Session(compiled, orchestrator, paths, run_dir, hosts, reach)


def new_run_id() -> str:
    """Sortable and unique: UTC time, then a random suffix."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def host_reach(compiled: CompiledEnvironment, paths: StatePaths) -> HostReach:
    """On the local cloud, hosts are reached through their VPC namespace only."""
    if compiled.environment.cloud == "local":
        return LocalReach(HostFarm(LocalPaths(paths.local).hosts))
    return DirectReach()


def _target(compiled: CompiledEnvironment, paths: StatePaths) -> CloudTarget:
    env = compiled.environment
    if env.cloud == "local":
        endpoint = LocalCloud(paths.local).start().endpoint
        assert endpoint is not None
        return CloudTarget("local", local_cloud_env(endpoint, env.region))
    return CloudTarget("aws", {"AWS_REGION": env.region, "AWS_DEFAULT_REGION": env.region})
