"""`provision watch`: drift on a schedule (APScheduler), optionally put back, optionally posted.

This is the one module that calls the scheduler. Each environment is one job that
never overlaps itself (`max_instances=1`); a tick that finds the environment locked
is skipped, naming the holder; a failed tick is shown as failed and tried again at
the next one.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import urllib.request
from typing import Annotated

import typer
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from rich.markup import escape

from provisioner.cli.environments_cmd import LineView
from provisioner.cli.errors import EXIT_CHANGES, EXIT_ERROR
from provisioner.cli.output import print_json, stdout
from provisioner.cli.specs import environments_dir
from provisioner.cli.wiring import ProjectSetup
from provisioner.cloud.provider_host import DEFAULT_PARALLELISM
from provisioner.engine.watch import WatchOutcome, WatchTick, check
from provisioner.errors import ConfigurationError, ProvisionError
from provisioner.spec.model import parse_duration
from provisioner.spec.overlay import scan_folder

# The outcomes a --notify URL hears of.
_NOTIFIED = {
    WatchOutcome.DRIFTED,
    WatchOutcome.REMEDIATED,
    WatchOutcome.NEEDS_REVIEW,
    WatchOutcome.FAILED,
}
_print_lock = threading.Lock()


def watch(
    environments: Annotated[
        list[str] | None,
        typer.Argument(metavar="[ENV]...", help="Environments to watch (default: every one)."),
    ] = None,
    every: Annotated[
        str, typer.Option("--every", help="How often: seconds, or a text like 90s, 10m, 1h.")
    ] = "1h",
    cron: Annotated[
        str | None, typer.Option("--cron", help="A crontab schedule instead of --every.")
    ] = None,
    remediate: Annotated[
        bool,
        typer.Option(
            "--remediate",
            help="Put drift back with `up`, only if the spec is the one last applied and the "
            "plan holds updates only; otherwise record `needs review`.",
        ),
    ] = False,
    notify: Annotated[
        str | None,
        typer.Option("--notify", help="POST a JSON event here on drift, remediation or failure."),
    ] = None,
    once: Annotated[
        bool,
        typer.Option("--once", help="One tick of each environment, then exit 0, 2 (drift) or 1."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per tick.")] = False,
) -> None:
    """Check environments for drift on a schedule; with --remediate, put it back.

    Each tick runs `drift` (recorded in the history, as is a remediating `up`). An
    environment whose lock is held is skipped for that tick, naming who holds it.
    """
    names = environments or [f.stem for f in scan_folder(environments_dir()).environments]
    if not names:
        raise ConfigurationError(f"no environment to watch in {environments_dir()}")
    trigger = CronTrigger.from_crontab(cron) if cron else IntervalTrigger(seconds=_seconds(every))

    def tick(name: str) -> WatchTick:
        try:
            setup = ProjectSetup.of(name)
            found = check(
                setup, LineView(name, True), remediate=remediate, parallelism=DEFAULT_PARALLELISM
            )
        except ProvisionError as error:  # a spec that no longer compiles, say
            found = WatchTick(name, WatchOutcome.FAILED, "", detail=error.message)
        _report(found, as_json)
        if notify and found.outcome in _NOTIFIED:
            _post(notify, found)
        return found

    if once:
        ticks = [tick(name) for name in names]
        if any(t.outcome is WatchOutcome.FAILED for t in ticks):
            raise typer.Exit(EXIT_ERROR)
        if any(t.outcome in (WatchOutcome.DRIFTED, WatchOutcome.NEEDS_REVIEW) for t in ticks):
            raise typer.Exit(EXIT_CHANGES)
        return
    scheduler = BlockingScheduler()
    for name in names:
        scheduler.add_job(
            tick,
            trigger,
            args=[name],
            id=name,
            max_instances=1,  # a watch never overlaps itself on an environment
            coalesce=True,
            next_run_time=None if cron else _now(),
        )
    stdout.print(f"Watching {', '.join(names)} (Ctrl-C stops it)")
    scheduler.start()


def _seconds(every: str) -> int:
    try:
        return parse_duration(every)
    except ValueError as error:
        raise ConfigurationError(f"--every: {error}") from None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _report(found: WatchTick, as_json: bool) -> None:
    with _print_lock:
        if as_json:
            print_json(found.to_json())
            return
        detail = f": {found.detail}" if found.detail else ""
        runs = " ".join(
            f"{k} {v}" for k, v in (("drift", found.drift_run), ("up", found.up_run)) if v
        )
        stdout.print(
            escape(
                f"{found.at} {found.environment}: {found.outcome.value}{detail} {runs}".rstrip()
            ),
            soft_wrap=True,
        )


def _post(url: str, found: WatchTick) -> None:
    """Tell `url` (a JSON POST); a receiver that fails is said, not fatal."""
    body = json.dumps({"event": "drift", **found.to_json()}).encode()
    request = urllib.request.Request(  # noqa: S310 - the user's own URL
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310
    except OSError as error:
        with _print_lock:
            stdout.print(escape(f"could not notify {url}: {error}"), soft_wrap=True)
