"""Our subclasses of the Automation API's stack, workspace and CLI command, each saving a
`pulumi` run the Automation API would make, and its errors as the project's own.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from pulumi.automation._stack import StackInitMode  # pinned SDK; not re-exported
from semver import VersionInfo

from provisioner.cloud.errors import engine_failure
from provisioner.cloud.pulumi.events import EventTranslator
from provisioner.cloud.pulumi.workspace import SETUP_HINT, recorded_version, write_project_file
from provisioner.errors import ToolMissingError

__all__ = [
    "CheckedPulumi",
    "KnownStackWorkspace",
    "StackInitMode",
    "StackWithoutHistory",
    "checked_command",
    "engine_errors",
]


class StackWithoutHistory(auto.Stack):
    """A stack whose operations take their change counts from the engine's summary event.

    After an `up`, `refresh` or `destroy`, the Automation API asks `info()` for the
    update's summary, which runs `pulumi stack history` (0.25 s of CPU) to read
    counts the engine already sent as its last event (`EventTranslator`). The
    summary returned instead says only that the operation ended: the Automation API
    raises its own error when it did not, before it asks.
    """

    def info(self, show_secrets: bool = True) -> auto.UpdateSummary | None:
        now = datetime.now(UTC)
        return auto.UpdateSummary(
            kind="update",
            start_time=now,
            end_time=now,
            message="",
            environment={},
            config={},
            result="succeeded",
        )


class KnownStackWorkspace(auto.LocalWorkspace):
    """Pulumi's local workspace, which selects a stack known to exist without a CLI run.

    Selecting only checks that the stack exists and makes it the CLI's current one,
    which no command uses (each names `--stack`). When the state files show its
    checkpoint, a `pulumi stack select` (0.25 s of CPU per command) is saved.
    """

    def __init__(self, known: Path | None, **options: Any) -> None:
        self._known = known
        super().__init__(**options)

    def select_stack(self, stack_name: str) -> None:
        if self._known is None or not self._known.is_file():
            super().select_stack(stack_name)

    def save_project_settings(self, settings: auto.ProjectSettings) -> None:
        write_project_file(Path(self.work_dir), settings.to_dict())

    def stack_outputs(self, stack_name: str) -> auto.OutputMap:
        """The outputs, all marked secret, in one CLI run (0.2 s of CPU saved after each `up`).

        The Automation API reads them a second time, masked, only to learn which are
        secret; `PulumiStack` keeps the values alone, which its callers never print.
        """
        result = self._run_pulumi_cmd_sync(
            ["stack", "output", "--json", "--show-secrets", "--stack", stack_name]
        )
        values = json.loads(result.stdout or "{}")
        return {key: auto.OutputValue(value=value, secret=True) for key, value in values.items()}


class CheckedPulumi(auto.PulumiCommand):
    """The CLI that `make setup` checked: its version is read from setup's stamp.

    The Automation API's own constructor runs `pulumi version` (0.2 s of CPU) in
    every process that opens a stack, only to learn what setup already recorded.
    """

    def __init__(self, cli: Path, version: VersionInfo) -> None:
        # Deliberately not calling super().__init__, which runs `pulumi version`; these
        # are the two attributes the Automation API reads (`command`, `version`).
        self.command = str(cli)
        self.version = version


def checked_command(cli: Path) -> auto.PulumiCommand:
    """The CLI at `cli`, its version read from setup's stamp if there is one."""
    recorded = recorded_version(cli)
    if recorded is not None:
        return CheckedPulumi(cli, recorded)
    root = cli.parent.parent if cli.parent.name == "bin" else None
    with engine_errors("checking the Pulumi CLI version"):
        return auto.PulumiCommand(root=str(root) if root else None)


@contextlib.contextmanager
def engine_errors(operation: str, events: EventTranslator | None = None) -> Iterator[None]:
    """Raise Automation API failures as CloudErrors carrying the engine's own message."""
    try:
        yield
    except auto.errors.CommandError as error:
        reason = events.last_error if events else None
        raise engine_failure(operation, str(error), reason) from error
    except FileNotFoundError as error:
        if "pulumi" not in str(error):
            raise
        raise ToolMissingError("pulumi", hint=SETUP_HINT) from error
