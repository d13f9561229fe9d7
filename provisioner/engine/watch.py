"""One tick of `provision watch` on one environment: check for drift, and (if asked)
put back what drifted, only when that is all an `up` would do.

An `up` that remediates runs only when:
- the spec and playbooks are unchanged since the last successful `up` (by digest),
  so the `up` puts back what was applied and applies nothing new;
- its plan holds updates only: no create, replacement or delete.

Otherwise the tick is `needs review` and nothing changes. An environment whose lock
is held is skipped for the tick, naming the holder. The `up` runs under the lock,
with exactly the plan that was checked (a saved plan, so a change in between is
refused).

Every tick is recorded, skipped and failed ones too, one JSON line each in the
environment's watch journal (`runs/ENV/watch.jsonl`, beside its runs).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from provisioner.engine import operations
from provisioner.engine.locking import EnvironmentLockedError, LockHolder
from provisioner.engine.run_record import RunOutcome, list_runs, now
from provisioner.engine.run_setup import RunSetup, RunView
from provisioner.engine.saved_plan import spec_digest
from provisioner.errors import ProvisionError
from provisioner.plan import Action, Plan


class WatchOutcome(StrEnum):
    NO_DRIFT = "no drift"
    DRIFTED = "drifted"
    REMEDIATED = "remediated"
    NEEDS_REVIEW = "needs review"
    LOCKED = "skipped: locked"
    FAILED = "failed"


@dataclass(frozen=True)
class WatchTick:
    """What one tick found on one environment, and the runs it recorded."""

    environment: str
    outcome: WatchOutcome
    at: str
    drift_run: str | None = None
    up_run: str | None = None
    detail: str = ""

    def to_json(self) -> dict[str, str | None]:
        return {
            "environment": self.environment,
            "outcome": self.outcome.value,
            "at": self.at,
            "drift_run": self.drift_run,
            "up_run": self.up_run,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: Any) -> WatchTick | None:
        """The tick `to_json` gave, or None if `data` is not one."""
        try:
            return cls(
                environment=str(data["environment"]),
                outcome=WatchOutcome(data["outcome"]),
                at=str(data["at"]),
                drift_run=data.get("drift_run"),
                up_run=data.get("up_run"),
                detail=str(data.get("detail") or ""),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


WATCH_JOURNAL = "watch.jsonl"


def record_tick(runs_root: Path, tick: WatchTick) -> None:
    """Append `tick` to its environment's watch journal (one line, one write)."""
    folder = runs_root / tick.environment
    folder.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(tick.to_json(), sort_keys=True) + "\n").encode()
    handle = os.open(folder / WATCH_JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(handle, line)
    finally:
        os.close(handle)


def read_ticks(runs_root: Path, environment: str) -> list[WatchTick]:
    """The environment's recorded ticks, newest first (unreadable lines are passed over)."""
    path = runs_root / environment / WATCH_JOURNAL
    if not path.is_file():
        return []
    ticks = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            tick = WatchTick.from_json(json.loads(line))
        except ValueError:
            continue
        if tick is not None:
            ticks.append(tick)
    return ticks[::-1]


def why_not_remediate(plan: Plan, digest_now: str, digest_applied: str | None) -> str | None:
    """Why an `up` with `plan` would do more than put back what drifted (None: it would not)."""
    if digest_applied is None:
        return "no successful up is recorded to compare the spec with"
    if digest_now != digest_applied:
        return "the spec or its playbooks changed since the last successful up"
    other = sorted(
        f"{change.address} ({change.action.value})"
        for change in plan.pending()
        if change.action is not Action.UPDATE
    )
    if other:
        return f"the plan does more than put back what drifted: {', '.join(other)}"
    return None


def check(setup: RunSetup, view: RunView, *, remediate: bool, parallelism: int) -> WatchTick:
    """One tick on `setup`'s environment (see the module's docstring), recorded."""
    tick = _check(setup, view, remediate=remediate, parallelism=parallelism)
    record_tick(setup.runs_root(), tick)
    return tick


def _check(setup: RunSetup, view: RunView, *, remediate: bool, parallelism: int) -> WatchTick:
    name = setup.compiled.environment.name
    at = now()
    holder = setup.lock().holder()
    if holder is not None:
        return WatchTick(name, WatchOutcome.LOCKED, at, detail=_held_by(holder))
    try:
        found = operations.drift(setup, view, hosts=True, parallelism=parallelism)
        if not found.plan.has_changes:
            return WatchTick(name, WatchOutcome.NO_DRIFT, at, found.run_id)
        if not remediate:
            return WatchTick(name, WatchOutcome.DRIFTED, at, found.run_id)
        planned = operations.plan(
            setup, view, hosts=False, parallelism=parallelism, out=None, save=True
        )
        why = why_not_remediate(planned.plan, spec_digest(setup.compiled), _applied(setup))
        if why is not None or planned.saved is None:
            return WatchTick(name, WatchOutcome.NEEDS_REVIEW, at, found.run_id, detail=why or "")
        applied = operations.up(
            setup,
            view,
            lambda _question: True,  # the saved plan is what was checked
            saved=planned.saved,
            rollback=True,
            parallelism=parallelism,
        )
        return WatchTick(name, WatchOutcome.REMEDIATED, at, found.run_id, applied.run_id)
    except EnvironmentLockedError as error:  # taken since the tick looked: skipped, not failed
        detail = _held_by(error.holder) if error.holder is not None else error.message
        return WatchTick(name, WatchOutcome.LOCKED, at, detail=detail)
    except ProvisionError as error:
        return WatchTick(name, WatchOutcome.FAILED, at, detail=error.message)


def _held_by(holder: LockHolder) -> str:
    return f"locked by `{holder.command}` (pid {holder.pid} on {holder.host})"


def _applied(setup: RunSetup) -> str | None:
    """The spec digest of the environment's last successful `up` (only an `up` records one)."""
    for run in list_runs(setup.runs_root(), setup.compiled.environment.name):
        if run.spec_digest and run.observed_outcome() is RunOutcome.SUCCEEDED:
            return run.spec_digest
    return None
