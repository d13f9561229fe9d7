"""Every resource kind of the spec: one module each, found here.

A kind's module declares its `ResourceKind` and one `SpecKind` (section, schema,
readable attributes, links, checks). Adding a module is all it takes to add a
kind to the spec layer; `tests/unit/test_kind_registries.py` checks that every
layer knows every kind.
"""

from __future__ import annotations

from typing import Any

from provisioner.declarations import collect
from provisioner.spec.addresses import ResourceKind
from provisioner.spec.kind import SpecKind

# Each kind after the kinds it may depend on.
SPEC_KINDS: tuple[SpecKind[Any], ...] = tuple(
    sorted(
        collect(__name__, SpecKind, lambda spec: spec.kind).values(),
        key=lambda spec: (spec.kind.rank, spec.kind.value),
    )
)
_BY_KIND = {spec.kind: spec for spec in SPEC_KINDS}
SECTIONS: dict[str, SpecKind[Any]] = {spec.section: spec for spec in SPEC_KINDS}


def spec_kind(kind: ResourceKind) -> SpecKind[Any]:
    """The spec declaration of `kind`."""
    return _BY_KIND[kind]
