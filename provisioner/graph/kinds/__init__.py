"""Every resource kind of the graph: one module each, found here.

A kind's module holds its node type and one `GraphKind` whose `build` yields the
kind's nodes and the edges into them.
"""

from __future__ import annotations

import importlib
import pkgutil

from provisioner.graph.kind import GraphKind
from provisioner.spec.addresses import ResourceKind


def _discover() -> tuple[GraphKind, ...]:
    found: dict[ResourceKind, GraphKind] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, GraphKind)
                and found.setdefault(value.spec.kind, value) is not value
            ):
                raise TypeError(f"two graph kinds declare '{value.spec.kind}'")
    return tuple(sorted(found.values(), key=lambda g: (g.spec.kind.rank, g.spec.kind.value)))


# Each kind after the kinds it may depend on.
GRAPH_KINDS: tuple[GraphKind, ...] = _discover()
_BY_KIND = {graph_kind.spec.kind: graph_kind for graph_kind in GRAPH_KINDS}


def graph_kind(kind: ResourceKind) -> GraphKind:
    """The graph declaration of `kind`."""
    return _BY_KIND[kind]
