"""A VPC bridge's own MAC address: fixed, so hosts coming and going never change the gateway's."""

from __future__ import annotations

from provisioner.local.netns import bridge_address


def test_a_bridge_address_is_fixed_by_its_names_locally_administered_and_unicast() -> None:
    address = bridge_address("p1-vpc-abc", "br-subnet-1")
    assert address == bridge_address("p1-vpc-abc", "br-subnet-1")
    assert address != bridge_address("p1-vpc-abc", "br-subnet-2")
    assert address != bridge_address("p2-vpc-abc", "br-subnet-1")
    octets = [int(part, 16) for part in address.split(":")]
    assert len(octets) == 6
    assert octets[0] & 0b10 and not octets[0] & 0b01  # locally administered, unicast
