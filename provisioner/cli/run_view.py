"""How a run shows itself on the console, and how it asks before changing anything."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager

import typer
from rich.console import Console
from rich.markup import escape

from provisioner.cli.output import stderr
from provisioner.cli.progress import ProgressSink
from provisioner.engine.events import EventSink
from provisioner.engine.run_setup import Confirm
from provisioner.errors import ConfirmationError
from provisioner.plan import Plan


class ConsoleView:
    """A spinner on a terminal while planning, notes, the plan (`show_plan`), live progress.

    `quiet` (JSON output) keeps the spinner off.
    """

    def __init__(
        self,
        console: Console,
        *,
        quiet: bool,
        show_plan: Callable[[Plan], None] | None = None,
    ) -> None:
        self.console = console
        self.quiet = quiet
        self.show_plan = show_plan

    def busy(self, doing: str) -> AbstractContextManager[None]:
        return _status(doing, self.quiet)

    def recovered(self, addresses: list[str]) -> None:
        self.console.print(
            "[yellow]note:[/] cleared operations an interrupted run left pending on "
            + escape(", ".join(addresses))
        )

    def planned(self, plan: Plan) -> None:
        if self.show_plan is not None:
            self.show_plan(plan)

    def progress(self) -> AbstractContextManager[EventSink]:
        return ProgressSink(self.console)


def confirmation(yes: bool) -> Confirm:
    """Yes with --yes; otherwise ask at a terminal, and refuse without one (or in CI)."""

    def confirm(question: str) -> bool:
        if yes:
            return True
        if os.environ.get("CI") or not sys.stdin.isatty():
            raise ConfirmationError(
                "refusing to change anything without confirmation",
                hint="pass --yes when not at a terminal",
            )
        return typer.confirm(question, default=False)

    return confirm


class _status:  # noqa: N801 - reads as a clause: `with _status("planning dev", quiet)`
    """A spinner on a terminal while a long step runs."""

    def __init__(self, text: str, quiet: bool) -> None:
        self._status = None if quiet or not stderr.is_terminal else stderr.status(text)

    def __enter__(self) -> None:
        if self._status is not None:
            self._status.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)
