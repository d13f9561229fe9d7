"""Every resource kind is known to every layer that must know it, once, consistently."""

from __future__ import annotations

import pytest

from provisioner.cloud.aws.base import AwsResource
from provisioner.cloud.aws.key_pair import KeyPairProvider
from provisioner.cloud.aws.kind import cloud_kinds, providers
from provisioner.cloud.aws.orphans import teardown_order
from provisioner.cloud.aws.vpc import VpcProvider
from provisioner.graph.kinds import GRAPH_KINDS
from provisioner.spec.addresses import ResourceKind
from provisioner.spec.kinds import SPEC_KINDS, spec_kind
from provisioner.spec.kinds.software import SOFTWARE
from stacks.kind import stack_kinds

KINDS = ResourceKind.all()
# Software is configured on the hosts; every other kind is made in the cloud.
CLOUD_KINDS = [kind for kind in KINDS if kind is not SOFTWARE]


def test_every_kind_has_one_spec_declaration_and_one_graph_declaration() -> None:
    assert [spec.kind for spec in SPEC_KINDS] == KINDS
    assert [graph.spec.kind for graph in GRAPH_KINDS] == KINDS
    assert all(graph.spec is spec_kind(graph.spec.kind) for graph in GRAPH_KINDS)
    assert len({spec.section for spec in SPEC_KINDS}) == len(SPEC_KINDS)


def test_every_cloud_kind_has_providers_and_a_stack_declaration() -> None:
    assert [cloud.kind for cloud in cloud_kinds()] == CLOUD_KINDS
    assert sorted(stack_kinds(), key=KINDS.index) == CLOUD_KINDS
    assert all(cloud.providers for cloud in cloud_kinds())


@pytest.mark.parametrize("kind", CLOUD_KINDS, ids=str)
def test_each_readable_attribute_comes_from_the_cloud_or_from_the_spec(
    kind: ResourceKind,
) -> None:
    from_cloud = set(next(c for c in cloud_kinds() if c.kind is kind).attributes)
    from_spec = set(stack_kinds()[kind].from_node)
    assert not from_cloud & from_spec
    assert from_cloud | from_spec == spec_kind(kind).attributes


def test_each_provider_serves_one_kind_and_names_its_own_id_output() -> None:
    every = providers()
    assert len(set(every)) == len(every)
    assert len({provider.id_output for provider in every}) == len(every)
    assert all(provider.id_output in provider.outputs for provider in every)


def test_kinds_come_after_the_kinds_they_may_depend_on() -> None:
    for kind in KINDS:
        assert all(dependency.rank < kind.rank for dependency in kind.depends_on), kind


def test_the_orphan_sweep_deletes_dependents_before_what_they_depend_on() -> None:
    order = teardown_order()
    position = {provider: index for index, provider in enumerate(order)}
    assert sorted(order, key=str) == sorted(providers(), key=str)
    for cloud in cloud_kinds():
        for dependency in cloud.kind.depends_on:
            upstream = next(c for c in cloud_kinds() if c.kind is dependency)
            assert max(position[p] for p in cloud.providers) < min(
                position[p] for p in upstream.providers
            ), (cloud.kind, dependency)
        # A kind's resources go in the reverse order of their making.
        made = [position[p] for p in cloud.providers]
        assert made == sorted(made, reverse=True)


def test_an_unknown_kind_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(
        ValueError, match=r"unknown resource kind 'queue' \(one of bucket, key, network"
    ):
        ResourceKind.named("queue")


def test_a_kind_cannot_be_declared_twice() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        ResourceKind.declare("vm")


def test_a_provider_table_gives_its_inputs_replacements_stable_and_secret_outputs() -> None:
    assert VpcProvider.inputs == ("cidr_block", "region", "tags")
    assert VpcProvider.replace_on == ("cidr_block", "region")
    assert VpcProvider.stable_outputs == ("vpc_id",)
    assert VpcProvider.id_output == "vpc_id"
    assert KeyPairProvider.secret_outputs == ("private_key",)
    assert KeyPairProvider.kept({"key_pair_id": "k", "private_key": "p", "tags": {}}) == {
        "key_pair_id": "k",
        "fingerprint": None,
        "public_key": None,
        "private_key": "p",
    }


def test_a_resource_is_refused_inputs_its_provider_table_does_not_name() -> None:
    with pytest.raises(TypeError, match=r"VpcProvider takes \['cidr_block', 'region', 'tags'\]"):
        AwsResource(VpcProvider(), "main", {"cidr_block": "10.0.0.0/16", "size": 3})
