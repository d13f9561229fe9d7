"""Addresses parse, print and sort the same way everywhere."""

from __future__ import annotations

import pytest

from provisioner.graph.kinds.software import software_address
from provisioner.graph.kinds.vm import vm_address
from provisioner.spec.addresses import Address
from provisioner.spec.kinds.key_pair import KEY_PAIR
from provisioner.spec.kinds.network import NETWORK
from provisioner.spec.kinds.security_group import SECURITY_GROUP
from provisioner.spec.kinds.subnet import SUBNET


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("network.main", Address(NETWORK, "main")),
        ("subnet.public-a", Address(SUBNET, "public-a")),
        ("sg.web", Address(SECURITY_GROUP, "web")),
        ("key.deploy", Address(KEY_PAIR, "deploy")),
        ("vm.web[1]", vm_address("web", 1)),
        ("software.web@vm.web[1]", software_address("web", vm_address("web", 1))),
    ],
)
def test_addresses_round_trip_through_text(text: str, expected: Address) -> None:
    assert Address.parse(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("vm.web", "carry an \\[index\\]"),
        ("network.main[0]", "carry an \\[index\\]"),
        ("software.web", "only software addresses carry '@host'"),
        ("vm.web[0]@vm.db[0]", "only software addresses carry '@host'"),
        ("queue.logs", "unknown resource kind 'queue'"),
        ("web", "is not an address"),
    ],
)
def test_malformed_addresses_are_rejected_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Address.parse(text)


def test_addresses_sort_by_kind_then_name_then_index() -> None:
    shuffled = [
        vm_address("web", 10),
        software_address("base", vm_address("db", 0)),
        vm_address("web", 2),
        Address(SUBNET, "a"),
        Address(NETWORK, "z"),
    ]
    assert [str(a) for a in sorted(shuffled)] == [
        "network.z",
        "subnet.a",
        "vm.web[2]",
        "vm.web[10]",
        "software.base@vm.db[0]",
    ]
