"""The one module that calls Pulumi: locating the CLI, building stacks, running operations.

Results, engine events and errors from the Automation API are translated here
into the project's own types (Plan, engine events, CloudError), so no other
module imports `pulumi.automation`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pulumi import automation as auto
from semver import VersionInfo

from provisioner.cloud.provider_host import DEFAULT_PARALLELISM, WORKERS_ENV
from provisioner.engine.events import (
    EventSink,
    LogLevel,
    LogMessage,
    NullSink,
    ResourceFinished,
    ResourceStarted,
    Status,
)
from provisioner.errors import CloudError, ToolMissingError
from provisioner.fsutil import atomic_write_text
from provisioner.plan import Action, Plan, PropertyChange, ResourceChange
from provisioner.plan.model import KNOWN_AFTER_APPLY, SENSITIVE
from provisioner.procs import is_running, start_ticks

Program = Callable[[], None]
# Compares a stack's recorded outputs with those a preview computed.
OutputsDiff = Callable[[Mapping[str, Any], Mapping[str, Any]], tuple[PropertyChange, ...]]

_SETUP_HINT = "run `make setup`, which builds or finds a Pulumi CLI matching the SDK"
_OPS: dict[str, Action] = {
    "same": Action.NO_OP,
    "create": Action.CREATE,
    "update": Action.UPDATE,
    "replace": Action.REPLACE,
    "create-replacement": Action.REPLACE,
    "delete": Action.DELETE,
}
_STACK_TYPE = "pulumi:pulumi:Stack"
_SKIPPED_TYPES = (_STACK_TYPE, "pulumi:providers:")
# Pulumi marks a secret value in serialized state with this key; it is no secret itself.
_SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # noqa: S105
SENSITIVE_KEYS = frozenset({"private_key", "passphrase"})
# Inputs that tune how an operation runs rather than describe the resource.
_OPERATIONAL_KEYS = frozenset({"op_timeout"})
# Pulumi's placeholder, in previews, for a value that exists only after apply.
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def find_pulumi_cli() -> Path:
    """The Pulumi CLI: the one `make setup` put beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "pulumi"
    if beside.exists():
        return beside
    on_path = shutil.which("pulumi")
    if on_path:
        return Path(on_path)
    raise ToolMissingError("pulumi", hint=_SETUP_HINT)


@dataclass(frozen=True)
class EngineSettings:
    """Where a stack's state lives and the environment its engine runs with."""

    backend_url: str
    pulumi_home: Path
    passphrase: str = field(repr=False)
    env: Mapping[str, str] = field(default_factory=dict)
    # How many resource operations run at once (the engine's steps and the provider's threads).
    parallelism: int = DEFAULT_PARALLELISM

    def engine_env(self) -> dict[str, str]:
        """Environment for the CLI and the plugins it starts (our dynamic providers)."""
        tool_dir = str(Path(sys.executable).parent)
        return {
            # Plugins (pulumi-resource-pulumi-python) and tools sit beside our interpreter.
            "PATH": os.pathsep.join([tool_dir, os.environ.get("PATH", "")]),
            "PULUMI_HOME": str(self.pulumi_home),
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            WORKERS_ENV: str(self.parallelism),
            **self.env,
        }


@dataclass(frozen=True)
class StackResult:
    """What an operation did: resource counts by action, and the stack outputs."""

    summary: Mapping[str, int]
    outputs: Mapping[str, Any]


class PulumiStack:
    """One stack of one project, driven through the Automation API with an inline program.

    A refresh runs with the program (`--run-program`): resources are read during
    step generation by the program's own providers. Without it, Pulumi refreshes
    everything up front with providers loaded from the old state, which starts
    the dynamic-provider plugin a second time for every preview and update (about
    1.3 s of CPU each). Resources the program no longer declares are then not read
    before they are deleted; our deletes take a resource already gone as deleted.
    """

    def __init__(
        self, project: str, stack: str, program: Program, settings: EngineSettings
    ) -> None:
        self.settings = settings
        self.stack_name = stack
        settings.pulumi_home.mkdir(parents=True, exist_ok=True)
        cli = find_pulumi_cli()
        repair_interrupted_writes(settings.backend_url, project, stack)
        # The Automation API would make a working folder in the system temp folder
        # for every run and never remove it; each stack has one of its own instead.
        work_dir = settings.pulumi_home / "work" / stack
        work_dir.mkdir(parents=True, exist_ok=True)
        with _translated_errors(f"opening stack {project}/{stack}"):
            workspace = _Workspace(
                stack_in_files(settings.backend_url, project, stack),
                work_dir=str(work_dir),
                pulumi_home=str(settings.pulumi_home),
                env_vars=settings.engine_env(),
                project_settings=auto.ProjectSettings(
                    name=project,
                    runtime="python",
                    backend=auto.ProjectBackend(url=settings.backend_url),
                ),
                pulumi_command=_command(cli),
                program=program,
            )
            self._stack = auto.Stack.create_or_select(stack, workspace)
        # The stack's outputs as last read; every operation that changes the stack drops them.
        self._outputs: dict[str, Any] | None = None

    @property
    def _parallel(self) -> int:
        return self.settings.parallelism

    def set_program(self, program: Program) -> None:
        """Replace the inline program used by the next operation."""
        self._stack.workspace.program = program

    def plan(
        self,
        environment: str,
        *,
        refresh: bool = True,
        sink: EventSink | None = None,
        outputs_diff: OutputsDiff | None = None,
    ) -> Plan:
        """The per-resource changes an `up` would make (after reading the live cloud).

        `outputs_diff` says which of the stack's outputs change, given the recorded
        ones and those the preview computed (values not known yet are UNKNOWN).
        """
        events = _Translator(sink or NullSink(), planning=True)
        with _translated_errors("preview", events):
            self._stack.preview(
                refresh=refresh,
                on_event=events,
                color="never",
                parallel=self._parallel,
                run_program=refresh or None,
            )
        recorded, previewed = events.stack_outputs
        return Plan(
            environment,
            tuple(events.changes()),
            gone=events.gone(),
            outputs=outputs_diff(recorded, previewed) if outputs_diff and previewed else (),
        )

    def plan_destroy(self, environment: str, *, sink: EventSink | None = None) -> Plan:
        """What a destroy would delete."""
        events = _Translator(sink or NullSink(), planning=True)
        with _translated_errors("preview of destroy", events):
            self._stack.preview_destroy(on_event=events, color="never", parallel=self._parallel)
        return Plan(environment, tuple(events.changes()))

    def preview(self) -> StackResult:
        """Pulumi's own change counts (the stack resource included), without applying."""
        with _translated_errors("preview"):
            result = self._stack.preview(color="never", parallel=self._parallel)
        return StackResult(summary=_counts(result.change_summary), outputs={})

    def up(self, *, refresh: bool = False, sink: EventSink | None = None) -> StackResult:
        """Apply the program; each resource is reported to `sink` as it starts and ends."""
        events = _Translator(sink or NullSink(), planning=False)
        self._outputs = None
        with _translated_errors("up", events):
            result = self._stack.up(
                refresh=refresh,
                on_event=events,
                color="never",
                parallel=self._parallel,
                run_program=refresh or None,
                show_secrets=False,  # its summary needs no decrypted config
            )
        # The Automation API read the outputs after the update: keep them.
        self._outputs = _outputs(result.outputs)
        return StackResult(summary=_summary(result.summary), outputs=dict(self._outputs))

    def refresh(self) -> StackResult:
        """Read every resource back from the cloud into state."""
        self._outputs = None
        with _translated_errors("refresh"):
            result = self._stack.refresh(color="never", show_secrets=False)
        return StackResult(summary=_summary(result.summary), outputs=self.outputs())

    def destroy(
        self, *, sink: EventSink | None = None, only: list[str] | None = None
    ) -> StackResult:
        """Delete every resource of the stack (or only the named ones), dependents first."""
        events = _Translator(sink or NullSink(), planning=False)
        targets = None
        if only is not None:
            urns = {
                address_of(r["urn"]): r["urn"]
                for r in self.resource_states()
                if is_cloud_resource(r)
            }
            targets = [urns[address] for address in only if address in urns]
            if not targets:
                return StackResult(summary={}, outputs={})
            if len(targets) == len(urns):
                targets = None  # everything: a whole destroy also clears the stack's outputs
        self._outputs = None
        with _translated_errors("destroy", events):
            result = self._stack.destroy(
                on_event=events,
                color="never",
                target=targets,
                parallel=self._parallel,
                show_secrets=False,
            )
        return StackResult(summary=_summary(result.summary), outputs={})

    def cancel(self, grace_seconds: float = 60.0) -> int:
        """Ask a `pulumi` operation this process started to stop (SIGINT), as Ctrl-C would.

        Pulumi finishes the steps in flight, records them, releases its lock and
        exits; after `grace_seconds` it is killed. Returns how many were stopped.
        """
        return interrupt_engines(_children(os.getpid()), grace_seconds=grace_seconds)

    def remove_dead_locks(self) -> int:
        """Remove this stack's Pulumi locks whose process died on this host (file state only).

        A killed `pulumi up` leaves its lock file behind, and every later operation
        on the stack would refuse to start.
        """
        parts = urlsplit(self.settings.backend_url)
        if parts.scheme != "file":
            return 0
        locks = Path(parts.path) / ".pulumi" / "locks"
        removed = 0
        for path in locks.glob(f"*/*/{self.stack_name}/*.json"):
            try:
                holder = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            if holder.get("hostname") == socket.gethostname() and not is_running(holder.get("pid")):
                path.unlink(missing_ok=True)
                Path(f"{path}.attrs").unlink(missing_ok=True)
                removed += 1
        return removed

    def clear_pending_operations(self) -> list[str]:
        """Drop operations a killed run left pending; returns the addresses they were on."""
        exported = self._export()
        deployment: dict[str, Any] = dict(exported.deployment or {})
        pending = deployment.get("pending_operations") or []
        if not pending:
            return []
        deployment["pending_operations"] = []
        exported.deployment = deployment
        self._outputs = None
        with _translated_errors("importing repaired state"):
            # Secrets stay encrypted for the same stack's key: they import as they were.
            self._stack.import_stack(exported)
        return sorted(address_of(op.get("resource", {}).get("urn", "")) for op in pending)

    def addresses(self) -> set[str]:
        """The addresses of the resources recorded in state."""
        return {address_of(r["urn"]) for r in self.resource_states() if is_cloud_resource(r)}

    def fingerprint(self) -> str:
        """A digest of the recorded resources (ids, inputs, outputs): changes when state does."""
        resources = [
            {key: r.get(key) for key in ("urn", "id", "inputs", "outputs")}
            for r in self.resource_states()
        ]
        text = json.dumps(resources, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def outputs(self) -> dict[str, Any]:
        """The stack's current outputs, secrets decrypted (callers must not print them).

        Read once per state of the stack.
        """
        if self._outputs is None:
            # One CLI run with the secrets shown; the Automation API's `outputs()` makes a
            # second one only to learn which outputs are secret, which we know.
            text = self._cli("reading outputs", "stack", "output", "--json", "--show-secrets")
            self._outputs = dict(json.loads(text or "{}"))
        return dict(self._outputs)

    def resource_states(self) -> list[dict[str, Any]]:
        """The resources recorded in state (type, urn, inputs, outputs), from an export.

        Secret values stay encrypted (see `is_secret`): no reader here needs them.
        """
        deployment = self._export().deployment
        resources: list[dict[str, Any]] = (deployment or {}).get("resources", [])
        return resources

    def _export(self) -> auto.Deployment:
        """The stack's state as exported, secrets encrypted (no decryption to pay for)."""
        state = json.loads(self._cli("exporting state", "stack", "export") or "{}")
        return auto.Deployment(version=state.get("version"), deployment=state.get("deployment"))

    def _cli(self, operation: str, *args: str) -> str:
        """Run `pulumi ARGS --stack STACK` in the stack's workspace; its standard output."""
        workspace = self._stack.workspace
        env = {"PULUMI_HOME": str(self.settings.pulumi_home), **self.settings.engine_env()}
        with _translated_errors(operation):
            result = workspace.pulumi_command.run(
                [*args, "--stack", self.stack_name], workspace.work_dir, env
            )
        return str(result.stdout)


class _Translator:
    """Turns engine events into plan changes (when planning) or resource events (when applying)."""

    def __init__(self, sink: EventSink, *, planning: bool) -> None:
        self.sink = sink
        self.planning = planning
        self._changes: dict[str, ResourceChange] = {}
        self._gone: set[str] = set()
        # The stack's recorded outputs, and those the previewed program would export.
        self.stack_outputs: tuple[Mapping[str, Any], Mapping[str, Any] | None] = ({}, None)
        self._started: dict[str, tuple[float, Action]] = {}
        self._errors: dict[str, str] = {}
        self.last_error: str | None = None
        self._lock = threading.Lock()

    def __call__(self, event: auto.EngineEvent) -> None:
        with self._lock:
            if event.diagnostic_event is not None:
                self._diagnostic(event.diagnostic_event)
            elif event.resource_pre_event is not None:
                self._pre(event.resource_pre_event.metadata)
            elif event.res_outputs_event is not None:
                if self.planning:
                    self._planned_outputs(event.res_outputs_event.metadata)
                self._finished(event.res_outputs_event.metadata, Status.DONE)
            elif event.res_op_failed_event is not None:
                self._finished(event.res_op_failed_event.metadata, Status.FAILED)

    def changes(self) -> list[ResourceChange]:
        return sorted(self._changes.values(), key=lambda c: c.address)

    def gone(self) -> tuple[str, ...]:
        """Recorded resources that the preview's refresh found missing from the cloud."""
        return tuple(sorted(self._gone))

    def _planned_outputs(self, meta: auto.StepEventMetadata) -> None:
        op = str(meta.op.value)
        if op == "refresh" and meta.new is None and not meta.type.startswith(_SKIPPED_TYPES):
            self._gone.add(address_of(meta.urn))
        elif meta.type == _STACK_TYPE and op in ("same", "update") and meta.new is not None:
            recorded = (meta.old.outputs if meta.old else None) or {}
            self.stack_outputs = (recorded, meta.new.outputs or {})

    def _diagnostic(self, diagnostic: auto.DiagnosticEvent) -> None:
        if diagnostic.severity not in ("warning", "error"):
            return
        text = _one_line(diagnostic.message)
        address = address_of(diagnostic.urn) if diagnostic.urn else None
        if diagnostic.severity == "error":
            # A resource's own error explains a failure better than the engine's summary.
            if address or self.last_error is None:
                self.last_error = f"{address}: {text}" if address else text
            if address:
                self._errors[address] = text
        self.sink.emit(LogMessage(level=LogLevel(diagnostic.severity), text=text, address=address))

    def _pre(self, meta: auto.StepEventMetadata) -> None:
        action = _OPS.get(str(meta.op.value))
        if action is None or meta.type.startswith(_SKIPPED_TYPES):
            return
        address = address_of(meta.urn)
        if self.planning:
            self._changes[address] = ResourceChange(address, kind_of(address), action, _diff(meta))
            return
        if action is Action.NO_OP:
            return
        self._started[address] = (time.monotonic(), action)
        self.sink.emit(ResourceStarted(address=address, kind=kind_of(address), action=action))

    def _finished(self, meta: auto.StepEventMetadata, status: Status) -> None:
        address = address_of(meta.urn)
        if self.planning or address not in self._started:
            return
        started, action = self._started.pop(address)
        if meta.op.value == "delete-replaced" and status is Status.DONE:
            return  # the old copy of a replaced resource is gone; the replace already reported
        self.sink.emit(
            ResourceFinished(
                address=address,
                kind=kind_of(address),
                action=action,
                status=status,
                elapsed=time.monotonic() - started,
                error=self._errors.get(address) if status is Status.FAILED else None,
            )
        )


def interrupt_engines(pids: Iterable[int], *, grace_seconds: float = 60.0) -> int:
    """Stop the `pulumi` CLI processes among `pids` as Ctrl-C would (SIGINT); returns how many.

    Pulumi then finishes the steps in flight, writes its checkpoint, releases its
    lock and exits. Killed outright instead, it may be writing that checkpoint: see
    `repair_interrupted_writes`. After `grace_seconds` it is killed all the same.
    """
    engines = [(pid, start_ticks(pid)) for pid in pids if _is_pulumi_cli(pid)]
    for pid, _ in engines:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + grace_seconds
    while any(is_running(*engine) for engine in engines) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid, started in engines:
        if is_running(pid, started):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return len(engines)


def repair_interrupted_writes(backend_url: str, project: str, stack: str) -> list[Path]:
    """Remove the stack's attribute files that a killed write left empty (file state only).

    The file backend (gocloud's fileblob) writes a checkpoint atomically, but the
    `.attrs` file beside it in place; a process killed in between leaves it empty,
    and every later operation fails with "failed to load checkpoint: EOF". A
    missing attribute file is read as "no attributes", so removing it is safe.
    """
    checkpoint = stack_in_files(backend_url, project, stack)
    if checkpoint is None:
        return []
    removed = []
    for path in checkpoint.parent.glob(f"{stack}.json*.attrs"):
        try:
            json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


class _Workspace(auto.LocalWorkspace):
    """Pulumi's local workspace, which selects a stack known to exist without a CLI run.

    Selecting a stack only checks that it exists and makes it the CLI's current
    one; every command the Automation API runs names its stack (`--stack`), so
    the current one does not matter. When the file backend shows the stack's
    checkpoint, that check is done: a `pulumi stack select` (0.25 s of CPU, in
    every command) is saved.
    """

    def __init__(self, known: Path | None, **options: Any) -> None:
        self._known = known
        super().__init__(**options)

    def select_stack(self, stack_name: str) -> None:
        if self._known is None or not self._known.is_file():
            super().select_stack(stack_name)

    def save_project_settings(self, settings: auto.ProjectSettings) -> None:
        """Write Pulumi.yaml atomically, and only when it changes.

        A `plan` may open the stack while an `up` of it runs in the same folder:
        the CLI must never read a half-written project file.
        """
        path = Path(self.work_dir) / "Pulumi.yaml"
        text = yaml.safe_dump(settings.to_dict(), sort_keys=True)
        with contextlib.suppress(OSError):
            if path.read_text(encoding="utf-8") == text:
                return
        atomic_write_text(path, text)


def stack_in_files(backend_url: str, project: str, stack: str) -> Path | None:
    """Where a file backend keeps the stack's checkpoint; None for other backends."""
    parts = urlsplit(backend_url)
    if parts.scheme != "file":
        return None
    return Path(parts.path) / ".pulumi" / "stacks" / project / f"{stack}.json"


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def _is_pulumi_cli(pid: int) -> bool:
    try:
        argv0 = (Path(f"/proc/{pid}") / "cmdline").read_bytes().split(b"\0")[0]
    except OSError:
        return False
    return Path(argv0.decode(errors="replace")).name == "pulumi"


def address_of(urn: str) -> str:
    """Our resource address is the Pulumi resource name, the URN's last part."""
    return urn.rsplit("::", 1)[-1]


def kind_of(address: str) -> str:
    return address.split(".", 1)[0]


def is_cloud_resource(resource: Mapping[str, Any]) -> bool:
    """True for a cloud resource in exported state (not the stack, not a provider)."""
    return "urn" in resource and not str(resource.get("type", "")).startswith(_SKIPPED_TYPES)


def managed_keys(inputs: Mapping[str, Any]) -> list[str]:
    """The inputs the spec manages: set, and neither Pulumi's own nor operational, sorted."""
    return sorted(
        key
        for key, value in inputs.items()
        if not key.startswith("__") and key not in _OPERATIONAL_KEYS and value is not None
    )


def _diff(meta: auto.StepEventMetadata) -> tuple[PropertyChange, ...]:
    """Property changes, computed from old outputs and new inputs.

    Dynamic providers report only whether something changes, not which
    properties, so the diff is worked out here for every declared input.
    Output-only placeholders (None in the inputs) are left out.
    """
    old = (meta.old.outputs if meta.old else None) or {}
    new = (meta.new.inputs if meta.new else None) or {}
    op = str(meta.op.value)
    if op not in ("create", "update", "replace", "create-replacement"):
        return ()
    replacing = set(meta.keys or [])
    keys = [key for key in managed_keys(new) if op == "create" or old.get(key) != new[key]]
    changes: list[PropertyChange] = []
    for key in keys:
        before = None if op == "create" else masked(key, old.get(key))
        after = masked(key, new.get(key))
        if isinstance(before, dict) and isinstance(after, dict):
            # Maps (tags) show only the entries that change.
            changes += [
                PropertyChange(f"{key}.{sub}", before.get(sub), after.get(sub), key in replacing)
                for sub in sorted(before.keys() | after.keys())
                if before.get(sub) != after.get(sub)
            ]
        else:
            changes.append(PropertyChange(key, before, after, key in replacing))
    return tuple(changes)


def masked(key: str, value: Any) -> Any:
    """`value` as a plan may show it: secrets and private keys masked, unknowns named."""
    if key in SENSITIVE_KEYS or value == "[secret]":
        return SENSITIVE
    if value == _UNKNOWN:
        return KNOWN_AFTER_APPLY
    if isinstance(value, dict):
        if is_secret(value):
            return SENSITIVE
        return {k: masked(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(key, item) for item in value]
    if isinstance(value, str) and "PRIVATE KEY-----" in value:
        return SENSITIVE
    return value


def is_secret(value: Any) -> bool:
    """True for a secret as exported state holds it: encrypted, so not comparable."""
    return isinstance(value, dict) and _SECRET_SIGNATURE in value


def is_unknown(value: Any) -> bool:
    """True if `value` is, or holds, a value that a preview does not know yet."""
    if value == _UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(is_unknown(item) for item in value.values())
    if isinstance(value, list):
        return any(is_unknown(item) for item in value)
    return False


def _one_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return " ".join(lines)[:500]


# `make setup` writes the version of the CLI it checked beside it, in this file.
VERSION_STAMP = "pulumi.version"


class _CheckedPulumi(auto.PulumiCommand):
    """The CLI that `make setup` checked: its version is read from setup's stamp.

    The Automation API's own constructor runs `pulumi version` (0.2 s of CPU) in
    every process that opens a stack, only to learn what setup already recorded.
    """

    def __init__(self, cli: Path, version: VersionInfo) -> None:
        # Deliberately not calling super().__init__, which runs `pulumi version`; these
        # are the two attributes the Automation API reads (`command`, `version`).
        self.command = str(cli)
        self.version = version


def _command(cli: Path) -> auto.PulumiCommand:
    recorded = _recorded_version(cli)
    if recorded is not None:
        return _CheckedPulumi(cli, recorded)
    root = cli.parent.parent if cli.parent.name == "bin" else None
    with _translated_errors("checking the Pulumi CLI version"):
        return auto.PulumiCommand(root=str(root) if root else None)


def _recorded_version(cli: Path) -> VersionInfo | None:
    """The version `make setup` recorded beside `cli` (the link it made in the venv), if any."""
    stamp = cli.parent / VERSION_STAMP
    try:
        return VersionInfo.parse(stamp.read_text().strip().removeprefix("v"))
    except (OSError, ValueError):
        return None


def _summary(summary: auto.UpdateSummary) -> dict[str, int]:
    return _counts(summary.resource_changes or {})


def _counts(by_operation: Mapping[Any, int]) -> dict[str, int]:
    """Pulumi keys counts by OpType enum or plain string; we key them by the string."""
    return {str(getattr(op, "value", op)): count for op, count in by_operation.items()}


def _outputs(outputs: Mapping[str, auto.OutputValue]) -> dict[str, Any]:
    return {key: value.value for key, value in outputs.items()}


@contextlib.contextmanager
def _translated_errors(operation: str, events: _Translator | None = None) -> Iterator[None]:
    """Turn Automation API failures into CloudError carrying the engine's own message."""
    try:
        yield
    except auto.errors.CommandError as error:
        reason = (events.last_error if events else None) or _last_error_line(error)
        raise CloudError(f"pulumi {operation} failed: {reason}") from error
    except FileNotFoundError as error:
        if "pulumi" not in str(error):
            raise
        raise ToolMissingError("pulumi", hint=_SETUP_HINT) from error


def _last_error_line(error: auto.errors.CommandError) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["(no message)"])[-1]
