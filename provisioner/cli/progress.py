"""Live progress for long work: a table on a terminal, one line per event elsewhere (CI)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from provisioner.engine.events import (
    ConfigureFinished,
    ConfigureStarted,
    Event,
    HostTaskFinished,
    LogLevel,
    LogMessage,
    Phase,
    PhaseFinished,
    PhaseStarted,
    ResourceFinished,
    ResourceStarted,
    Status,
    TaskStatus,
)

_STATE_STYLE = {
    Status.RUNNING: "yellow",
    Status.DONE: "green",
    Status.FAILED: "bold red",
    Status.SKIPPED: "dim",
}


_TASKS_WORTH_A_LINE = (TaskStatus.CHANGED, TaskStatus.FAILED, TaskStatus.UNREACHABLE)
_TASK_STYLE = {
    TaskStatus.CHANGED: "yellow",
    TaskStatus.FAILED: "bold red",
    TaskStatus.UNREACHABLE: "bold red",
}


@dataclass
class _Row:
    address: str
    action: str
    status: Status
    started: float
    elapsed: float | None = None
    detail: str = ""


class ProgressSink:
    """Renders engine events: resource, action, state and elapsed time."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.interactive = console.is_terminal
        self._rows: dict[str, _Row] = {}
        self._lock = threading.Lock()
        self._live: Live | None = None

    def __enter__(self) -> ProgressSink:
        if self.interactive:
            self._live = Live(self._table(), console=self.console, refresh_per_second=8)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def emit(self, event: Event) -> None:
        with self._lock:
            self._record(event)
            if self._live is not None:
                self._live.update(self._table())
            else:
                self._print_line(event)

    def _record(self, event: Event) -> None:
        if isinstance(event, ResourceStarted):
            self._rows[str(event.address)] = _Row(
                str(event.address), event.action.value, Status.RUNNING, time.monotonic()
            )
        elif isinstance(event, ResourceFinished):
            row = self._rows.get(str(event.address))
            if row is not None:
                row.status = event.status
                row.elapsed = event.elapsed
        elif isinstance(event, ConfigureStarted):
            self._rows[event.address] = _Row(
                event.address, "configure", Status.RUNNING, time.monotonic()
            )
        elif isinstance(event, HostTaskFinished):
            row = self._rows.get(event.address)
            if row is not None:
                row.detail = f"{event.task}: {event.status.value}"
        elif isinstance(event, ConfigureFinished):
            row = self._rows.setdefault(
                event.address, _Row(event.address, "configure", event.status, time.monotonic())
            )
            row.status = event.status
            row.elapsed = event.elapsed
            row.detail = event.error or f"{event.changed} changed"

    def _print_line(self, event: Event) -> None:
        if isinstance(event, ResourceStarted):
            self.console.print(f"  {escape(str(event.address))}: {event.action.value} ...")
        elif isinstance(event, ResourceFinished):
            style = _STATE_STYLE[event.status]
            detail = f": {event.error}" if event.error else ""
            address, action = escape(str(event.address)), event.action.value
            self.console.print(
                f"  {address}: {action} [{style}]{event.status.value}"
                f"[/] ({event.elapsed:.1f}s){escape(detail)}"
            )
        elif isinstance(event, ConfigureStarted):
            self.console.print(f"  {escape(event.address)}: configure ...")
        elif isinstance(event, HostTaskFinished) and event.status in _TASKS_WORTH_A_LINE:
            style = _TASK_STYLE[event.status]
            message = f": {event.message}" if event.message else ""
            self.console.print(
                f"    {escape(event.host)}: {escape(event.task)} [{style}]{event.status.value}[/]"
                f"{escape(message)}"
            )
        elif isinstance(event, ConfigureFinished):
            style = _STATE_STYLE[event.status]
            detail = f": {event.error}" if event.error else f", {event.changed} changed"
            self.console.print(
                f"  {escape(event.address)}: configure [{style}]{event.status.value}[/]"
                f" ({event.elapsed:.1f}s){escape(detail)}"
            )
        elif isinstance(event, PhaseStarted) and event.phase is not Phase.PLAN:
            self.console.print(f"[bold]{event.phase}[/] phase of {escape(event.environment)}")
        elif isinstance(event, PhaseFinished) and event.phase is not Phase.PLAN:
            outcome = "done" if event.ok else "failed"
            self.console.print(f"[bold]{event.phase}[/] phase {outcome} in {event.elapsed:.1f}s")
        elif isinstance(event, LogMessage) and event.level is LogLevel.ERROR:
            self.console.print(f"  [red]{escape(event.text)}[/]")

    def _table(self) -> Table:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        table.add_column("resource")
        table.add_column("action")
        table.add_column("state")
        table.add_column("elapsed", justify="right")
        table.add_column("detail", overflow="ellipsis", no_wrap=True, max_width=60)
        now = time.monotonic()
        for row in self._rows.values():
            elapsed = row.elapsed if row.elapsed is not None else now - row.started
            style = _STATE_STYLE[row.status]
            table.add_row(
                escape(row.address),
                row.action,
                f"[{style}]{row.status.value}[/]",
                f"{elapsed:.1f}s",
                escape(row.detail),
            )
        return table
