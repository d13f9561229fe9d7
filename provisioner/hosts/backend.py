"""AnsibleHosts: the engine's HostBackend, running each software node's playbook on its VM."""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from provisioner.engine.events import EventSink, HostTaskFinished, NullSink, TaskStatus
from provisioner.engine.ports import ConfigureResult, HostReach, HostTarget
from provisioner.errors import HostError
from provisioner.hosts.ansible import PlaybookOutcome, PlaybookRun, TaskResult, run_playbook
from provisioner.hosts.inventory import extra_vars, inventory_for
from provisioner.hosts.ssh import close_shared_connections, forget_host_keys, private_key_file
from provisioner.plan import TaskChange, TaskOutlook

SSH_READY_TIMEOUT = 120.0
HOST_GONE_TIMEOUT = 60.0


@dataclass(frozen=True)
class AnsibleSettings:
    """Where one run keeps its Ansible files, all inside the state folder."""

    environment: str
    playbooks: Path
    run_dir: Path  # this run's folder: a fresh private data dir per node
    ansible_home: Path
    known_hosts: Path  # pinned host keys of the environment
    timeout: int | None = 1800
    run_env: Mapping[str, str] = field(default_factory=dict)  # marks the run's processes


class AnsibleHosts:
    """Configures software nodes with ansible-runner over SSH.

    Connections are shared (ControlPersist) for the length of one run and closed
    by `close()`.
    """

    def __init__(self, settings: AnsibleSettings, reach: HostReach) -> None:
        self.settings = settings
        self.reach = reach
        self._control_dir: Path | None = None
        self._control_lock = threading.Lock()
        self._sequence = itertools.count()

    def configure(self, target: HostTarget, sink: EventSink) -> ConfigureResult:
        """Run the node's playbook on its VM; each task is reported to `sink` as it ends."""
        outcome = self._run(target, sink, check=False)
        if outcome.status == "timeout":
            return ConfigureResult(
                error=f"timed out after {self.settings.timeout}s (the spec's timeouts.software)"
            )
        return _summary(outcome)

    def check(self, target: HostTarget, sink: EventSink) -> tuple[TaskChange, ...]:
        """What the playbook would change on the VM (Ansible's check mode, with diffs)."""
        outcome = self._run(target, NullSink(), check=True)
        if not outcome.ok and not outcome.tasks:
            raise HostError(
                f"check mode of {target.node.address} failed: {_last_line(outcome.output_tail)}"
            )
        return tuple(_predicted(task) for task in outcome.tasks)

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

    def _run(self, target: HostTarget, sink: EventSink, *, check: bool) -> PlaybookOutcome:
        if target.private_key is None:
            raise HostError(
                f"{target.vm.address} has no key pair, so it cannot be reached over SSH",
                hint="give its VM group a key_pair",
            )
        route = self.reach.route(target.instance_id, target.private_ip, timeout=SSH_READY_TIMEOUT)
        folder = self._private_data_dir(str(target.node.address), check)
        address, host = str(target.node.address), target.vm.hostname

        def report(task: TaskResult) -> None:
            sink.emit(
                HostTaskFinished(
                    address=address,
                    host=host,
                    task=task.task,
                    status=task.status,
                    message=task.message,
                )
            )

        with private_key_file(folder / "env", target.private_key) as key_file:
            return run_playbook(
                PlaybookRun(
                    playbook=target.node.playbook,
                    project_dir=self.settings.playbooks,
                    private_data_dir=folder,
                    inventory=inventory_for(target, route, self.settings.known_hosts),
                    key_file=key_file,
                    limit=target.vm.hostname,
                    extravars=extra_vars(self.settings.environment, target),
                    envvars=self._envvars(folder),
                    check=check,
                    timeout=self.settings.timeout,
                ),
                report,
            )

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
        return {
            **self.settings.run_env,
            "ANSIBLE_HOME": str(self.settings.ansible_home),
            "ANSIBLE_LOCAL_TEMP": str(folder / "tmp"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": str(self._shared_connections()),
            "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=120s",
            "ANSIBLE_SSH_RETRIES": "3",
            "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_GATHERING": "explicit",
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_DEPRECATION_WARNINGS": "False",
            "ANSIBLE_LOCALHOST_WARNING": "False",
            "ANSIBLE_TIMEOUT": "20",
        }


def shared_connections_dir(run_id: str) -> Path:
    """Where one run's SSH control sockets live (known by run id, so a later run can clean up)."""
    return Path(tempfile.gettempdir()) / f"provision-ssh-{run_id}"


def _summary(outcome: PlaybookOutcome) -> ConfigureResult:
    def count(status: TaskStatus) -> int:
        return sum(1 for task in outcome.tasks if task.status is status)

    failed = [t for t in outcome.tasks if t.status in (TaskStatus.FAILED, TaskStatus.UNREACHABLE)]
    error = None
    if failed:
        error = f"task '{failed[0].task}' failed: {failed[0].message}"
    elif not outcome.ok:
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
