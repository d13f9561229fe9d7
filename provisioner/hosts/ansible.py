"""The one module that runs Ansible: ansible-runner in, typed task results out."""

from __future__ import annotations

import difflib
import json
import os
import shlex
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.engine.events import TaskStatus
from provisioner.engine.variables import SECRET_ENV_PREFIX
from provisioner.fsutil import atomic_write_text

MASK = "********"
_TAIL_LINES = 20
_TASK_EVENTS = {
    "runner_on_ok": TaskStatus.OK,
    "runner_on_failed": TaskStatus.FAILED,
    "runner_on_skipped": TaskStatus.SKIPPED,
    "runner_on_unreachable": TaskStatus.UNREACHABLE,
}


@dataclass(frozen=True)
class TaskResult:
    """One task on one host. In check mode, `diff` is what it would change."""

    host: str
    task: str
    status: TaskStatus
    message: str | None = None
    diff: str | None = None
    # Check mode skipped it: its effect cannot be predicted (command, shell, wait_for).
    unpredictable: bool = False


@dataclass(frozen=True)
class PlaybookRun:
    """One ansible-playbook invocation. `private_data_dir` must be new (runner keeps old files).

    Each host's key file is in its inventory variables (`ansible_ssh_private_key_file`);
    `key_file`, if given, is the key for hosts without one. `forks`: hosts worked on at once.
    `secrets`: environment variables the extra vars look secrets up in; their values
    are masked in everything the run reports or leaves in `private_data_dir`.
    """

    playbook: str
    project_dir: Path
    private_data_dir: Path
    inventory: Mapping[str, Any]
    limit: str
    key_file: Path | None = None
    forks: int = 1
    extravars: Mapping[str, Any] = field(default_factory=dict)
    envvars: Mapping[str, str] = field(default_factory=dict)
    check: bool = False
    timeout: int | None = None
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class PlaybookOutcome:
    """How the run ended: runner status and rc, each task's result, the output's last lines.

    `completed` names the hosts the play went through to its end without a failed
    or unreachable task (from the run's final stats).
    """

    status: str
    rc: int
    tasks: tuple[TaskResult, ...]
    output_tail: str
    completed: frozenset[str] = frozenset()
    # Host -> the task it had started and not finished when the run ended (a timeout).
    unfinished: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    def host_ok(self, host: str) -> bool:
        """Whether the run went well for `host`, whatever happened on the others."""
        if self.status == "timeout":
            return False
        return self.ok or host in self.completed

    def tasks_of(self, host: str) -> tuple[TaskResult, ...]:
        return tuple(task for task in self.tasks if task.host == host)


def run_playbook(run: PlaybookRun, on_task: Callable[[TaskResult], None]) -> PlaybookOutcome:
    """Run the playbook; `on_task` hears of each task as it ends."""
    import ansible_runner  # heavy: imported when a playbook actually runs

    tasks: list[TaskResult] = []
    completed: set[str] = set()
    running: dict[str, str] = {}  # host -> the task started on it and not ended yet
    output: deque[str] = deque(maxlen=_TAIL_LINES)  # the output's last lines, masked
    values = [value for value in run.secrets.values() if value]
    command_masked: list[bool] = []

    def handle(event: dict[str, Any]) -> bool:
        # Masked in place, so that the event file runner writes is masked too.
        mask_secrets(event, values)
        if not command_masked:  # runner has written its command file by the first event
            _mask_files(run.private_data_dir, "artifacts/*/command", values)
            command_masked.append(True)
        output.extend(str(event.get("stdout") or "").splitlines())
        started = task_started(event)
        if started is not None:
            running[started[0]] = started[1]
        result = task_result(event, check=run.check)
        if result is not None:
            running.pop(result.host, None)
            tasks.append(result)
            on_task(result)
        completed.update(completed_hosts(event))
        return True

    cmdline = ["--private-key", str(run.key_file)] if run.key_file is not None else []
    if run.check:
        # -v puts each skipped task's reason in its event's text: the only place
        # where "skipped because check mode cannot run it" can be told apart.
        cmdline += ["--check", "--diff", "-v"]
    runner = ansible_runner.run(
        private_data_dir=str(run.private_data_dir),
        project_dir=str(run.project_dir),
        playbook=run.playbook,
        inventory=dict(run.inventory),
        extravars=dict(run.extravars),
        envvars={
            "PATH": _path_with_our_tools(run.envvars.get("PATH")),
            **run.envvars,
            **run.secrets,
        },
        cmdline=shlex.join(cmdline),
        limit=run.limit,
        forks=max(1, run.forks),
        quiet=True,
        event_handler=handle,
        timeout=run.timeout,
        # No envvars file (the secrets), and no unmasked copy of the output: the
        # events carry it, masked.
        suppress_env_files=True,
        suppress_output_file=True,
    )
    _remove_unmasked_events(run.private_data_dir)
    _mask_files(run.private_data_dir, "artifacts/*/command", values)
    return PlaybookOutcome(
        status=str(runner.status),
        rc=int(runner.rc if runner.rc is not None else 1),
        tasks=tuple(tasks),
        output_tail="\n".join(output),
        completed=frozenset(completed),
        unfinished=dict(running),
    )


def task_started(event: Mapping[str, Any]) -> tuple[str, str] | None:
    """(host, task) if the event says a task started on a host."""
    if event.get("event") != "runner_on_start":
        return None
    data = event.get("event_data") or {}
    if not data.get("host"):
        return None
    return str(data["host"]), str(data.get("task") or "(unnamed task)")


def completed_hosts(event: Mapping[str, Any]) -> set[str]:
    """From the run's final stats: the hosts processed without failure or unreachability."""
    if event.get("event") != "playbook_on_stats":
        return set()
    data = event.get("event_data") or {}
    broken = set(data.get("failures") or {}) | set(data.get("dark") or {})
    return {str(host) for host in data.get("processed") or {} if host not in broken}


def task_result(event: Mapping[str, Any], *, check: bool) -> TaskResult | None:
    """The task result an ansible-runner event reports, or None for other events."""
    status = _TASK_EVENTS.get(str(event.get("event")))
    data = event.get("event_data") or {}
    if status is None or not data.get("host"):
        return None
    res = data.get("res") or {}
    if status is TaskStatus.FAILED and data.get("ignore_errors"):
        status = TaskStatus.OK
    if status is TaskStatus.OK and res.get("changed"):
        status = TaskStatus.CHANGED
    message = _message(res) if status in (TaskStatus.FAILED, TaskStatus.UNREACHABLE) else None
    skipped_by_check = (
        check
        and status is TaskStatus.SKIPPED
        and "check mode" in f"{res.get('msg', '')} {event.get('stdout', '')}"
    )
    return TaskResult(
        host=str(data["host"]),
        task=str(data.get("task") or "(unnamed task)"),
        status=status,
        message=message,
        diff=_diff_text(res.get("diff")) if check else None,
        unpredictable=skipped_by_check,
    )


def _message(res: Mapping[str, Any]) -> str:
    for key in ("msg", "stderr", "stdout", "module_stderr"):
        text = str(res.get(key) or "").strip()
        if text:
            return " ".join(text.split())[:500]
    return "(no message)"


def _diff_text(diff: Any) -> str | None:
    """Ansible's before/after diff(s) as unified diff text."""
    parts = diff if isinstance(diff, list) else [diff] if isinstance(diff, dict) else []
    chunks = []
    for part in parts:
        before, after = part.get("before", ""), part.get("after", "")
        if isinstance(before, dict) or isinstance(after, dict):
            before, after = _state_lines(before), _state_lines(after)
        if before == after:
            continue
        chunks.append(
            "".join(
                difflib.unified_diff(
                    str(before).splitlines(keepends=True),
                    str(after).splitlines(keepends=True),
                    fromfile=str(part.get("before_header") or "before"),
                    tofile=str(part.get("after_header") or "after"),
                )
            )
        )
    text = "".join(chunks).strip()
    return text or None


def _state_lines(value: Any) -> str:
    if not isinstance(value, dict):
        return str(value or "")
    return "".join(f"{key}: {value[key]}\n" for key in sorted(value))


def mask_secrets(value: Any, secrets: Sequence[str]) -> Any:
    """`value` with each of `secrets` replaced by MASK; mappings and lists are changed in place."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, MASK)
        return value
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = mask_secrets(item, secrets)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = mask_secrets(item, secrets)
    return value


def _mask_files(folder: Path, pattern: str, secrets: Sequence[str]) -> None:
    """Mask `secrets` in the files under `folder` that match `pattern`.

    ansible-runner writes the run's whole environment, secrets included, to
    `artifacts/ID/command` before Ansible starts.
    """
    for path in folder.glob(pattern) if secrets else ():
        text = path.read_text(encoding="utf-8")
        masked = mask_secrets(text, secrets)
        if masked != text:
            path.write_text(masked, encoding="utf-8")


def scrub_recorded_environments(folder: Path) -> int:
    """Mask the secrets in every environment ansible-runner recorded under `folder`.

    Runner writes `artifacts/ID/command` (the whole environment, secrets included)
    before Ansible starts, and a run masks it at its first event. A run killed before
    that leaves it unmasked; the run that takes over its lock calls this on its
    folder. Secrets are found by their variables' names, so no value is needed.
    Returns how many files it changed.
    """
    changed = 0
    for path in folder.glob("**/artifacts/*/command"):
        try:
            recorded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        env = recorded.get("env") if isinstance(recorded, dict) else None
        if not isinstance(env, dict):
            continue
        secret = [k for k, v in env.items() if k.startswith(SECRET_ENV_PREFIX) and v != MASK]
        if secret:
            env.update(dict.fromkeys(secret, MASK))
            atomic_write_text(path, json.dumps(recorded, ensure_ascii=False), mode=0o600)
            changed += 1
    return changed


def _remove_unmasked_events(private_data_dir: Path) -> None:
    """Drop the partial event files Ansible's callback wrote and runner did not consume
    (a killed run's): they hold events as Ansible sent them, unmasked."""
    for partial in private_data_dir.glob("artifacts/*/job_events/*-partial.json"):
        partial.unlink(missing_ok=True)


def _path_with_our_tools(path: str | None) -> str:
    """ansible-playbook lives beside our interpreter; put that folder first on PATH."""
    return os.pathsep.join([str(Path(sys.executable).parent), path or os.environ.get("PATH", "")])
