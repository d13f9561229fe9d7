"""Turn exceptions into exit codes: one line for expected errors, a debug log for bugs."""

from __future__ import annotations

import datetime as dt
import os
import traceback
from pathlib import Path

from rich.markup import escape

from provisioner.cli.output import stderr
from provisioner.errors import ProvisionError
from provisioner.paths import StatePaths
from provisioner.spec import SpecError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_INTERRUPTED = 130


def report_expected(error: ProvisionError) -> int:
    """Print an expected error as one line (a spec's problems one per line); return its code."""
    if isinstance(error, SpecError):
        for diagnostic in error.diagnostics:
            stderr.print(str(diagnostic), markup=False, soft_wrap=True)
    stderr.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
    return error.exit_code


def report_unexpected(error: BaseException) -> int:
    """Save the traceback to a debug log, print where it is, and return EXIT_ERROR."""
    log = _write_debug_log(error)
    where = f"details in {log}" if log else "and the debug log could not be written"
    stderr.print(
        f"[bold red]internal error:[/] {escape(f'{type(error).__name__}: {error}')} ({where})",
        soft_wrap=True,
    )
    return EXIT_ERROR


def _write_debug_log(error: BaseException) -> Path | None:
    try:
        logs = StatePaths.discover().logs
        logs.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = logs / f"debug-{stamp}-{os.getpid()}.log"
        path.write_text("".join(traceback.format_exception(error)), encoding="utf-8")
        return path
    except OSError:
        return None
