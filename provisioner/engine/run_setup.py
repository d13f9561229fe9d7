"""What the engine's operations need from outside: a RunSetup to run in, a view and a confirm.

The composition root (`provisioner.cli.wiring`) implements `RunSetup` with the
concrete backends; the CLI implements `RunView` and `Confirm`. Tests pass
in-process fakes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Protocol

from provisioner.engine.events import EventSink, NullSink
from provisioner.engine.locking import EnvironmentLock
from provisioner.engine.ports import CloudBackend, HostBackend
from provisioner.graph import CompiledEnvironment
from provisioner.plan import Plan


class RunBackends(Protocol):
    """The backends opened for one run, and the folder of its record and artifacts."""

    @property
    def cloud(self) -> CloudBackend: ...

    @property
    def hosts(self) -> HostBackend: ...

    @property
    def run_dir(self) -> Path: ...

    def close(self) -> None:
        """Release what the backends hold open (shared SSH connections)."""
        ...


class RunSetup(Protocol):
    """One compiled environment, and the means to run it: its lock, state and backends."""

    @property
    def compiled(self) -> CompiledEnvironment: ...

    @property
    def command(self) -> Sequence[str]:
        """The command line recorded with each run."""
        ...

    def nothing_recorded(self) -> bool:
        """True if the state is known, without starting anything, to record no resource."""
        ...

    def recorded_resources(self, environment: str) -> int | None:
        """How many resources the state of `environment` (this one's backend) records;
        None when that cannot be told without starting its cloud (state in S3)."""
        ...

    def users(self) -> Sequence[str]:
        """The environments that use this one, directly or not (from the specs beside it)."""
        ...

    def lock(self) -> EnvironmentLock: ...

    def runs_root(self) -> Path:
        """The folder of every environment's run records (`runs/ENV/RUN_ID/`)."""
        ...

    def open(self, run_id: str, *, parallelism: int) -> RunBackends:
        """The backends of run `run_id` (this starts the local cloud if the run needs it).

        Every process they start is marked with `run_id`, for `stop_leftovers`.
        """
        ...

    def stop_leftovers(self, run_id: str) -> int:
        """Stop whatever run `run_id` left running (Pulumi first, as Ctrl-C would, then its
        providers, Ansible and SSH masters); returns how many processes were stopped."""
        ...


# Asked before a run changes anything without a saved plan: True to go on. It may raise
# ConfirmationError itself when no one can be asked.
Confirm = Callable[[str], bool]


class RunView(Protocol):
    """How a run shows itself while it works; the CLI renders, tests stay quiet."""

    def busy(self, doing: str) -> AbstractContextManager[None]:
        """Around a long step without events (`planning dev`)."""
        ...

    def recovered(self, addresses: list[str]) -> None:
        """Operations an interrupted run left pending on these resources were cleared."""
        ...

    def planned(self, plan: Plan) -> None:
        """The plan `up` or `down` is about to apply (before asking to confirm it)."""
        ...

    def progress(self) -> AbstractContextManager[EventSink]:
        """Where the events of the apply or destroy go while it runs."""
        ...


class QuietView:
    """A view that shows nothing."""

    def busy(self, doing: str) -> AbstractContextManager[None]:
        return nullcontext()

    def recovered(self, addresses: list[str]) -> None:
        return None

    def planned(self, plan: Plan) -> None:
        return None

    def progress(self) -> AbstractContextManager[EventSink]:
        return nullcontext(NullSink())
