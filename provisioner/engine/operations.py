"""The engine's operations: plan, up, down and drift, each run from its lock to its record.

Every operation records a run (`runs/ENV/RUN_ID/`, see `history`). Those that
may change something (`up`, `down`, `plan --out`) hold the environment's lock;
a lock left by a run that died is taken over, after stopping what that run
left running. `up` and `down` first clear what an interrupted run left pending,
and ask `confirm` before changing anything that no saved plan approved. `up`
rolls back what it created if it fails (see `Orchestrator.up`). Whatever a run
started is stopped when it ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from provisioner.engine.events import LogLevel, LogMessage
from provisioner.engine.history import RunRecorder, TeeSink
from provisioner.engine.locking import LockHolder, locked
from provisioner.engine.orchestrator import Orchestrator
from provisioner.engine.ports import ApplyResult, UpstreamPlan, UpstreamPlans
from provisioner.engine.run_record import Operation, RunInfo, new_run_id
from provisioner.engine.run_setup import Confirm, RunBackends, RunSetup, RunView
from provisioner.engine.saved_plan import SavedPlan, spec_digest
from provisioner.errors import ConfigurationError, ConfirmationError
from provisioner.plan import Plan


@dataclass(frozen=True)
class Planned:
    """The plan (or the drift) a run found, and the id of its record; `saved` when it was
    kept to be applied by `up --plan`."""

    plan: Plan
    run_id: str
    saved: SavedPlan | None = None


@dataclass(frozen=True)
class Applied:
    """What `up` planned and applied, and the id of its record."""

    plan: Plan
    result: ApplyResult
    run_id: str


@dataclass(frozen=True)
class Destroyed:
    """What `down` planned to delete; `run_id` is None when the state recorded nothing,
    so that no run was started."""

    plan: Plan
    run_id: str | None


def plan(
    setup: RunSetup,
    view: RunView,
    *,
    hosts: bool,
    parallelism: int,
    out: Path | None,
    upstreams: UpstreamPlans | None = None,
    save: bool = False,
) -> Planned:
    """What `up` would change; with `out` (or `save`), kept for `up --plan` (under the
    lock), and written to `out`.

    What it reads of the environments it uses is read from them, unless one was never
    applied or `upstreams` (their plans, made just before) create or replace it: then
    it is known only after their apply, and shown so.
    """
    name = setup.compiled.environment.name
    pending = {**_never_applied(setup), **(upstreams or {})}
    keep = save or out is not None
    saved = None
    with _recorded(setup, Operation.PLAN, lock=keep, parallelism=parallelism) as run:
        with view.busy(f"planning {name}"):
            found = run.orchestrator.plan(hosts=hosts, upstreams=pending)
        run.recorder.plan = found
        if keep:
            saved = SavedPlan.of(setup.compiled, run.backends.cloud.fingerprint(), found)
        if out is not None and saved is not None:
            saved.write(out)
    return Planned(found, run.id, saved)


def up(
    setup: RunSetup,
    view: RunView,
    confirm: Confirm,
    *,
    saved: SavedPlan | None,
    rollback: bool,
    parallelism: int,
) -> Applied:
    """Plan, confirm, apply and configure; with `saved`, apply exactly that plan or refuse."""
    compiled = setup.compiled
    name = compiled.environment.name
    _refuse_unapplied_upstreams(setup)
    plan_file = saved
    if plan_file is not None:
        plan_file.check_spec(compiled)
    with _recorded(setup, Operation.UP, lock=True, parallelism=parallelism) as run:
        run.recorder.spec_digest = spec_digest(compiled)
        run.recover(view)
        if plan_file is not None:
            plan_file.check_state(run.backends.cloud.fingerprint())
        with view.busy(f"planning {name}"):
            # Hosts are always brought to their playbooks' state; `plan` shows their diffs.
            planned = run.orchestrator.plan(hosts=False)
        run.recorder.plan = planned
        if plan_file is not None:
            plan_file.check_same_changes(planned)
        view.planned(planned)
        if planned.has_changes and plan_file is None:
            _confirm(confirm, f"Apply these changes to {name}?")
        with run.shown(view):
            applied = run.orchestrator.up(planned, rollback=rollback)
    return Applied(planned, applied, run.id)


def down(setup: RunSetup, view: RunView, confirm: Confirm, *, parallelism: int) -> Destroyed:
    """Delete every resource of the environment, dependents first.

    When the state records nothing, nothing is started (not even the local cloud).
    """
    name = setup.compiled.environment.name
    if setup.nothing_recorded():
        return Destroyed(Plan(name), None)
    _refuse_while_used(setup)
    with _recorded(setup, Operation.DOWN, lock=True, parallelism=parallelism) as run:
        run.recover(view)
        with view.busy(f"planning the teardown of {name}"):
            planned = run.orchestrator.plan_destroy()
        run.recorder.plan = planned
        view.planned(planned)
        if planned.has_changes:
            _confirm(confirm, f"Delete every resource of {name}?")
        leftover = run.orchestrator.outputs()
        if planned.has_changes or leftover.vms or leftover.values:
            # With nothing to delete, this still clears outputs left by a partial rollback.
            with run.shown(view):
                run.orchestrator.down()
    return Destroyed(planned, run.id)


def drift(setup: RunSetup, view: RunView, *, hosts: bool, parallelism: int) -> Planned:
    """Out-of-band changes: managed cloud properties, and (if `hosts`) files on the hosts."""
    name = setup.compiled.environment.name
    with _recorded(setup, Operation.DRIFT, lock=False, parallelism=parallelism) as run:
        with view.busy(f"checking {name} for drift"):
            found = run.orchestrator.drift(hosts=hosts)
        run.recorder.plan = found
    return Planned(found, run.id)


def _never_applied(setup: RunSetup) -> dict[str, UpstreamPlan]:
    """The environments this one uses that hold no resources yet."""
    uses = setup.compiled.environment.uses
    return {
        name: UpstreamPlan(name, applied=False)
        for name in uses
        if setup.recorded_resources(name) == 0
    }


def _refuse_unapplied_upstreams(setup: RunSetup) -> None:
    """An environment reads what it uses: each must have been applied first."""
    env = setup.compiled.environment
    never = [name for name in env.uses if setup.recorded_resources(name) == 0]
    if never:
        listed = ", ".join(never)
        raise ConfigurationError(
            f"{env.name} uses {listed}, which {'was' if len(never) == 1 else 'were'} never "
            "applied; nothing was changed",
            hint=f"`provision up {env.name} --with-deps` applies {listed} first, then {env.name}",
        )


def _refuse_while_used(setup: RunSetup) -> None:
    """Nothing an environment that uses this one still has may lose what it reads."""
    name = setup.compiled.environment.name
    holding = {user: setup.recorded_resources(user) for user in setup.users()}
    using = [user for user, count in holding.items() if count]
    if using:
        listed = ", ".join(f"{user} ({holding[user]} resources)" for user in using)
        raise ConfigurationError(
            f"refusing to take {name} down while environments that use it have resources, "
            f"nothing was deleted: {listed}",
            hint=f"`provision down {name} --with-dependents` takes "
            + " and ".join(using)
            + f" down first, then {name}",
        )


class _Run:
    """One recorded run: its backends, its orchestrator and its record."""

    def __init__(
        self, setup: RunSetup, backends: RunBackends, recorder: RunRecorder, parallelism: int
    ) -> None:
        self.id = recorder.info.id
        self.backends = backends
        self.recorder = recorder
        self.orchestrator = Orchestrator(
            setup.compiled.environment.name,
            setup.compiled.graph,
            backends.cloud,
            recorder,
            backends.hosts,
            parallelism=parallelism,
        )

    def recover(self, view: RunView) -> None:
        """Clear what an interrupted run left pending, and say so."""
        cleared = self.orchestrator.recover()
        if cleared:
            view.recovered(cleared)

    @contextmanager
    def shown(self, view: RunView) -> Iterator[None]:
        """Send the engine's events to the view's progress display too, for the block."""
        with view.progress() as display:
            self.orchestrator.sink = TeeSink(display, self.recorder)
            yield


@contextmanager
def _recorded(
    setup: RunSetup, operation: Operation, *, lock: bool, parallelism: int
) -> Iterator[_Run]:
    """Open the run's backends and record the run; hold the environment's lock if `lock`."""
    run_id = new_run_id()
    backends = setup.open(run_id, parallelism=parallelism)
    name = setup.compiled.environment.name
    info = RunInfo.current(run_id, name, setup.command, Path.cwd(), operation)
    recorder = RunRecorder(backends.run_dir, info)
    run = _Run(setup, backends, recorder, parallelism)
    try:
        with recorder.recording():
            if not lock:
                yield run
                return
            with locked(setup.lock(), _holder(info)) as stale:
                if stale is not None:
                    stopped = setup.stop_leftovers(stale.run_id)
                    text = (
                        f"took over the lock of run {stale.run_id} (pid {stale.pid}), which "
                        f"died; stopped {stopped} processes it left"
                    )
                    recorder.emit(LogMessage(level=LogLevel.WARNING, text=text))
                yield run
    finally:
        backends.close()
        # Nothing this run started outlives it (a plugin whose engine died, say).
        setup.stop_leftovers(run_id)


def _holder(info: RunInfo) -> LockHolder:
    command = " ".join(info.command)
    return LockHolder(
        info.host, info.pid, info.started_at, command, info.id, pid_started=info.pid_started
    )


def _confirm(confirm: Confirm, question: str) -> None:
    if not confirm(question):
        raise ConfirmationError("cancelled; nothing was changed")
