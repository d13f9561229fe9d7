"""The composition root: compile an environment and connect the engine to its backends."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from provisioner.cli.specs import compile_ref
from provisioner.cloud.aws.target import local_cloud_env
from provisioner.cloud.provider_host import DEFAULT_PARALLELISM
from provisioner.cloud.pulumi.state import resources_in_files
from provisioner.cloud.pulumi.workspace import interrupt_engines
from provisioner.cloud.pulumi_cloud import PROJECT, CloudTarget, PulumiCloud
from provisioner.cloud.s3_lock import S3Lock
from provisioner.engine.events import EventSink, LogMessage, NullSink
from provisioner.engine.history import RunInfo, RunRecorder, TeeSink
from provisioner.engine.locking import EnvironmentLock, FileLock, LockHolder, locked
from provisioner.engine.orchestrator import Orchestrator
from provisioner.engine.ports import HostReach
from provisioner.graph import CompiledEnvironment
from provisioner.hosts.ansible_hosts import AnsibleHosts, AnsibleSettings, shared_connections_dir
from provisioner.hosts.reach import DirectReach
from provisioner.local.control import LocalCloud
from provisioner.local.hosts import HostFarm
from provisioner.local.reach import LocalReach
from provisioner.local.record import LocalPaths
from provisioner.paths import StatePaths
from provisioner.procs import processes_with_env
from stacks.program import build_program

LOCAL_ENDPOINT_ENV = "PROVISION_LOCAL_ENDPOINT"
# Set in the environment of every process a run starts, so a later run can find them.
RUN_ID_ENV = "PROVISION_RUN_ID"


@dataclass
class Session:
    """One command's compiled environment, its orchestrator and its host backend."""

    compiled: CompiledEnvironment
    orchestrator: Orchestrator
    paths: StatePaths
    run_dir: Path
    hosts: AnsibleHosts
    reach: HostReach
    lock: EnvironmentLock
    recorder: RunRecorder | None = field(default=None)

    def close(self) -> None:
        """Release what the run holds open (shared SSH connections)."""
        self.hosts.close()

    def show(self, display: EventSink) -> None:
        """Send the engine's events to `display` (and to the run record, when recording)."""
        recorder = self.recorder
        self.orchestrator.sink = TeeSink(display, recorder) if recorder else display

    @contextmanager
    def recorded(self, *, lock: bool) -> Iterator[RunRecorder]:
        """Record this run in the history; hold the environment's lock too if `lock`."""
        name = self.compiled.environment.name
        info = RunInfo.current(self.run_dir.name, name, ["provision", *sys.argv[1:]], Path.cwd())
        recorder = RunRecorder(self.run_dir, info)
        self.recorder = recorder
        self.show(NullSink())
        try:
            with recorder.recording():
                if not lock:
                    yield recorder
                    return
                holder = LockHolder(
                    info.host,
                    info.pid,
                    info.started_at,
                    " ".join(info.command),
                    info.id,
                    pid_started=info.pid_started,
                )
                with locked(self.lock, holder) as stale:
                    if stale is not None:
                        recorder.emit(LogMessage(level="warning", text=reap(stale)))
                    yield recorder
        finally:
            self.close()
            # Nothing this run started outlives it (a plugin whose engine died, say).
            leftovers = processes_with_env(RUN_ID_ENV, self.run_dir.name)
            interrupt_engines([process.pid for process in leftovers])
            for process in leftovers:
                process.terminate(grace_seconds=5)


def compile_for(ref: str, cloud_override: str | None = None) -> CompiledEnvironment:
    """Compile ENV (bad specs raise before anything is touched), on another cloud if asked."""
    compiled = compile_ref(ref)
    if cloud_override is not None and cloud_override != compiled.environment.cloud:
        environment = compiled.environment.model_copy(update={"cloud": cloud_override})
        compiled = CompiledEnvironment(compiled.source, environment, compiled.graph)
    return compiled


def nothing_recorded(compiled: CompiledEnvironment) -> bool:
    """True if the environment's state is in files here and records no resource.

    Tells "nothing to delete" without starting the local cloud. State in S3 cannot
    be read without its cloud, so there the answer is False (go and look).
    """
    env = compiled.environment
    return resources_in_files(env.state, StatePaths.discover(), PROJECT, env.name) == 0


def open_session(
    compiled: CompiledEnvironment,
    sink: EventSink,
    *,
    parallelism: int = DEFAULT_PARALLELISM,
) -> Session:
    """Wire a compiled environment's backends (this starts the local cloud if it needs it).

    `parallelism` bounds the cloud operations and the hosts configured at once.
    """
    paths = StatePaths.discover()
    name = compiled.environment.name
    run_id = new_run_id()
    target = _target(compiled, paths)
    marked = CloudTarget(target.cloud, {**target.env, RUN_ID_ENV: run_id})
    cloud = PulumiCloud(compiled, marked, paths, build_program, parallelism=parallelism)
    run_dir = paths.runs(name) / run_id
    reach = host_reach(compiled, paths)
    hosts = AnsibleHosts(
        AnsibleSettings(
            environment=name,
            playbooks=compiled.source.playbooks_dir.resolve(),
            run_dir=run_dir,
            ansible_home=paths.ansible_home,
            known_hosts=paths.known_hosts(name),
            run_env={RUN_ID_ENV: run_id},
            timeout=compiled.environment.timeouts.software,
        ),
        reach,
    )
    orchestrator = Orchestrator(name, compiled.graph, cloud, sink, hosts, parallelism=parallelism)
    lock = environment_lock(compiled, paths)
    return Session(compiled, orchestrator, paths, run_dir, hosts, reach, lock)


def environment_lock(compiled: CompiledEnvironment, paths: StatePaths) -> EnvironmentLock:
    """An S3 object next to S3 state; a file lock in the state folder otherwise."""
    env = compiled.environment
    if env.state and urlsplit(env.state).scheme == "s3":
        target = _target(compiled, paths)
        return S3Lock(env.state, env.name, target.env)
    return FileLock(paths.locks / f"{env.name}.lock", env.name)


def reap(stale: LockHolder) -> str:
    """Stop what a killed run left running (Pulumi, its providers, Ansible, SSH masters)."""
    leftovers = processes_with_env(RUN_ID_ENV, stale.run_id)
    # Pulumi first, as Ctrl-C would: it writes its checkpoint before it exits.
    interrupt_engines([process.pid for process in leftovers])
    for process in leftovers:
        process.terminate(grace_seconds=5)
    shutil.rmtree(shared_connections_dir(stale.run_id), ignore_errors=True)
    return (
        f"took over the lock of run {stale.run_id} (pid {stale.pid}), which died; "
        f"stopped {len(leftovers)} processes it left"
    )


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
        # A loopback proxy in front of the local cloud (tests, benchmarks) may stand in.
        endpoint = os.environ.get(LOCAL_ENDPOINT_ENV) or endpoint
        return CloudTarget("local", local_cloud_env(endpoint, env.region))
    return CloudTarget("aws", {"AWS_REGION": env.region, "AWS_DEFAULT_REGION": env.region})
