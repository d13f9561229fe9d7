"""Invariants of the compiler on random valid environments (hypothesis)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings

from provisioner.graph import compile_environment
from provisioner.spec.kinds.vm import VMS
from provisioner.spec.model import Environment

from .spec_strategies import environments

SETTINGS = settings(max_examples=150, deadline=None)


@SETTINGS
@given(environments())
def test_every_edge_goes_from_an_earlier_wave_to_a_later_one(env: Environment) -> None:
    graph = compile_environment(env)
    wave = graph.wave_of()
    for edge in graph.edges():
        assert wave[edge.source] < wave[edge.target], edge


@SETTINGS
@given(environments())
def test_compilation_is_deterministic(env: Environment) -> None:
    assert compile_environment(env).to_json() == compile_environment(env).to_json()


@SETTINGS
@given(environments())
def test_addresses_are_unique_and_one_per_declared_resource(env: Environment) -> None:
    graph = compile_environment(env)
    rendered = [str(address) for address in graph.addresses()]
    sections = env.resources
    expected = (
        len(sections["networks"])
        + len(sections["subnets"])
        + len(sections["security_groups"])
        + len(sections["key_pairs"])
        + sum(vm.count * (1 + len(vm.roles)) for vm in VMS.items(env).values())
    )
    assert len(set(rendered)) == len(rendered) == expected


@SETTINGS
@given(environments())
def test_the_critical_path_is_a_chain_of_edges_as_long_as_the_waves(env: Environment) -> None:
    graph = compile_environment(env)
    path, length = graph.critical_path()
    assert length == len(path) == len(graph.waves())
    for source, target in itertools.pairwise(path):
        assert source in graph.dependencies(target)


@SETTINGS
@given(environments())
def test_waves_partition_the_nodes_in_a_stable_order(env: Environment) -> None:
    graph = compile_environment(env)
    waves = graph.waves()
    flat = [address for wave in waves for address in wave]
    assert sorted(flat) == graph.addresses()
    assert all(wave == sorted(wave) for wave in waves)
