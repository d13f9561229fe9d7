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

from provisioner.spec.diagnostics import Diagnostic
from provisioner.spec.kinds import SECTIONS
from provisioner.spec.yamldoc import LocatedDocument

DEFAULT_MAX_RESOURCES = 10_000

# YAML values allowed per resource of the limit, aliases expanded. A spec written out in
# full takes 10 to 20 values per resource (the 50,000-resource benchmark spec has about
# 480,000 parser events, keys included), so 100 leaves room for anchors and merge keys,
# while a 9-level alias bomb (10**9 values) is refused after reading only its own few
# hundred events: at the default limit, past 1,000,000 values.
YAML_VALUES_PER_RESOURCE = 100


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


def check_resource_limit(
    data: Mapping[str, Any], doc: LocatedDocument, limits: Limits
) -> list[Diagnostic]:
    """Problems if the spec would make more resources than `limits` allow; [] otherwise.

    Works on the merged YAML data, before validation drops broken items, so a huge
    `count` is reported even when the same VM group has other problems. Each kind
    says what its items make (a VM group: `count x (1 + its distinct declared roles)`).
    """
    shares = [
        share
        for section, spec in SECTIONS.items()
        if isinstance(items := data.get(section), dict)
        for share in spec.shares(section, items, data)
    ]
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
