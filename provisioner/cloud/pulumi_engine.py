"""The one module that calls Pulumi: locating the CLI, building stacks, running operations.

Results and errors from the Automation API are translated here into the
project's own types (StackResult, CloudError), so no other module imports
`pulumi.automation`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from provisioner.errors import CloudError, ToolMissingError

Program = Callable[[], None]

_SETUP_HINT = "run `make setup`, which builds or finds a Pulumi CLI matching the SDK"


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
    passphrase: str
    env: Mapping[str, str] = field(default_factory=dict)

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
            **self.env,
        }


@dataclass(frozen=True)
class StackResult:
    """What an operation did: resource counts by action, and the stack outputs."""

    summary: Mapping[str, int]
    outputs: Mapping[str, Any]


class PulumiStack:
    """One stack of one project, driven through the Automation API with an inline program."""

    def __init__(
        self, project: str, stack: str, program: Program, settings: EngineSettings
    ) -> None:
        self.settings = settings
        settings.pulumi_home.mkdir(parents=True, exist_ok=True)
        cli = find_pulumi_cli()
        options = auto.LocalWorkspaceOptions(
            pulumi_home=str(settings.pulumi_home),
            env_vars=settings.engine_env(),
            project_settings=auto.ProjectSettings(
                name=project,
                runtime="python",
                backend=auto.ProjectBackend(url=settings.backend_url),
            ),
            pulumi_command=_command(cli),
        )
        with _translated_errors(f"opening stack {project}/{stack}"):
            self._stack = auto.create_or_select_stack(
                stack_name=stack, project_name=project, program=program, opts=options
            )

    def set_program(self, program: Program) -> None:
        """Replace the inline program used by the next operation."""
        self._stack.workspace.program = program

    def preview(self) -> StackResult:
        """Compute the changes without applying them."""
        with _translated_errors("preview"):
            result = self._stack.preview()
        return StackResult(summary=_counts(result.change_summary), outputs={})

    def up(self) -> StackResult:
        """Apply the program."""
        with _translated_errors("up"):
            result = self._stack.up()
        return StackResult(summary=_summary(result.summary), outputs=_outputs(result.outputs))

    def refresh(self) -> StackResult:
        """Read every resource back from the cloud into state."""
        with _translated_errors("refresh"):
            result = self._stack.refresh()
        return StackResult(summary=_summary(result.summary), outputs=self.outputs())

    def destroy(self) -> StackResult:
        """Delete every resource of the stack."""
        with _translated_errors("destroy"):
            result = self._stack.destroy()
        return StackResult(summary=_summary(result.summary), outputs={})

    def outputs(self) -> dict[str, Any]:
        """The stack's current outputs."""
        with _translated_errors("reading outputs"):
            return _outputs(self._stack.outputs())

    def resource_states(self) -> list[dict[str, Any]]:
        """The resources recorded in state (type, urn, inputs, outputs), from an export."""
        with _translated_errors("exporting state"):
            deployment = self._stack.export_stack().deployment
        resources: list[dict[str, Any]] = (deployment or {}).get("resources", [])
        return resources


def _command(cli: Path) -> auto.PulumiCommand:
    root = cli.parent.parent if cli.parent.name == "bin" else None
    with _translated_errors("checking the Pulumi CLI version"):
        return auto.PulumiCommand(root=str(root) if root else None)


def _summary(summary: auto.UpdateSummary) -> dict[str, int]:
    return _counts(summary.resource_changes or {})


def _counts(by_operation: Mapping[Any, int]) -> dict[str, int]:
    """Pulumi keys counts by OpType enum or plain string; we key them by the string."""
    return {str(getattr(op, "value", op)): count for op, count in by_operation.items()}


def _outputs(outputs: Mapping[str, auto.OutputValue]) -> dict[str, Any]:
    return {key: value.value for key, value in outputs.items()}


@contextlib.contextmanager
def _translated_errors(operation: str) -> Iterator[None]:
    """Turn Automation API failures into CloudError carrying the engine's own message."""
    try:
        yield
    except auto.errors.CommandError as error:
        raise CloudError(f"pulumi {operation} failed: {_last_error_line(error)}") from error
    except FileNotFoundError as error:
        if "pulumi" not in str(error):
            raise
        raise ToolMissingError("pulumi", hint=_SETUP_HINT) from error


def _last_error_line(error: auto.errors.CommandError) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["(no message)"])[-1]
