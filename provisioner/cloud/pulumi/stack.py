"""Operations on one Pulumi stack, through Pulumi's Automation API (with `automation.py`,
the only modules that import it).

Results, engine events and errors of the Automation API leave here as the
project's own types (Plan, engine events, CloudError).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi import automation as auto

from provisioner.cloud.pulumi.automation import (
    KnownStackWorkspace,
    StackInitMode,
    StackWithoutHistory,
    checked_command,
    engine_errors,
)
from provisioner.cloud.pulumi.events import EventTranslator
from provisioner.cloud.pulumi.provider_process import attached_provider_env
from provisioner.cloud.pulumi.state import (
    address_of,
    exported_in_files,
    fingerprint,
    is_cloud_resource,
    remove_dead_locks,
    repair_interrupted_writes,
    stack_in_files,
    without_pending,
)
from provisioner.cloud.pulumi.workspace import EngineSettings, find_pulumi_cli, interrupt_engines
from provisioner.engine.events import EventSink, NullSink
from provisioner.plan import Plan, PropertyChange
from provisioner.procs import children

Program = Callable[[], None]
# Compares a stack's recorded outputs with those a preview computed.
OutputsDiff = Callable[[Mapping[str, Any], Mapping[str, Any]], tuple[PropertyChange, ...]]


@dataclass(frozen=True)
class StackResult:
    """What an operation did: resource counts by action, and the stack outputs."""

    summary: Mapping[str, int]
    outputs: Mapping[str, Any]


class PulumiStack:
    """One stack of one project, driven through the Automation API with an inline program.

    A refresh runs with the program (`--run-program`): the program's own providers
    read resources during step generation, instead of a second provider plugin
    loaded from the old state (1.3 s of CPU a run). Resources the program no longer
    declares are not read before their delete, which takes one already gone as done.
    """

    def __init__(
        self, project: str, stack: str, program: Program, settings: EngineSettings
    ) -> None:
        self.settings = settings
        self.project = project
        self.stack_name = stack
        settings.pulumi_home.mkdir(parents=True, exist_ok=True)
        cli = find_pulumi_cli()
        repair_interrupted_writes(settings.state_url, project, stack)
        with engine_errors(f"opening stack {project}/{stack}"):
            workspace = KnownStackWorkspace(
                stack_in_files(settings.state_url, project, stack),
                work_dir=str(settings.work_folder(stack)),
                pulumi_home=str(settings.pulumi_home),
                env_vars=settings.engine_env(),
                project_settings=auto.ProjectSettings(
                    name=project,
                    runtime="python",
                    backend=auto.ProjectBackend(url=settings.state_url),
                ),
                pulumi_command=checked_command(cli),
                program=program,
            )
            self._stack = StackWithoutHistory(stack, workspace, StackInitMode.CREATE_OR_SELECT)
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
        events = EventTranslator(sink or NullSink(), planning=True)
        self._attach_provider()
        with engine_errors("preview", events):
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
        events = EventTranslator(sink or NullSink(), planning=True)
        self._attach_provider()
        with engine_errors("preview of destroy", events):
            self._stack.preview_destroy(on_event=events, color="never", parallel=self._parallel)
        return Plan(environment, tuple(events.changes()))

    def preview(self) -> StackResult:
        """Pulumi's own change counts (the stack resource included), without applying."""
        self._attach_provider()
        with engine_errors("preview"):
            result = self._stack.preview(color="never", parallel=self._parallel)
        return StackResult(summary=_counts(result.change_summary), outputs={})

    def up(self, *, refresh: bool = False, sink: EventSink | None = None) -> StackResult:
        """Apply the program; each resource is reported to `sink` as it starts and ends."""
        events = EventTranslator(sink or NullSink(), planning=False)
        self._outputs = None
        self._attach_provider()
        with engine_errors("up", events):
            result = self._stack.up(
                refresh=refresh,
                on_event=events,
                color="never",
                parallel=self._parallel,
                run_program=refresh or None,
                show_secrets=False,  # its summary needs no decrypted config
            )
        # The Automation API read the outputs after the update: keep them.
        self._outputs = {key: value.value for key, value in result.outputs.items()}
        return StackResult(summary=events.resource_changes, outputs=dict(self._outputs))

    def refresh(self) -> StackResult:
        """Read every resource back from the cloud into state."""
        events = EventTranslator(NullSink(), planning=False)
        self._outputs = None
        self._attach_provider()
        with engine_errors("refresh"):
            self._stack.refresh(on_event=events, color="never", show_secrets=False)
        return StackResult(summary=events.resource_changes, outputs=self.outputs())

    def destroy(
        self, *, sink: EventSink | None = None, only: list[str] | None = None
    ) -> StackResult:
        """Delete every resource of the stack (or only the named ones), dependents first."""
        events = EventTranslator(sink or NullSink(), planning=False)
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
        self._attach_provider()
        with engine_errors("destroy", events):
            self._stack.destroy(
                on_event=events,
                color="never",
                target=targets,
                parallel=self._parallel,
                show_secrets=False,
            )
        return StackResult(summary=events.resource_changes, outputs={})

    def cancel(self, grace_seconds: float = 60.0) -> int:
        """Ask a `pulumi` operation this process started to stop (SIGINT), as Ctrl-C would.

        Pulumi finishes the steps in flight, records them, releases its lock and
        exits; after `grace_seconds` it is killed. Returns how many were stopped.
        """
        return interrupt_engines(children(os.getpid()), grace_seconds=grace_seconds)

    def _attach_provider(self) -> None:
        """Have the next engine run use this process's provider host (see provider_process)."""
        workspace = self._stack.workspace
        attach = attached_provider_env(
            self.settings.engine_env(), self.settings.pulumi_home / "provider-host.log"
        )
        workspace.env_vars = {**workspace.env_vars, **attach}

    def repair_after_kill(self) -> int:
        """Undo what a `pulumi` killed midway left in state files: half-written attribute
        files and locks of dead processes. Returns how many files were removed.

        An interrupt can end the engine this process started in the middle of such a
        write (the Automation API stops reading its output at once), so a rollback in
        the same process repairs before its next operation, as opening a stack does.
        """
        url = self.settings.state_url
        repaired = repair_interrupted_writes(url, self.project, self.stack_name)
        return len(repaired) + remove_dead_locks(url, self.stack_name)

    def clear_pending_operations(self) -> list[str]:
        """Drop operations a killed run left pending; returns the addresses they were on."""
        exported = self._export()
        deployment, pending = without_pending(dict(exported.deployment or {}))
        if not pending:
            return []
        exported.deployment = deployment
        self._outputs = None
        with engine_errors("importing repaired state"):
            # Secrets stay encrypted for the same stack's key: they import as they were.
            self._stack.import_stack(exported)
        return pending

    def addresses(self) -> set[str]:
        """The addresses of the resources recorded in state."""
        return {address_of(r["urn"]) for r in self.resource_states() if is_cloud_resource(r)}

    def fingerprint(self) -> str:
        """A digest of the recorded resources (ids, inputs, outputs): changes when state does."""
        return fingerprint(self.resource_states())

    def outputs(self) -> dict[str, Any]:
        """The stack's current outputs, secrets decrypted (callers must not print them).

        Read once per state of the stack.
        """
        if self._outputs is None:
            with engine_errors("reading outputs"):
                read = self._stack.outputs()
            self._outputs = {key: value.value for key, value in read.items()}
        return dict(self._outputs)

    def resource_states(self) -> list[dict[str, Any]]:
        """The resources recorded in state (type, urn, inputs, outputs), from an export.

        Secret values stay encrypted (see `state.is_secret`): no reader here needs them.
        """
        deployment = self._export().deployment
        resources: list[dict[str, Any]] = (deployment or {}).get("resources", [])
        return resources

    def _export(self) -> auto.Deployment:
        """The stack's state as exported, secrets encrypted (no decryption to pay for).

        State in files is read from its checkpoint, which holds what `pulumi stack
        export` prints (0.25 s of CPU a run saved, two to four times a command), when
        it is a plain one this module knows (`state.exported_in_files`); Pulumi
        replaces that file whole, so it is never read half-written.
        """
        checkpoint = stack_in_files(self.settings.state_url, self.project, self.stack_name)
        exported = exported_in_files(checkpoint) if checkpoint is not None else None
        if exported is not None:
            return auto.Deployment(version=exported.version, deployment=exported.deployment)
        workspace = self._stack.workspace
        env = {"PULUMI_HOME": str(self.settings.pulumi_home), **self.settings.engine_env()}
        with engine_errors("exporting state"):
            result = workspace.pulumi_command.run(
                ["stack", "export", "--stack", self.stack_name], workspace.work_dir, env
            )
        state = json.loads(result.stdout or "{}")
        return auto.Deployment(version=state.get("version"), deployment=state.get("deployment"))


def _counts(by_operation: Mapping[Any, int]) -> dict[str, int]:
    """Pulumi keys counts by OpType enum or plain string; we key them by the string."""
    return {str(getattr(op, "value", op)): count for op, count in by_operation.items()}
