"""The plan model: per-resource actions with property diffs, and a summary.

Secrets never enter a plan: whoever builds one masks sensitive values with
`SENSITIVE` first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SENSITIVE = "(sensitive)"
KNOWN_AFTER_APPLY = "(known after apply)"


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
class PropertyChange:
    """One property's before and after; `forces_replacement` when it cannot change in place."""

    path: str
    before: Any
    after: Any
    forces_replacement: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "before": self.before,
            "after": self.after,
            "forces_replacement": self.forces_replacement,
        }


@dataclass(frozen=True)
class ResourceChange:
    """The planned action on one cloud resource (`vm.web[0]`, `network.main/internet-gateway`)."""

    address: str
    kind: str
    action: Action
    diff: tuple[PropertyChange, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "action": self.action.value,
            "diff": [change.to_json() for change in self.diff],
        }


@dataclass(frozen=True)
class Plan:
    """Every resource's planned action for one environment."""

    environment: str
    changes: tuple[ResourceChange, ...] = field(default_factory=tuple)

    @property
    def has_changes(self) -> bool:
        return any(change.action is not Action.NO_OP for change in self.changes)

    def summary(self) -> dict[str, int]:
        """Count of resources per action, every action listed."""
        counts = Counter(change.action for change in self.changes)
        return {action.value: counts.get(action, 0) for action in Action}

    def pending(self) -> list[ResourceChange]:
        """The changes that are not no-ops."""
        return [change for change in self.changes if change.action is not Action.NO_OP]

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "changes": [change.to_json() for change in self.changes],
            "summary": self.summary(),
            "has_changes": self.has_changes,
        }
