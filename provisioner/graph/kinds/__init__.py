"""Every resource kind of the graph: one module each, found here.

A kind's module holds its node type and one `GraphKind` whose `build` yields the
kind's nodes and the edges into them.
"""

from __future__ import annotations

from provisioner.declarations import collect
from provisioner.graph.kind import GraphKind
from provisioner.spec.addresses import ResourceKind

# Each kind after the kinds it may depend on.
GRAPH_KINDS: tuple[GraphKind, ...] = tuple(
    sorted(
        collect(__name__, GraphKind, lambda graph: graph.spec.kind).values(),
        key=lambda graph: (graph.spec.kind.rank, graph.spec.kind.value),
    )
)
_BY_KIND = {graph_kind.spec.kind: graph_kind for graph_kind in GRAPH_KINDS}


def graph_kind(kind: ResourceKind) -> GraphKind:
    """The graph declaration of `kind`."""
    return _BY_KIND[kind]
