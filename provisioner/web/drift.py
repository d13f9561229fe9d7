"""Drift as the web view shows it: an environment's latest report (property by property,
and file diffs on its hosts) and its history over time (each check, and each watch tick
with what it did: skipped on a lock, failed, put back, or left for review)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from provisioner.engine.run_record import Operation, RunRecord
from provisioner.engine.watch import WatchTick
from provisioner.plan import Action, Plan


def drift_json(run: RunRecord) -> dict[str, Any] | None:
    """A drift run's report in `provision drift --json`'s shape (None: it found nothing yet)."""
    if run.plan is None:
        return None
    return {**run.plan.to_json(), "drift": run.plan.has_changes, "run": run.id}


@dataclass(frozen=True)
class DriftPoint:
    """One moment in an environment's drift history: a check (its run), or a watch tick
    that ran none (skipped on a held lock, or failed first), or both."""

    at: str
    run: RunRecord | None
    tick: WatchTick | None

    @property
    def drifted(self) -> bool | None:
        plan = self.run.plan if self.run is not None else None
        return plan.has_changes if plan is not None else None

    @property
    def counts(self) -> tuple[int, int]:
        """How many cloud resources and software nodes had drifted."""
        plan: Plan | None = self.run.plan if self.run is not None else None
        if plan is None:
            return (0, 0)
        software = sum(1 for s in plan.software if s.action is not Action.NO_OP)
        return (len(plan.pending()), software)

    def to_json(self) -> dict[str, Any]:
        resources, software = self.counts
        return {
            "at": self.at,
            "run": self.run.id if self.run is not None else None,
            "outcome": self.run.observed_outcome().value if self.run is not None else None,
            "drifted": self.drifted,
            "resources": resources,
            "software": software,
            "watch": self.tick.to_json() if self.tick is not None else None,
        }


def latest_report(history: Sequence[DriftPoint]) -> RunRecord | None:
    """The newest drift check in `history` that reported (one still running has no report)."""
    return next((point.run for point in history if point.drifted is not None), None)


def drift_history(runs: Sequence[RunRecord], ticks: Sequence[WatchTick]) -> list[DriftPoint]:
    """Every drift check among `runs` and every watch tick, newest first; a tick is shown
    with the check it ran."""
    by_run = {tick.drift_run: tick for tick in ticks if tick.drift_run}
    points = [
        DriftPoint(run.info.started_at, run, by_run.get(run.id))
        for run in runs
        if run.info.operation_name == Operation.DRIFT
    ]
    checked = {run.id for run in runs}
    points += [
        DriftPoint(tick.at, None, tick)
        for tick in ticks
        if not tick.drift_run or tick.drift_run not in checked
    ]
    return sorted(points, key=lambda point: _moment(point.at), reverse=True)


def _moment(at: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(at)
    except ValueError:  # a tick that failed before it knew the time
        return dt.datetime.min.replace(tzinfo=dt.UTC)
