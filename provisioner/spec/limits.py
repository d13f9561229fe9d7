"""Bounds on what a spec may ask for, checked before anything is expanded.

A typo such as `count: 100000000` would otherwise expand into hundreds of
millions of graph nodes (gigabytes, minutes) before any problem is reported, and
a YAML alias bomb into a billion values. The caller chooses the limits (the CLI
lets a user raise them); this layer only applies them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from provisioner.spec.diagnostics import Diagnostic, FieldPath
from provisioner.spec.yamldoc import LocatedDocument

DEFAULT_MAX_RESOURCES = 10_000

# YAML values allowed per resource of the limit, aliases expanded. A spec written out in
# full takes 10 to 20 values per resource (the 50,000-resource benchmark spec has about
# 480,000 parser events, keys included), so 100 leaves room for anchors and merge keys,
# while a 9-level alias bomb (10**9 values) is refused after reading only its own few
# hundred events: at the default limit, past 1,000,000 values.
YAML_VALUES_PER_RESOURCE = 100

# Sections whose every item is one graph node; VM groups are counted separately.
_ONE_NODE_SECTIONS = ("networks", "subnets", "security_groups", "key_pairs")


@dataclass(frozen=True)
class Limits:
    """How many resources (graph nodes) a spec may make, and how a user can raise that."""

    max_resources: int = DEFAULT_MAX_RESOURCES
    # Appended to the message when the limit is hit, e.g. "raise it with PROVISION_MAX_RESOURCES".
    raise_hint: str = ""

    @property
    def max_yaml_values(self) -> int:
        """The most values one YAML document may expand to, aliases included."""
        return self.max_resources * YAML_VALUES_PER_RESOURCE


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class _Share:
    """The resources one part of the spec makes: a VM group, or a whole one-node section."""

    path: FieldPath
    what: str
    resources: int


def check_resource_limit(
    data: Mapping[str, Any], doc: LocatedDocument, limits: Limits
) -> list[Diagnostic]:
    """Problems if the spec would make more resources than `limits` allow; [] otherwise.

    Works on the merged YAML data, before validation drops broken items, so a huge
    `count` is reported even when the same VM group has other problems. A VM group
    makes `count x (1 + its distinct declared roles)` nodes, every other item one.
    """
    shares = [*_section_shares(data), *_vm_group_shares(data)]
    total = sum(share.resources for share in shares)
    if total <= limits.max_resources:
        return []
    over_alone = [share for share in shares if share.resources > limits.max_resources]
    blamed = over_alone or [max(shares, key=lambda share: share.resources)]
    hint = f" ({limits.raise_hint})" if limits.raise_hint else ""
    return [
        Diagnostic(
            doc.locate(share.path),
            share.path,
            f"{share.what} would make about {total} resources, "
            f"over the limit of {limits.max_resources}{hint}",
        )
        for share in blamed
    ]


def _section_shares(data: Mapping[str, Any]) -> list[_Share]:
    shares = []
    for section in _ONE_NODE_SECTIONS:
        items = data.get(section)
        if isinstance(items, dict) and items:
            label = section.replace("_", " ")
            shares.append(_Share((section,), f"{len(items)} {label}", len(items)))
    return shares


def _vm_group_shares(data: Mapping[str, Any]) -> list[_Share]:
    groups = data.get("vms")
    roles = data.get("roles")
    declared_roles = set(roles) if isinstance(roles, dict) else set()
    if not isinstance(groups, dict):
        return []
    shares = []
    for name, group in groups.items():
        if not isinstance(group, dict):
            continue
        count = _count(group.get("count", 1))
        listed = group.get("roles")
        on_each = (
            {role for role in listed if isinstance(role, str) and role in declared_roles}
            if isinstance(listed, list)
            else set()
        )
        path: FieldPath = ("vms", name, "count") if "count" in group else ("vms", name)
        shares.append(_Share(path, f"{count} VMs", count * (1 + len(on_each))))
    return shares


def _count(value: Any) -> int:
    """A VM group's count as the graph would use it; one the schema rejects makes no VMs."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return 0
