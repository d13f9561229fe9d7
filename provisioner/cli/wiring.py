"""The composition root: compile an environment and connect the engine to its backends.

`ProjectSetup` is the engine's `RunSetup` for this project: state, locks
and run records under the project's state folder, Pulumi for the cloud, Ansible
for the hosts. It holds no workflow; `provisioner.engine.operations` does.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from provisioner.cli.specs import compile_ref
from provisioner.cloud.aws.target import local_cloud_env
from provisioner.cloud.provider_host import DEFAULT_PARALLELISM
from provisioner.cloud.pulumi.state import recorded_uses, resources_in_files
from provisioner.cloud.pulumi.workspace import interrupt_engines
from provisioner.cloud.pulumi_cloud import PROJECT, CloudTarget, PulumiCloud
from provisioner.cloud.s3_lock import S3Lock
from provisioner.engine.locking import EnvironmentLock, FileLock
from provisioner.engine.ports import HostReach
from provisioner.graph import CompiledEnvironment
from provisioner.hosts.ansible import scrub_recorded_environments
from provisioner.hosts.ansible_env import shared_connections_dir
from provisioner.hosts.ansible_hosts import AnsibleHosts, AnsibleSettings
from provisioner.hosts.reach import DirectReach
from provisioner.local.control import LocalCloud
from provisioner.local.hosts import HostFarm
from provisioner.local.reach import LocalReach
from provisioner.local.record import LocalPaths
from provisioner.paths import StatePaths
from provisioner.procs import RUN_ID_ENV, processes_with_env
from provisioner.spec.model import Cloud
from provisioner.spec.uses import EnvironmentGraph
from stacks.program import build_program

LOCAL_ENDPOINT_ENV = "PROVISION_LOCAL_ENDPOINT"


@dataclass(frozen=True)
class Session:
    """One run's backends (the engine's `RunBackends`), and the route to its hosts."""

    cloud: PulumiCloud
    hosts: AnsibleHosts
    reach: HostReach
    run_dir: Path

    def close(self) -> None:
        """Release what the run holds open (shared SSH connections)."""
        self.hosts.close()


@dataclass(frozen=True)
class ProjectSetup:
    """A compiled environment of this project, wired to its backends (the engine's `RunSetup`)."""

    compiled: CompiledEnvironment
    paths: StatePaths
    command: tuple[str, ...]

    @classmethod
    def of(cls, ref: str, cloud: Cloud | None = None) -> ProjectSetup:
        """ENV compiled (bad specs raise before anything is touched), on `cloud` if given."""
        command = ("provision", *recorded_arguments(sys.argv[1:]))
        return cls(compile_for(ref, cloud), StatePaths.discover(), command)

    def nothing_recorded(self) -> bool:
        """True if the environment's state is in files here and records no resource.

        Tells "nothing to delete" without starting the local cloud. State in S3 cannot
        be read without its cloud, so there the answer is False (go and look).
        """
        env = self.compiled.environment
        return resources_in_files(env.state, self.paths, PROJECT, env.name) == 0

    def recorded_resources(self, environment: str) -> int | None:
        return resources_in_files(self.compiled.environment.state, self.paths, PROJECT, environment)

    def users(self) -> list[str]:
        """From the specs of the environments folder; and from the state, the environments
        that have resources but no spec there any more, found by what they last said
        they use (directly, or through another such environment)."""
        env = self.compiled.environment
        graph = EnvironmentGraph.of_folder(self.compiled.source.file.parent)
        found = graph.downstream(env.name)
        recorded = recorded_uses(env.state, self.paths, PROJECT)
        reached = {env.name, *found}
        while added := [
            name
            for name, uses in recorded.items()
            if name not in graph.uses and name not in reached and reached & set(uses)
        ]:
            found += sorted(added)
            reached.update(added)
        return found

    def lock(self) -> EnvironmentLock:
        return environment_lock(self.compiled, self.paths)

    def runs_root(self) -> Path:
        return self.paths.runs_root

    def open(self, run_id: str, *, parallelism: int = DEFAULT_PARALLELISM) -> Session:
        """Wire run `run_id`'s backends (this starts the local cloud if it needs it).

        `parallelism` bounds the cloud operations and the hosts configured at once.
        """
        compiled, paths = self.compiled, self.paths
        name = compiled.environment.name
        target = _target(compiled, paths)
        marked = CloudTarget(target.cloud, {**target.env, RUN_ID_ENV: run_id})
        cloud = PulumiCloud(compiled, marked, paths, build_program, parallelism=parallelism)
        run_dir = paths.runs(name) / run_id
        reach = host_reach(compiled, paths)
        settings = AnsibleSettings(
            environment=name,
            playbooks=compiled.source.playbooks_dir.resolve(),
            run_dir=run_dir,
            ansible_home=paths.ansible_home,
            known_hosts=paths.known_hosts(name),
            run_env={RUN_ID_ENV: run_id},
            timeout=compiled.environment.timeouts.software,
        )
        return Session(cloud, AnsibleHosts(settings, reach), reach, run_dir)

    def stop_leftovers(self, run_id: str) -> int:
        """Stop what run `run_id` left running (Pulumi, its providers, Ansible, SSH masters)."""
        leftovers = processes_with_env(RUN_ID_ENV, run_id)
        # Pulumi first, as Ctrl-C would: it writes its checkpoint before it exits.
        interrupt_engines([process.pid for process in leftovers])
        for process in leftovers:
            process.terminate(grace_seconds=5)
        shutil.rmtree(shared_connections_dir(run_id), ignore_errors=True)
        # A run killed before its first Ansible event left its secrets in runner's record.
        scrub_recorded_environments(self.paths.runs(self.compiled.environment.name) / run_id)
        return len(leftovers)


def compile_for(ref: str, cloud_override: Cloud | None = None) -> CompiledEnvironment:
    """Compile ENV (bad specs raise before anything is touched), on another cloud if asked."""
    compiled = compile_ref(ref)
    if cloud_override is not None and cloud_override != compiled.environment.cloud:
        environment = compiled.environment.model_copy(update={"cloud": cloud_override})
        compiled = replace(compiled, environment=environment)
    return compiled


# Options whose values may be secrets (a token, a webhook URL that embeds one): run
# records, lock files, history and the web view keep the command line without them.
SECRET_OPTIONS = ("--token", "--notify")
HIDDEN = "***"


def recorded_arguments(arguments: Sequence[str]) -> list[str]:
    """The command line's arguments as a run records them: secret options' values hidden."""
    kept: list[str] = []
    for argument in arguments:
        option, equals, _ = argument.partition("=")
        if kept and kept[-1] in SECRET_OPTIONS:
            kept.append(HIDDEN)
        elif equals and option in SECRET_OPTIONS:
            kept.append(f"{option}={HIDDEN}")
        else:
            kept.append(argument)
    return kept


def environment_lock(compiled: CompiledEnvironment, paths: StatePaths) -> EnvironmentLock:
    """An S3 object next to S3 state; a file lock in the state folder otherwise."""
    env = compiled.environment
    if env.state and urlsplit(env.state).scheme == "s3":
        target = _target(compiled, paths)
        return S3Lock(env.state, env.name, target.env)
    return FileLock(paths.locks / f"{env.name}.lock", env.name)


def host_reach(compiled: CompiledEnvironment, paths: StatePaths) -> HostReach:
    """On the local cloud, hosts are reached through their VPC namespace only."""
    if compiled.environment.cloud == Cloud.LOCAL:
        return LocalReach(HostFarm(LocalPaths(paths.local).hosts))
    return DirectReach()


def _target(compiled: CompiledEnvironment, paths: StatePaths) -> CloudTarget:
    env = compiled.environment
    if env.cloud == Cloud.LOCAL:
        endpoint = LocalCloud(paths.local).start().endpoint
        assert endpoint is not None
        # A loopback proxy in front of the local cloud (tests, benchmarks) may stand in.
        endpoint = os.environ.get(LOCAL_ENDPOINT_ENV) or endpoint
        return CloudTarget(Cloud.LOCAL, local_cloud_env(endpoint, env.region))
    return CloudTarget(Cloud.AWS, {"AWS_REGION": env.region, "AWS_DEFAULT_REGION": env.region})
