"""Managed interfaces draw their addresses from the subnet's allocator, as instances do.

moto's in-process EC2 backend, as the daemon drives it (no server, no network).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from provisioner.local.interfaces import ec2_backends, ensure_interface, remove_interfaces

OWNER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/1"
SUBNET_CIDR = "10.30.1.0/28"  # .0-.3 reserved by AWS, .15 broadcast: eleven addresses
USABLE = {str(a) for a in list(ipaddress.IPv4Network(SUBNET_CIDR).hosts())[3:]}


@pytest.fixture
def cloud() -> Iterator[tuple[Any, Any, str]]:
    """An EC2 client and backend with one VPC and one small subnet in it."""
    with mock_aws():
        client = boto3.client("ec2", region_name="us-east-1")
        vpc = client.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
        subnet = client.create_subnet(VpcId=vpc, CidrBlock=SUBNET_CIDR)["Subnet"]["SubnetId"]
        [backend] = list(ec2_backends())
        yield client, backend, subnet


def launch(client: Any, subnet: str, count: int) -> list[str]:
    answer = client.run_instances(
        ImageId="ami-12c6146b", MinCount=count, MaxCount=count, SubnetId=subnet
    )
    return [instance["PrivateIpAddress"] for instance in answer["Instances"]]


def test_no_instance_is_given_a_managed_interfaces_address(cloud: tuple[Any, Any, str]) -> None:
    client, backend, subnet = cloud
    interface = ensure_interface(
        backend, owner=OWNER, namespace="ns", subnet_id=subnet, group_ids=[], description="lb"
    )
    instances = launch(client, subnet, len(USABLE) - 1)
    assert interface.address not in instances
    assert {interface.address, *instances} == USABLE  # every address once, none reserved


def test_a_removed_interfaces_address_goes_back_to_the_subnet(
    cloud: tuple[Any, Any, str],
) -> None:
    client, backend, subnet = cloud
    interface = ensure_interface(
        backend, owner=OWNER, namespace="ns", subnet_id=subnet, group_ids=[], description="lb"
    )
    instances = launch(client, subnet, len(USABLE) - 1)
    remove_interfaces(backend, OWNER)
    assert launch(client, subnet, 1) == [interface.address]
    assert interface.address not in instances


def test_an_interface_in_a_subnet_deleted_before_it_is_removed_all_the_same(
    cloud: tuple[Any, Any, str],
) -> None:
    client, backend, subnet = cloud
    ensure_interface(
        backend, owner=OWNER, namespace="ns", subnet_id=subnet, group_ids=[], description="lb"
    )
    client.delete_subnet(SubnetId=subnet)  # moto allows it; AWS would refuse
    remove_interfaces(backend, OWNER)
    assert client.describe_network_interfaces()["NetworkInterfaces"] == []
