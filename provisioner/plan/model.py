"""The plan model: per-resource actions with property diffs, and a summary.

Secrets never enter a plan: whoever builds one masks sensitive values with
`SENSITIVE` first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from provisioner.errors import ProvisionError
from provisioner.jsonable import Jsonable, dump, load
from provisioner.spec.addresses import ResourceAddressText, ResourceKind

SENSITIVE = "(sensitive)"
KNOWN_AFTER_APPLY = "(known after apply)"


def known_after_apply_of(environment: str) -> str:
    """A value read from another environment that is known only once that one is applied."""
    return f"(known after apply of {environment})"


class Action(StrEnum):
    """What happens to a resource, in the order a summary lists them."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    NO_OP = "no-op"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.DELETE: "-",
    Action.NO_OP: " ",
}


@dataclass(frozen=True)
class PropertyChange(Jsonable):
    """One property's before and after; `forces_replacement` when it cannot change in place."""

    path: str
    before: Any
    after: Any
    forces_replacement: bool = False


@dataclass(frozen=True)
class ResourceChange(Jsonable):
    """The planned action on one cloud resource (`vm.web[0]`, `network.main/internet-gateway`)."""

    address: ResourceAddressText
    action: Action
    diff: tuple[PropertyChange, ...] = ()

    @property
    def kind(self) -> ResourceKind:
        return self.address.kind

    def to_json(self) -> dict[str, Any]:
        return {**dump(self), "kind": self.kind.value}


class TaskOutlook(StrEnum):
    """What Ansible's check mode says one task would do."""

    CHANGE = "change"
    NO_CHANGE = "no-change"
    UNKNOWN = "unknown"  # check mode cannot run it (command, shell, wait_for)
    FAIL = "fail"


@dataclass(frozen=True)
class TaskChange(Jsonable):
    """One task of a role on one host, as check mode predicts it; `diff` is unified diff text."""

    task: str
    outlook: TaskOutlook
    diff: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class SoftwareChange(Jsonable):
    """The planned configuration of one software node (`software.web@vm.web[0]`).

    CREATE: its VM is new or replaced, so every task runs. UPDATE: check mode
    predicts changes. NO_OP: check mode predicts none (`tasks` says which it
    could not predict).
    """

    address: str
    host: str
    action: Action
    tasks: tuple[TaskChange, ...] = ()


@dataclass(frozen=True)
class Plan:
    """Every resource's planned action for one environment, and its software's.

    `gone`: resources the state records that the cloud no longer has (deleted
    outside provision, or forgotten by a restarted local cloud); they are among
    the changes as creates. `outputs`: the environment's outputs that change
    (`outputs.NAME`, `vms.ADDRESS.roles`, ...), as Terraform lists changes to outputs.
    """

    environment: str
    changes: tuple[ResourceChange, ...] = field(default_factory=tuple)
    software: tuple[SoftwareChange, ...] = field(default_factory=tuple)
    gone: tuple[ResourceAddressText, ...] = field(default_factory=tuple)
    outputs: tuple[PropertyChange, ...] = field(default_factory=tuple)

    @property
    def has_changes(self) -> bool:
        return (
            self.has_cloud_changes
            or self.has_output_changes
            or any(change.action is not Action.NO_OP for change in self.software)
        )

    @property
    def has_cloud_changes(self) -> bool:
        return any(change.action is not Action.NO_OP for change in self.changes)

    @property
    def has_output_changes(self) -> bool:
        return bool(self.outputs)

    def summary(self) -> dict[str, int]:
        """Count of resources per action, every action listed."""
        counts = Counter(change.action for change in self.changes)
        return {action.value: counts.get(action, 0) for action in Action}

    def pending(self) -> list[ResourceChange]:
        """The changes that are not no-ops."""
        return [change for change in self.changes if change.action is not Action.NO_OP]

    def software_summary(self) -> dict[str, int]:
        """Count of software nodes per action."""
        counts = Counter(change.action for change in self.software)
        return {
            "configure": counts.get(Action.CREATE, 0),
            "change": counts.get(Action.UPDATE, 0),
            "no-op": counts.get(Action.NO_OP, 0),
        }

    def to_json(self) -> dict[str, Any]:
        """Its fields, and the summaries and `has_changes` derived from them."""
        return {
            **dump(self),
            "changes": [change.to_json() for change in self.changes],
            "summary": self.summary(),
            "software_summary": self.software_summary(),
            "has_changes": self.has_changes,
        }

    @classmethod
    def from_json(cls, data: Any) -> Plan:
        """The plan `to_json` gave (its summaries and `has_changes` are derived again).

        Raises PlanFormatError if `data` is not such a plan.
        """
        try:
            return load(cls, data)
        except ValueError as error:
            raise PlanFormatError(f"not a plan ({error})") from None


class PlanFormatError(ProvisionError):
    """JSON that `Plan.from_json` cannot read as a plan."""
