"""`plan`, `up` and `down` over several environments: `--with-deps`, `--with-dependents`,
`--all`.

The environments come from the specs in environments/ and their `uses`; each
is compiled before anything runs (a bad spec stops the whole run there). One
question covers the set; then each environment runs the single-environment
operation, with its own lock and record, once what it uses is up (for `down`:
once what uses it is down), independent ones at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import typer
from rich.markup import escape

from provisioner.cli.errors import EXIT_ERROR
from provisioner.cli.output import print_json, stdout
from provisioner.cli.specs import environments_dir
from provisioner.cli.wiring import ProjectSetup
from provisioner.dag.walk import Outcome
from provisioner.engine import operations
from provisioner.engine.environment_runs import (
    EnvironmentRun,
    record_parts,
    recorded_runs,
    run_environments,
)
from provisioner.engine.events import EventSink, NullSink
from provisioner.engine.run_setup import Confirm
from provisioner.engine.saved_plan import SavedPlan, StalePlanError, load_plans
from provisioner.errors import ConfigurationError, ConfirmationError
from provisioner.paths import StatePaths
from provisioner.plan import Plan
from provisioner.spec.model import Cloud
from provisioner.spec.uses import EnvironmentGraph

_print_lock = threading.Lock()


class LineView:
    """One environment's view in a run of several: no live display, notes prefixed."""

    def __init__(self, name: str, quiet: bool) -> None:
        self.name = name
        self.quiet = quiet

    def busy(self, doing: str) -> AbstractContextManager[None]:
        return nullcontext()

    def recovered(self, addresses: list[str]) -> None:
        say(f"{self.name}: cleared operations an interrupted run left pending", self.quiet)

    def planned(self, plan: Plan) -> None:
        return None

    def progress(self) -> AbstractContextManager[EventSink]:
        return nullcontext(NullSink())


def say(line: str, quiet: bool) -> None:
    if not quiet:
        with _print_lock:
            stdout.print(escape(line), soft_wrap=True, highlight=False)


def selected(environment: str | None, *, every: bool, downstream: bool) -> dict[str, list[str]]:
    """The environments of the run, each with what it uses among them."""
    graph = EnvironmentGraph.of_folder(environments_dir())
    cycles = graph.cycles()
    if cycles:
        members = "; ".join(" -> ".join([*c[::-1], c[-1]]) for c in cycles)
        raise ConfigurationError(f"environments use each other in a cycle: {members}")
    if every == (environment is not None):
        raise ConfigurationError("give an environment, or --all (not both)")
    if environment is None:
        names = list(graph.uses)
    elif environment not in graph.uses:
        raise ConfigurationError(f"unknown environment '{environment}' in {environments_dir()}")
    elif downstream:
        names = [environment, *graph.downstream(environment)]
    else:
        names = [*graph.upstream(environment), environment]
    return {name: [u for u in graph.uses[name] if u in names] for name in names}


def run_many(
    uses: dict[str, list[str]],
    run_one: Callable[[str, LineView], str | None],
    *,
    question: str,
    confirm: Confirm,
    reverse: bool,
    as_json: bool,
    command: Sequence[str],
) -> None:
    """Ask once, run each environment in order, and report each one's end; one record."""
    if not confirm(question):
        raise ConfirmationError("declined; nothing was changed")
    runs: dict[str, str | None] = {}

    def one(name: str) -> None:
        say(f"{name}: started", as_json)
        began = time.monotonic()
        try:
            runs[name] = run_one(name, LineView(name, as_json))
        except Exception as error:
            say(f"{name}: failed ({time.monotonic() - began:.1f}s): {error}", as_json)
            raise
        say(f"{name}: done ({time.monotonic() - began:.1f}s)", as_json)

    with recorded_runs(runs_root(), command, list(uses)) as record:
        results = run_environments(uses, one, reverse=reverse, workers=len(uses))
        record_parts(record, results, runs)
    _report(results, runs, as_json, record.info.id)
    if any(result.outcome is not Outcome.DONE for result in results):
        raise typer.Exit(EXIT_ERROR)


def runs_root() -> Path:
    return StatePaths.discover().runs_root


def _report(
    results: list[EnvironmentRun], runs: dict[str, str | None], as_json: bool, run_id: str
) -> None:
    if as_json:
        print_json(
            {
                "run": run_id,
                "environments": [
                    {
                        "environment": r.environment,
                        "outcome": r.outcome.value,
                        "seconds": round(r.seconds, 1),
                        "detail": r.detail,
                        "run": runs.get(r.environment),
                    }
                    for r in results
                ],
            }
        )
        return
    for result in results:
        if result.outcome is Outcome.SKIPPED:
            say(f"{result.environment}: {result.detail}", as_json)
    done = sum(r.outcome is Outcome.DONE for r in results)
    say(f"{done} of {len(results)} environments done (run {run_id}).", as_json)


def waves(uses: dict[str, list[str]]) -> list[list[str]]:
    return EnvironmentGraph(uses={name: tuple(used) for name, used in uses.items()}).waves()


def listing(names: Iterator[str] | list[str]) -> str:
    found = list(names)
    return found[0] if len(found) == 1 else f"{', '.join(found[:-1])} and {found[-1]}"


def up_many(
    environment: str | None,
    *,
    saved: Path | None,
    every: bool,
    downstream: bool,
    confirm: Confirm,
    cloud: Cloud | None,
    rollback: bool,
    parallelism: int,
    as_json: bool,
) -> None:
    uses = selected(environment, every=every, downstream=downstream)
    setups = {name: ProjectSetup.of(name, cloud) for name in uses}  # every spec, before any run
    order = [n for wave in waves(uses) for n in wave]
    plans = _saved_plans(saved, setups) if saved is not None else {}

    def run_one(name: str, view: LineView) -> str:
        return operations.up(
            setups[name],
            view,
            lambda _question: True,  # the run's one question covered it
            saved=plans.get(name),
            rollback=rollback,
            parallelism=parallelism,
        ).run_id

    run_many(
        uses,
        run_one,
        question=f"Apply {listing(order)}, each after what it uses?",
        confirm=confirm if saved is None else lambda _question: True,  # the plans approved it
        reverse=False,
        as_json=as_json,
        command=setups[order[0]].command,
    )


def _saved_plans(path: Path, setups: dict[str, ProjectSetup]) -> dict[str, SavedPlan]:
    """The saved plans of the run's environments, each checked against its spec now,
    before anything runs (each one's state is checked when its turn comes)."""
    plans = load_plans(path)
    if set(plans) != set(setups):
        raise StalePlanError(
            f"{path} holds plans for {listing(sorted(plans))}, not for {listing(sorted(setups))}",
            hint="save the plans with the same options: `plan ... --out`",
        )
    for name, plan in plans.items():
        plan.check_spec(setups[name].compiled)
    return plans


def down_many(
    environment: str | None,
    *,
    every: bool,
    confirm: Confirm,
    cloud: Cloud | None,
    parallelism: int,
    as_json: bool,
) -> None:
    uses = selected(environment, every=every, downstream=True)
    setups = {name: ProjectSetup.of(name, cloud) for name in uses}
    order = [n for wave in waves(uses) for n in wave][::-1]

    def run_one(name: str, view: LineView) -> str | None:
        return operations.down(
            setups[name], view, lambda _question: True, parallelism=parallelism
        ).run_id

    run_many(
        uses,
        run_one,
        question=f"Delete every resource of {listing(order)}, each before what it uses?",
        confirm=confirm,
        reverse=True,
        as_json=as_json,
        command=setups[order[0]].command,
    )
