"""The composition root: compile an environment and connect the engine to its backends."""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.cli.specs import compile_ref
from provisioner.cloud.aws.target import local_cloud_env
from provisioner.cloud.backend import CloudTarget, PulumiCloud
from provisioner.engine.events import EventSink
from provisioner.engine.orchestrator import Orchestrator
from provisioner.graph import CompiledEnvironment
from provisioner.local.control import LocalCloud
from provisioner.paths import StatePaths


@dataclass(frozen=True)
class Session:
    """One command's compiled environment and its orchestrator."""

    compiled: CompiledEnvironment
    orchestrator: Orchestrator


def open_session(ref: str, sink: EventSink, *, cloud_override: str | None = None) -> Session:
    """Compile ENV (bad specs raise before anything is touched) and wire its backends."""
    compiled = compile_ref(ref)
    if cloud_override is not None and cloud_override != compiled.environment.cloud:
        environment = compiled.environment.model_copy(update={"cloud": cloud_override})
        compiled = CompiledEnvironment(compiled.source, environment, compiled.graph)
    paths = StatePaths.discover()
    cloud = PulumiCloud(compiled, _target(compiled, paths), paths)
    return Session(compiled, Orchestrator(compiled.environment.name, cloud, sink))


def _target(compiled: CompiledEnvironment, paths: StatePaths) -> CloudTarget:
    env = compiled.environment
    if env.cloud == "local":
        endpoint = LocalCloud(paths.local).start().endpoint
        assert endpoint is not None
        return CloudTarget("local", local_cloud_env(endpoint, env.region))
    return CloudTarget("aws", {"AWS_REGION": env.region, "AWS_DEFAULT_REGION": env.region})
