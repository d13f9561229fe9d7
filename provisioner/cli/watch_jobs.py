"""The scheduler behind `provision watch` and `provision serve --watch` (APScheduler).

This is the one module that calls the scheduler. It is imported only by those two
commands, so that no other command pays for importing it. Each environment is one
job that never overlaps itself (`max_instances=1`); a tick that finds the
environment locked is skipped, naming the holder; a failed tick is shown as failed
and tried again at the next one.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import logging
import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass

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
from provisioner.engine.run_record import now
from provisioner.engine.watch import WatchOutcome, WatchTick, check, record_tick
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
        every: str | None,
        cron: str | None,
        remediate: bool,
        notify: str | None,
        as_json: bool = False,
    ) -> WatchJobs:
        known = [f.stem for f in scan_folder(environments_dir()).environments]
        names = environments or known
        if not names:
            raise ConfigurationError(f"no environment to watch in {environments_dir()}")
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ConfigurationError(
                f"no environment named {', '.join(unknown)} in {environments_dir()}",
                hint=f"the environments are: {', '.join(known)}",
            )
        if cron and every:
            raise ConfigurationError("give --every or --cron, not both")
        if notify is not None:
            _check_url(notify)
        trigger = _cron(cron) if cron else IntervalTrigger(seconds=_seconds(every or "1h"))
        return cls(names, trigger, remediate, notify, as_json)

    def tick(self, name: str) -> WatchTick:
        """One check of `name`, recorded in its watch journal, said, and posted if asked."""
        try:
            setup = ProjectSetup.of(name)
            view = LineView(name, True)
            found = check(setup, view, remediate=self.remediate, parallelism=DEFAULT_PARALLELISM)
        except Exception as error:  # a spec that no longer compiles, say: failed, not hidden
            said = error.message if isinstance(error, ProvisionError) else f"{error!r}"
            found = WatchTick(name, WatchOutcome.FAILED, now(), detail=said)
            record_tick(StatePaths.discover().runs_root, found)
        _report(found, self.as_json)
        if self.notify and found.outcome in _NOTIFIED:
            _post(self.notify, found)
        return found

    def once(self) -> int:
        """One tick of each environment: exit 1 if one failed, 2 if one drifted or needs
        review, else 0."""
        ticks = [self.tick(name) for name in self.names]
        if any(t.outcome is WatchOutcome.FAILED for t in ticks):
            return EXIT_ERROR
        if any(t.outcome in (WatchOutcome.DRIFTED, WatchOutcome.NEEDS_REVIEW) for t in ticks):
            return EXIT_CHANGES
        return 0

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


def run_blocking(jobs: WatchJobs) -> None:
    """Run the watch in the foreground until Ctrl-C (or SIGTERM); a tick in progress ends first."""
    scheduler = BlockingScheduler()
    jobs.schedule(scheduler)
    # With --json, standard output holds the ticks only.
    said = stderr if jobs.as_json else stdout
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


def _check_url(url: str) -> None:
    """--notify takes an http(s) URL with a host: refused before anything runs."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            "--notify: not an http or https URL with a host", hint="for example http://HOST/hook"
        )


def _post(url: str, found: WatchTick) -> None:
    """Tell `url` (a JSON POST); a receiver that fails is said (without the URL, which may
    hold a secret), not fatal."""
    body = json.dumps({"event": "drift", **found.to_json()}).encode()
    request = urllib.request.Request(  # noqa: S310 - the user's own URL
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310
    except (OSError, ValueError, http.client.HTTPException) as error:
        with _print_lock:
            stderr.print(escape(f"could not notify the --notify URL: {error}"), soft_wrap=True)
