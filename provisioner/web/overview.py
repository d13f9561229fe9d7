"""What the web view shows, read from the project: its environments (from the specs in
environments/), their recorded runs, state and locks. Nothing here changes anything."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.cloud.pulumi.state import recorded_resource_addresses
from provisioner.cloud.pulumi_cloud import PROJECT
from provisioner.engine.locking import FileLock, LockHolder
from provisioner.engine.run_record import SEVERAL, RunRecord, list_runs
from provisioner.paths import StatePaths
from provisioner.spec.overlay import scan_folder

DRIFT = "drift"


@dataclass(frozen=True)
class RunFilter:
    """Which runs a listing holds: by environment, command (`up`, `drift`, ...) and outcome."""

    environment: str | None = None
    command: str | None = None
    outcome: str | None = None

    def admits(self, run: RunRecord) -> bool:
        return (
            (self.environment is None or run.info.environment == self.environment)
            and (self.command is None or command_of(run) == self.command)
            and (self.outcome is None or run.observed_outcome().value == self.outcome)
        )


@dataclass(frozen=True)
class EnvironmentSummary:
    """One environment at a glance.

    `resources` and `hosts` are what its state records (None: state not in files
    here); `drifted` is the last drift check's answer (None: never checked).
    """

    name: str
    last_run: RunRecord | None
    drift_run: RunRecord | None
    drifted: bool | None
    resources: int | None
    hosts: int | None
    lock: LockHolder | None

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.name,
            "last_run": self.last_run.summary_json() if self.last_run else None,
            "drift": {
                "drifted": self.drifted,
                "checked_at": self.drift_run.ended_at or self.drift_run.info.started_at,
                "run": self.drift_run.id,
            }
            if self.drift_run is not None
            else None,
            "resources": self.resources,
            "hosts": self.hosts,
            "locked_by": dataclasses.asdict(self.lock) if self.lock is not None else None,
        }


def command_of(run: RunRecord) -> str:
    """`up` for `provision up dev --yes`."""
    words = run.info.command
    return words[1] if len(words) > 1 else ""


@dataclass(frozen=True)
class Project:
    """The project the view reads: its environments folder and its state folder."""

    environments: Path
    paths: StatePaths

    def environment_names(self) -> list[str]:
        return sorted(file.stem for file in scan_folder(self.environments).environments)

    def runs(self, chosen: RunFilter = RunFilter()) -> list[RunRecord]:
        """Recorded runs, newest first (runs over several environments included)."""
        root = self.paths.root / "runs"
        names: Sequence[str] = (
            [chosen.environment] if chosen.environment else [*self.environment_names(), SEVERAL]
        )
        found = [run for name in names for run in list_runs(root, name) if chosen.admits(run)]
        return sorted(found, key=lambda run: run.id, reverse=True)

    def summary(self, name: str) -> EnvironmentSummary:
        runs = list_runs(self.paths.root / "runs", name)
        drift = next((run for run in runs if command_of(run) == DRIFT and run.plan), None)
        addresses = recorded_resource_addresses(None, self.paths, PROJECT, name)
        lock = FileLock(self.paths.locks / f"{name}.lock", name)
        return EnvironmentSummary(
            name=name,
            last_run=runs[0] if runs else None,
            drift_run=drift,
            drifted=drift.plan.has_changes if drift is not None and drift.plan else None,
            resources=len(addresses) if addresses is not None else None,
            hosts=sum(1 for a in addresses if a.startswith("vm.")) if addresses else 0,
            lock=lock.holder(),
        )

    def summaries(self) -> list[EnvironmentSummary]:
        return [self.summary(name) for name in self.environment_names()]
