"""Every resource kind of the spec: one module each, found here.

A kind's module declares its `ResourceKind` and one `SpecKind` (section, schema,
readable attributes, links, checks). Adding a module is all it takes to add a
kind to the spec layer; `tests/unit/test_kind_registries.py` checks that every
layer knows every kind.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from provisioner.spec.addresses import ResourceKind
from provisioner.spec.kind import SpecKind


def _discover() -> tuple[SpecKind[Any], ...]:
    found: dict[ResourceKind, SpecKind[Any]] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for value in vars(module).values():
            if not isinstance(value, SpecKind):
                continue
            other = found.setdefault(value.kind, value)
            if other is not value:
                raise TypeError(f"two spec kinds declare '{value.kind}': {value.section}")
    return tuple(sorted(found.values(), key=lambda spec: (spec.kind.rank, spec.kind.value)))


# Each kind after the kinds it may depend on.
SPEC_KINDS: tuple[SpecKind[Any], ...] = _discover()
_BY_KIND = {spec.kind: spec for spec in SPEC_KINDS}
SECTIONS: dict[str, SpecKind[Any]] = {spec.section: spec for spec in SPEC_KINDS}


def spec_kind(kind: ResourceKind) -> SpecKind[Any]:
    """The spec declaration of `kind`."""
    return _BY_KIND[kind]
