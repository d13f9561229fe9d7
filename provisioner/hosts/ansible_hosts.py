"""AnsibleHosts: the engine's HostBackend, running a role's playbook on its VMs in one run."""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from provisioner.engine.events import EventSink, HostTaskFinished, NullSink, TaskStatus
from provisioner.engine.ports import ConfigureResult, HostReach, HostTarget, SshRoute
from provisioner.errors import HostError, ProvisionError
from provisioner.hosts.ansible import PlaybookOutcome, PlaybookRun, TaskResult, run_playbook
from provisioner.hosts.ansible_env import ansible_environment, shared_connections_dir
from provisioner.hosts.inventory import extra_vars, inventory_for, merged_inventory
from provisioner.hosts.ssh import (
    close_shared_connections,
    forget_host_keys,
    pin_host_key,
    private_key_file,
)
from provisioner.plan import TaskChange, TaskOutlook

SSH_READY_TIMEOUT = 120.0
HOST_GONE_TIMEOUT = 60.0
MAX_FORKS = 32  # hosts one ansible-playbook run works on at once

T = TypeVar("T")


@dataclass(frozen=True)
class AnsibleSettings:
    """Where one run keeps its Ansible files, all inside the state folder."""

    environment: str
    playbooks: Path
    run_dir: Path  # this run's folder: a fresh private data dir per playbook run
    ansible_home: Path
    known_hosts: Path  # pinned host keys of the environment
    timeout: int | None = 1800
    run_env: Mapping[str, str] = field(default_factory=dict)  # marks the run's processes


class AnsibleHosts:
    """Configures software nodes with ansible-runner over SSH.

    The nodes of one call share a playbook and run as one ansible-playbook run
    (one fork per host, up to MAX_FORKS), each host with its own route, key file
    and pinned host key; the run's events are split per host.

    Connections are shared (ControlPersist) for the length of one run and closed
    by `close()`.
    """

    def __init__(self, settings: AnsibleSettings, reach: HostReach) -> None:
        self.settings = settings
        self.reach = reach
        self._control_dir: Path | None = None
        self._control_lock = threading.Lock()
        self._sequence = itertools.count()

    def configure(self, targets: Sequence[HostTarget], sink: EventSink) -> list[ConfigureResult]:
        """Run the nodes' playbook on their VMs in one run; each task is reported as it ends."""
        outcomes = self._run(targets, sink, check=False)
        results: list[ConfigureResult] = []
        for target, outcome in zip(targets, outcomes, strict=True):
            if isinstance(outcome, HostError):
                results.append(ConfigureResult(error=str(outcome)))
            elif outcome.status == "timeout":
                results.append(self._timed_out(target, outcome, targets, outcomes))
            else:
                results.append(host_summary(outcome, target.vm.hostname))
        return results

    def _timed_out(
        self,
        target: HostTarget,
        outcome: PlaybookOutcome,
        targets: Sequence[HostTarget],
        outcomes: Sequence[PlaybookOutcome | HostError],
    ) -> ConfigureResult:
        """Why a node of a run that hit timeouts.software failed.

        The run is killed as a whole: a host that hung in a task timed out; the
        other hosts of its run were stopped with it, wherever they were.
        """
        limit = f"{self.settings.timeout}s (the spec's timeouts.software)"
        hung_in = outcome.unfinished.get(target.vm.hostname)
        if hung_in is not None:
            return ConfigureResult(error=f"timed out after {limit} in task '{hung_in}'")
        hung = [
            str(other.node.address)
            for other, shared in zip(targets, outcomes, strict=True)
            if shared is outcome and other.vm.hostname in outcome.unfinished
        ]
        if not hung:
            return ConfigureResult(error=f"timed out after {limit}")
        return ConfigureResult(
            error=f"stopped after {limit}: its playbook run, shared with {', '.join(hung)}, "
            "was stopped when that timed out",
            collateral=True,
        )

    def check(self, targets: Sequence[HostTarget], sink: EventSink) -> list[tuple[TaskChange, ...]]:
        """What the playbook would change on each VM (Ansible's check mode, with diffs)."""
        predicted: list[tuple[TaskChange, ...]] = []
        for target, outcome in zip(
            targets, self._run(targets, NullSink(), check=True), strict=True
        ):
            if isinstance(outcome, HostError):
                raise outcome
            tasks = outcome.tasks_of(target.vm.hostname)
            if not outcome.host_ok(target.vm.hostname) and not tasks:
                raise HostError(
                    f"check mode of {target.node.address} failed: "
                    + _last_line(outcome.output_tail)
                )
            predicted.append(tuple(_predicted(task) for task in tasks))
        return predicted

    def release(self, instance_ids: list[str]) -> None:
        """Wait for the deleted VMs' hosts to go, and unpin their host keys."""
        self.reach.wait_gone(instance_ids, timeout=HOST_GONE_TIMEOUT)
        forget_host_keys(self.settings.known_hosts, instance_ids)

    def close(self) -> None:
        """End the run's shared SSH connections and remove their sockets."""
        with self._control_lock:
            if self._control_dir is not None:
                close_shared_connections(self._control_dir)
                shutil.rmtree(self._control_dir, ignore_errors=True)
                self._control_dir = None

    def _shared_connections(self) -> Path:
        # Unix socket paths are short (108 bytes) and Ansible adds a 40-character
        # hash, so the sockets live in a short temporary folder, not the state folder.
        with self._control_lock:
            if self._control_dir is None:
                self._control_dir = shared_connections_dir(self.settings.run_dir.name)
                self._control_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            return self._control_dir

    def _run(
        self, targets: Sequence[HostTarget], sink: EventSink, *, check: bool
    ) -> list[PlaybookOutcome | HostError]:
        """One outcome per target (the whole run's), or the error that kept it from running.

        Targets whose extra vars agree share one run; extra vars are per run, and
        they must stay extra vars to override the playbook's own defaults.
        """
        runs: dict[str, list[int]] = {}
        for index, target in enumerate(targets):
            key = json.dumps(
                extra_vars(self.settings.environment, target), sort_keys=True, default=str
            )
            runs.setdefault(key, []).append(index)
        outcomes: list[PlaybookOutcome | HostError | None] = [None] * len(targets)

        def one_run(indexes: list[int]) -> None:
            found = self._run_together([targets[i] for i in indexes], sink, check=check)
            for index, outcome in zip(indexes, found, strict=True):
                outcomes[index] = outcome

        _concurrently(one_run, list(runs.values()))
        return [outcome for outcome in outcomes if outcome is not None]

    def _run_together(
        self, targets: Sequence[HostTarget], sink: EventSink, *, check: bool
    ) -> list[PlaybookOutcome | HostError]:
        """One ansible-playbook run whose inventory holds every target's host."""
        routes: list[SshRoute | HostError] = [HostError("no route")] * len(targets)

        def find_route(index: int) -> None:
            target = targets[index]
            if target.private_key is None:
                routes[index] = HostError(
                    f"{target.vm.address} has no key pair, so it cannot be reached over SSH",
                    hint="give its VM group a key_pair",
                )
                return
            try:
                routes[index] = self.reach.route(
                    target.instance_id, target.private_ip, timeout=SSH_READY_TIMEOUT
                )
            except HostError as error:
                routes[index] = error
            except ProvisionError as error:
                routes[index] = HostError(str(error))

        _concurrently(find_route, list(range(len(targets))))
        reachable = [
            (target, route)
            for target, route in zip(targets, routes, strict=True)
            if isinstance(route, SshRoute)
        ]
        if not reachable:
            return [route for route in routes if isinstance(route, HostError)]
        addresses = {target.vm.hostname: str(target.node.address) for target, _ in reachable}
        label = (
            str(reachable[0][0].node.address)
            if len(reachable) == 1
            else f"{reachable[0][0].node.role}-{len(reachable)}-hosts"
        )
        folder = self._private_data_dir(label, check)

        def report(task: TaskResult) -> None:
            if task.host not in addresses:
                return
            sink.emit(
                HostTaskFinished(
                    address=addresses[task.host],
                    host=task.host,
                    task=task.task,
                    status=task.status,
                    message=task.message,
                )
            )

        with contextlib.ExitStack() as keys:
            inventories = []
            key_files = []
            for target, route in reachable:
                assert target.private_key is not None
                key_file = keys.enter_context(
                    private_key_file(
                        folder / "env" / "keys" / target.vm.hostname, target.private_key
                    )
                )
                key_files.append(key_file)
                inventories.append(
                    inventory_for(target, route, self.settings.known_hosts, key_file)
                )
            _concurrently(
                lambda i: pin_host_key(reachable[i][1], self.settings.known_hosts, key_files[i]),
                list(range(len(reachable))),
            )
            outcome = run_playbook(
                PlaybookRun(
                    playbook=reachable[0][0].node.playbook,
                    project_dir=self.settings.playbooks,
                    private_data_dir=folder,
                    inventory=merged_inventory(inventories),
                    limit=",".join(addresses),
                    forks=min(MAX_FORKS, len(reachable)),
                    extravars=extra_vars(self.settings.environment, reachable[0][0]),
                    envvars=self._envvars(folder),
                    check=check,
                    timeout=self.settings.timeout,
                    secrets={k: v for t, _ in reachable for k, v in t.secrets.items()},
                ),
                report,
            )
        return [outcome if isinstance(route, SshRoute) else route for route in routes]

    def _private_data_dir(self, address: str, check: bool) -> Path:
        """A new folder per invocation: ansible-runner keeps stale files in a reused one."""
        slug = "".join(c if c.isalnum() else "-" for c in address).strip("-")
        name = f"{next(self._sequence):03d}-{'check-' if check else ''}{slug}"
        folder = self.settings.run_dir / "ansible" / name
        folder.mkdir(parents=True, mode=0o700)
        return folder

    def _envvars(self, folder: Path) -> dict[str, str]:
        self.settings.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        self.settings.ansible_home.mkdir(parents=True, exist_ok=True)
        return ansible_environment(
            ansible_home=self.settings.ansible_home,
            local_temp=folder / "tmp",
            control_dir=self._shared_connections(),
            run_env=self.settings.run_env,
        )


def _concurrently(work: Callable[[T], None], items: Sequence[T]) -> None:
    """`work(item)` for every item, each in its own thread (just the call when there is one)."""
    if len(items) == 1:
        work(items[0])
        return
    with ThreadPoolExecutor(max_workers=max(1, len(items)), thread_name_prefix="hosts") as pool:
        for future in [pool.submit(work, item) for item in items]:
            future.result()


def host_summary(outcome: PlaybookOutcome, host: str) -> ConfigureResult:
    """How the run went on `host`."""
    tasks = outcome.tasks_of(host)

    def count(status: TaskStatus) -> int:
        return sum(1 for task in tasks if task.status is status)

    failed = [t for t in tasks if t.status in (TaskStatus.FAILED, TaskStatus.UNREACHABLE)]
    error = None
    if failed:
        error = f"task '{failed[0].task}' failed: {failed[0].message}"
    elif not outcome.host_ok(host):
        error = f"ansible-playbook ended {outcome.status} (rc {outcome.rc}): " + _last_line(
            outcome.output_tail
        )
    return ConfigureResult(
        ok=count(TaskStatus.OK),
        changed=count(TaskStatus.CHANGED),
        failed=count(TaskStatus.FAILED),
        skipped=count(TaskStatus.SKIPPED),
        unreachable=count(TaskStatus.UNREACHABLE) > 0,
        error=error,
    )


def _predicted(task: TaskResult) -> TaskChange:
    if task.unpredictable:
        return TaskChange(task.task, TaskOutlook.UNKNOWN, note="check mode cannot run this task")
    if task.status in (TaskStatus.FAILED, TaskStatus.UNREACHABLE):
        return TaskChange(task.task, TaskOutlook.FAIL, note=task.message)
    if task.status is TaskStatus.CHANGED:
        return TaskChange(task.task, TaskOutlook.CHANGE, diff=task.diff)
    return TaskChange(task.task, TaskOutlook.NO_CHANGE)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"
