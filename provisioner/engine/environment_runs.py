"""Runs over several environments: `plan` and `up` in the order of `uses` (what is used
first), `down` in reverse, independent environments at once.

Each environment's run is the single-environment operation, under its own lock
and with its own record; an environment whose upstream (for `down`: whose user)
failed or was skipped is skipped and named. The walk is the generic one of
`provisioner.dag`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from provisioner.dag.walk import Outcome, Walker
from provisioner.engine.history import RunRecorder
from provisioner.engine.ports import UpstreamPlan, UpstreamPlans
from provisioner.engine.run_record import SEVERAL, EnvironmentRunRecord, RunInfo, new_run_id
from provisioner.plan import Plan


@dataclass(frozen=True)
class EnvironmentRun:
    """How one environment's part of a run ended; `detail` says why it failed or was skipped."""

    environment: str
    outcome: Outcome
    seconds: float = 0.0
    detail: str = ""


def run_environments(
    uses: Mapping[str, Sequence[str]],
    run_one: Callable[[str], None],
    *,
    reverse: bool = False,
    workers: int = 4,
) -> list[EnvironmentRun]:
    """Run `run_one(name)` for every environment of `uses` (name -> the names it uses).

    Forward, an environment runs once everything it uses (within `uses`) is done;
    with `reverse` (teardown), once everything that uses it is. Returns each
    environment's outcome, in the order they ran.
    """
    names = set(uses)
    if reverse:
        dependencies = {
            name: sorted(u for u, used in uses.items() if name in used) for name in names
        }
    else:
        dependencies = {name: sorted(set(uses[name]) & names) for name in names}
    started: dict[str, float] = {}
    ended: dict[str, float] = {}

    def timed(name: str) -> None:
        started[name] = time.monotonic()
        try:
            run_one(name)
        finally:
            ended[name] = time.monotonic()

    walker: Walker[str] = Walker(dependencies, timed, workers=max(1, workers))
    walker.start()
    outcomes = walker.wait()
    errors = walker.errors
    order = sorted(names, key=lambda n: (n not in started, started.get(n, 0.0), n))
    return [
        EnvironmentRun(
            name,
            outcomes[name],
            ended.get(name, 0.0) - started.get(name, 0.0),
            _detail(name, outcomes, errors, dependencies, reverse=reverse),
        )
        for name in order
    ]


def plan_environments(
    uses: Mapping[str, Sequence[str]],
    plan_one: Callable[[str, UpstreamPlans], Plan],
) -> tuple[dict[str, Plan], list[EnvironmentRun]]:
    """Plan every environment of `uses`, each after those it uses, independent ones at once.

    Each plan is given the plans of the environments it uses (`UpstreamPlan`): what
    they create or replace is known to it only after their apply, and shown so;
    what they only update or leave alone is read as it is now.
    """
    plans: dict[str, Plan] = {}

    def one(name: str) -> None:
        upstreams = {
            used: UpstreamPlan.of(used, plans[used]) for used in uses[name] if used in plans
        }
        plans[name] = plan_one(name, upstreams)

    results = run_environments(uses, one, workers=len(uses))
    return plans, results


@contextmanager
def recorded_runs(
    runs_root: Path, command: Sequence[str], names: Sequence[str]
) -> Iterator[RunRecorder]:
    """One record for a run over several environments (`runs/_several/RUN_ID/run.json`),
    which lists each environment's part and its own run (see `record_parts`)."""
    run_id = new_run_id()
    info = RunInfo.current(run_id, ", ".join(names), command, Path.cwd())
    recorder = RunRecorder(runs_root / SEVERAL / run_id, info)
    with recorder.recording():
        yield recorder


def record_parts(
    recorder: RunRecorder, results: Sequence[EnvironmentRun], runs: Mapping[str, str | None]
) -> None:
    """Each environment's outcome and run id in the record; it failed unless all are done."""
    recorder.environments = tuple(
        EnvironmentRunRecord(
            r.environment, r.outcome.value, runs.get(r.environment), round(r.seconds, 1), r.detail
        )
        for r in results
    )
    unfinished = [r.environment for r in results if r.outcome is not Outcome.DONE]
    if unfinished:
        recorder.failure = f"{', '.join(unfinished)} did not finish"


def _detail(
    name: str,
    outcomes: Mapping[str, Outcome],
    errors: Mapping[str, BaseException],
    dependencies: Mapping[str, Sequence[str]],
    *,
    reverse: bool,
) -> str:
    if outcomes[name] is Outcome.FAILED:
        return str(errors.get(name, "failed"))
    if outcomes[name] is Outcome.SKIPPED:
        blocked = [d for d in dependencies[name] if outcomes.get(d) is not Outcome.DONE]
        relation = "uses it" if reverse else "it uses"
        return f"skipped: {', '.join(blocked)}, which {relation}, did not succeed"
    return ""
