"""The generic DAG algorithms on small hand-made graphs."""

from __future__ import annotations

import networkx as nx

from provisioner.dag import algorithms as dag


def diamond() -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_edges_from([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e")])
    return graph


def test_waves_group_nodes_whose_dependencies_are_all_earlier() -> None:
    assert dag.waves(diamond(), key=str) == [["a"], ["b", "c"], ["d"], ["e"]]


def test_critical_path_follows_the_heaviest_chain() -> None:
    weights = {"a": 1.0, "b": 5.0, "c": 2.0, "d": 1.0, "e": 1.0}
    path, length = dag.critical_path(diamond(), weights.__getitem__, key=str)
    assert path == ["a", "b", "d", "e"]
    assert length == 8.0


def test_critical_path_of_an_empty_graph_is_empty() -> None:
    assert dag.critical_path(nx.DiGraph(), lambda _n: 1.0, key=str) == ([], 0.0)


def test_cycles_names_one_cycle_per_strongly_connected_component() -> None:
    graph = diamond()
    graph.add_edges_from([("e", "b"), ("x", "y"), ("y", "x"), ("z", "z")])
    found = dag.cycles(graph, key=str)
    assert sorted(sorted(cycle) for cycle in found) == [["b", "d", "e"], ["x", "y"], ["z"]]


def test_descendants_in_order_are_topological_and_exclude_the_roots() -> None:
    assert dag.descendants_in_order(diamond(), ["b"], key=str) == ["d", "e"]
    assert dag.descendants_in_order(diamond(), ["a"], key=str) == ["b", "c", "d", "e"]
