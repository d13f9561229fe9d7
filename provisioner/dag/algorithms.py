"""Generic DAG algorithms over networkx graphs. Nothing here knows about infrastructure.

Edges point from a dependency to its dependent. Node keys must be hashable and,
for deterministic results, the caller passes a sort key.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

import networkx as nx

N = TypeVar("N", bound=Hashable)
SortKey = Callable[[Any], Any]


def waves(graph: nx.DiGraph, key: SortKey) -> list[list[Any]]:
    """Topological generations: every node's dependencies are in earlier waves.

    Nodes of one wave do not depend on each other and can run in parallel.
    """
    return [sorted(generation, key=key) for generation in nx.topological_generations(graph)]


def cycles(graph: nx.DiGraph, key: SortKey) -> list[list[Any]]:
    """One concrete cycle per strongly connected component that has one, in a stable order."""
    if nx.is_directed_acyclic_graph(graph):
        return []
    found = []
    for component in nx.strongly_connected_components(graph):
        members = sorted(component, key=key)
        if len(members) == 1 and not graph.has_edge(members[0], members[0]):
            continue
        sub = graph.subgraph(members)
        edges = nx.find_cycle(sub, source=members[0])
        found.append([edge[0] for edge in edges])
    return sorted(found, key=lambda cycle: key(cycle[0]))


def critical_path(
    graph: nx.DiGraph, weight: Callable[[Any], float], key: SortKey
) -> tuple[list[Any], float]:
    """The heaviest dependency chain (sum of node weights) and its weight; ties break by key."""
    best: dict[Any, tuple[float, Any]] = {}
    for node in nx.lexicographical_topological_sort(graph, key=key):
        predecessors = sorted(graph.predecessors(node), key=key)
        start = max(predecessors, key=lambda p: best[p][0], default=None)
        base = best[start][0] if start is not None else 0.0
        best[node] = (base + weight(node), start)
    if not best:
        return [], 0.0
    end = max(sorted(best, key=key), key=lambda n: best[n][0])
    path: list[Any] = []
    cursor: Any = end
    while cursor is not None:
        path.append(cursor)
        cursor = best[cursor][1]
    return path[::-1], best[end][0]


def descendants_in_order(graph: nx.DiGraph, roots: Sequence[Any], key: SortKey) -> list[Any]:
    """Every node reachable from `roots` (excluding them), in topological order."""
    reached: set[Any] = set()
    for root in roots:
        reached |= nx.descendants(graph, root)
    reached -= set(roots)
    return [n for n in nx.lexicographical_topological_sort(graph, key=key) if n in reached]
