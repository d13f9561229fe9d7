"""`provision watch`: drift on a schedule (APScheduler), optionally put back, optionally posted.

This is the one module that calls the scheduler. Each environment is one job that
never overlaps itself (`max_instances=1`); a tick that finds the environment locked
is skipped, naming the holder; a failed tick is shown as failed and tried again at
the next one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import urllib.request
from dataclasses import dataclass
from typing import Annotated

import typer
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import undefined
from rich.markup import escape

from provisioner.cli.environments_cmd import LineView
from provisioner.cli.errors import EXIT_CHANGES, EXIT_ERROR
from provisioner.cli.output import print_json_line, stderr, stdout
from provisioner.cli.specs import environments_dir
from provisioner.cli.wiring import ProjectSetup
from provisioner.cloud.provider_host import DEFAULT_PARALLELISM
from provisioner.engine.watch import WatchOutcome, WatchTick, check, now, record_tick
from provisioner.errors import ConfigurationError, ProvisionError
from provisioner.paths import StatePaths
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


EveryOption = Annotated[
    str, typer.Option("--every", help="How often: seconds, or a text like 90s, 10m, 1h.")
]
CronOption = Annotated[
    str | None, typer.Option("--cron", help="A crontab schedule instead of --every.")
]
RemediateOption = Annotated[
    bool,
    typer.Option(
        "--remediate",
        help="Put drift back with `up`, only if the spec is the one last applied and the "
        "plan holds updates only; otherwise record `needs review`.",
    ),
]
NotifyOption = Annotated[
    str | None,
    typer.Option("--notify", help="POST a JSON event here on drift, remediation or failure."),
]


@dataclass(frozen=True)
class WatchJobs:
    """What to watch and how: one scheduler job per environment."""

    names: list[str]
    trigger: BaseTrigger
    remediate: bool
    notify: str | None
    as_json: bool = False

    @classmethod
    def of(
        cls,
        environments: list[str] | None,
        *,
        every: str,
        cron: str | None,
        remediate: bool,
        notify: str | None,
        as_json: bool = False,
    ) -> WatchJobs:
        names = environments or [f.stem for f in scan_folder(environments_dir()).environments]
        if not names:
            raise ConfigurationError(f"no environment to watch in {environments_dir()}")
        trigger = _cron(cron) if cron else IntervalTrigger(seconds=_seconds(every))
        return cls(names, trigger, remediate, notify, as_json)

    def tick(self, name: str) -> WatchTick:
        """One check of `name`, recorded in its watch journal, said, and posted if asked."""
        try:
            setup = ProjectSetup.of(name)
        except ProvisionError as error:  # a spec that no longer compiles, say
            found = WatchTick(name, WatchOutcome.FAILED, now(), detail=error.message)
            record_tick(StatePaths.discover().root / "runs", found)
        else:
            view = LineView(name, True)
            found = check(setup, view, remediate=self.remediate, parallelism=DEFAULT_PARALLELISM)
        _report(found, self.as_json)
        if self.notify and found.outcome in _NOTIFIED:
            _post(self.notify, found)
        return found

    def schedule(self, scheduler: BaseScheduler) -> None:
        """Add a job per environment; with --every, each first runs at once."""
        # The scheduler's own log would say the same as the line below, as a warning.
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        scheduler.add_listener(_still_running, EVENT_JOB_MAX_INSTANCES)
        for name in self.names:
            scheduler.add_job(
                self.tick,
                self.trigger,
                args=[name],
                id=name,
                max_instances=1,  # a watch never overlaps itself on an environment
                coalesce=True,
                # None would add the job paused: a cron job waits for its first time.
                next_run_time=_now() if isinstance(self.trigger, IntervalTrigger) else undefined,
            )


def in_background(jobs: WatchJobs) -> BackgroundScheduler:
    """The watch's scheduler, started on its own threads (for `serve --watch`)."""
    scheduler = BackgroundScheduler()
    jobs.schedule(scheduler)
    scheduler.start()
    return scheduler


def watch(
    environments: Annotated[
        list[str] | None,
        typer.Argument(metavar="[ENV]...", help="Environments to watch (default: every one)."),
    ] = None,
    every: EveryOption = "1h",
    cron: CronOption = None,
    remediate: RemediateOption = False,
    notify: NotifyOption = None,
    once: Annotated[
        bool,
        typer.Option("--once", help="One tick of each environment, then exit 0, 2 (drift) or 1."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per tick.")] = False,
) -> None:
    """Check environments for drift on a schedule; with --remediate, put it back.

    Each tick runs `drift` (recorded in the history, as is a remediating `up`) and is
    itself recorded (`provision serve` shows them). An environment whose lock is held
    is skipped for that tick, naming who holds it; a failed check is shown as failed
    and tried again at the next tick.
    """
    jobs = WatchJobs.of(
        environments, every=every, cron=cron, remediate=remediate, notify=notify, as_json=as_json
    )
    if once:
        ticks = [jobs.tick(name) for name in jobs.names]
        if any(t.outcome is WatchOutcome.FAILED for t in ticks):
            raise typer.Exit(EXIT_ERROR)
        if any(t.outcome in (WatchOutcome.DRIFTED, WatchOutcome.NEEDS_REVIEW) for t in ticks):
            raise typer.Exit(EXIT_CHANGES)
        return
    scheduler = BlockingScheduler()
    jobs.schedule(scheduler)
    # With --json, standard output holds the ticks only.
    said = stderr if as_json else stdout
    said.print(f"Watching {', '.join(jobs.names)} (Ctrl-C stops it)")
    try:
        scheduler.start()
    except KeyboardInterrupt:
        said.print("Stopping: a tick in progress ends first")
        scheduler.shutdown(wait=True)


def _still_running(event: JobSubmissionEvent) -> None:
    with _print_lock:
        stderr.print(f"{now()} {event.job_id}: tick skipped: the previous one still runs")


def _cron(text: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(text)
    except ValueError as error:
        raise ConfigurationError(f"--cron: {error}") from None


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
            print_json_line(found.to_json())
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
            stderr.print(escape(f"could not notify {url}: {error}"), soft_wrap=True)
