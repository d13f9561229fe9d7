"""Saved plans: `plan --out FILE` writes one, `up --plan FILE` applies exactly it or refuses.
`plan --all --out FILE` writes one per environment in one file; `up --all --plan FILE`
checks and applies each.

A saved plan carries digests of the spec (with its playbooks) and of the state
it was made against. Applying it is refused if either changed since, or if a
fresh preview no longer gives the same per-resource actions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from provisioner.errors import ProvisionError
from provisioner.fsutil import atomic_write_json, read_json
from provisioner.graph import CompiledEnvironment
from provisioner.jsonable import load
from provisioner.plan import Action, Plan
from provisioner.spec.addresses import ResourceAddress

FORMAT = "provision-plan/1"
# Several environments' plans in one file (`plan --all --out`), each checked on its own.
SET_FORMAT = "provision-plans/1"


class StalePlanError(ProvisionError):
    """A saved plan no longer matches the spec, the state or the cloud."""


@dataclass(frozen=True)
class SavedPlan:
    """A plan as an artifact: what it changes, and what it was made against."""

    environment: str
    spec_digest: str
    state_digest: str
    created_at: str
    plan: Plan

    @classmethod
    def of(cls, compiled: CompiledEnvironment, state_digest: str, plan: Plan) -> SavedPlan:
        return cls(
            environment=compiled.environment.name,
            spec_digest=spec_digest(compiled),
            state_digest=state_digest,
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            plan=plan,
        )

    def write(self, path: Path) -> None:
        atomic_write_json(path, {"format": FORMAT, **self.__dict__, "plan": self.plan.to_json()})

    @classmethod
    def load(cls, path: Path) -> SavedPlan:
        data = read_json(path)
        if isinstance(data, dict) and data.get("format") == SET_FORMAT:
            raise ProvisionError(
                f"{path} holds the plans of several environments",
                hint="apply them with the options they were made with (`up --all --plan`, ...)",
            )
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ProvisionError(f"{path} is not a plan saved by `provision plan --out`")
        try:
            return load(cls, data)
        except ValueError as error:
            raise ProvisionError(f"{path} holds no valid plan ({error}); save it again") from None

    def check_spec(self, compiled: CompiledEnvironment) -> None:
        """Refuse if the plan is for another environment or the spec changed since."""
        if compiled.environment.name != self.environment:
            raise StalePlanError(
                f"the saved plan is for '{self.environment}', not '{compiled.environment.name}'"
            )
        if spec_digest(compiled) != self.spec_digest:
            raise StalePlanError(
                "the spec or its playbooks changed since the plan was saved",
                hint="make a new plan with `provision plan --out`",
            )

    def check_state(self, state_digest: str) -> None:
        """Refuse if the state changed since the plan was saved (another run applied)."""
        if state_digest != self.state_digest:
            raise StalePlanError(
                "the state changed since the plan was saved",
                hint="make a new plan with `provision plan --out`",
            )

    def check_same_changes(self, fresh: Plan) -> None:
        """Refuse if a fresh preview plans other actions (the cloud changed since)."""
        saved, now = _actions(self.plan), _actions(fresh)
        if saved != now:
            differ = sorted(a for a in saved.keys() | now.keys() if saved.get(a) != now.get(a))
            raise StalePlanError(
                f"the cloud changed since the plan was saved: {', '.join(map(str, differ))} now "
                "differ",
                hint="make a new plan with `provision plan --out`",
            )


def write_plans(path: Path, plans: Sequence[SavedPlan]) -> None:
    """Several environments' saved plans in one file, in the order they apply."""
    atomic_write_json(
        path,
        {
            "format": SET_FORMAT,
            "plans": [{**plan.__dict__, "plan": plan.plan.to_json()} for plan in plans],
        },
    )


def load_plans(path: Path) -> dict[str, SavedPlan]:
    """The saved plans of a file written by `write_plans` (a single plan's file is one too)."""
    data = read_json(path)
    if isinstance(data, dict) and data.get("format") == FORMAT:
        single = SavedPlan.load(path)
        return {single.environment: single}
    if not isinstance(data, dict) or data.get("format") != SET_FORMAT:
        raise ProvisionError(f"{path} is not a plan saved by `provision plan --out`")
    try:
        plans = [load(SavedPlan, plan) for plan in data.get("plans") or []]
    except ValueError as error:
        raise ProvisionError(f"{path} holds no valid plans ({error}); save them again") from None
    return {plan.environment: plan for plan in plans}


def spec_digest(compiled: CompiledEnvironment) -> str:
    """A digest of the merged spec and of every file under its playbooks directory."""
    digest = hashlib.sha256()
    digest.update(compiled.environment.model_dump_json().encode())
    playbooks = compiled.source.playbooks_dir
    if playbooks.is_dir():
        for path in sorted(p for p in playbooks.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(playbooks)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _actions(plan: Plan) -> dict[ResourceAddress, Action]:
    return {change.address: change.action for change in plan.pending()}
