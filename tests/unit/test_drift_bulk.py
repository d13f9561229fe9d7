"""Drift read in bulk: the providers' mapping of described objects, batching, and the diff."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from provisioner.cloud.aws.ec2 import CHUNK, Ec2Provider
from provisioner.cloud.aws.instance import InstanceProvider
from provisioner.cloud.aws.key_pair import KeyPairProvider
from provisioner.cloud.aws.kind import providers
from provisioner.cloud.aws.live import provider_of
from provisioner.cloud.aws.security_group import SecurityGroupProvider
from provisioner.cloud.aws.subnet import SubnetProvider, associations_by_subnet
from provisioner.cloud.aws.vpc import InternetGatewayProvider, RouteTableProvider, VpcProvider
from provisioner.cloud.drift import detect_drift, drift_changes, property_drift
from provisioner.errors import CloudError
from provisioner.plan import Action, PropertyChange, ResourceChange
from provisioner.plan.model import SENSITIVE
from provisioner.spec.addresses import ResourceAddress

EC2_PROVIDERS = [p for p in providers() if issubclass(p, Ec2Provider)]

TAGS = [{"Key": "Name", "Value": "dev-x"}, {"Key": "provision:env", "Value": "dev"}]
LIVE_TAGS = {"Name": "dev-x", "provision:env": "dev"}
HTTP = {
    "cidr": "0.0.0.0/0",
    "description": "http",
    "from_port": 80,
    "protocol": "tcp",
    "to_port": 80,
}
FROM_SELF = {
    "description": "",
    "from_port": 22,
    "group_id": "self",
    "protocol": "tcp",
    "to_port": 22,
}
ALL_OUT = {"cidr": "0.0.0.0/0", "description": "", "protocol": "all"}
SECRET = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "x"}


def permission(protocol: str, port: int | None, **peer: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"IpProtocol": protocol}
    if port is not None:
        found.update(FromPort=port, ToPort=port)
    return {**found, **peer}


@pytest.mark.parametrize(
    ("provider", "described", "recorded", "live"),
    [
        (
            VpcProvider,
            {"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16", "Tags": TAGS},
            {},
            {"cidr_block": "10.0.0.0/16", "tags": LIVE_TAGS, "vpc_id": "vpc-1"},
        ),
        (
            InternetGatewayProvider,
            {"InternetGatewayId": "igw-1", "Attachments": [{"VpcId": "vpc-1"}], "Tags": TAGS},
            {},
            {"vpc_id": "vpc-1", "tags": LIVE_TAGS, "gateway_id": "igw-1"},
        ),
        (  # detached out of band
            InternetGatewayProvider,
            {"InternetGatewayId": "igw-1", "Attachments": []},
            {},
            {"vpc_id": "", "tags": {}, "gateway_id": "igw-1"},
        ),
        (
            RouteTableProvider,
            {
                "RouteTableId": "rtb-1",
                "Routes": [
                    {"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"},
                    {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-1"},
                ],
                "Tags": TAGS,
            },
            {},
            {"gateway_id": "igw-1", "tags": LIVE_TAGS, "route_table_id": "rtb-1"},
        ),
        (  # its default route deleted out of band
            RouteTableProvider,
            {"RouteTableId": "rtb-1", "Routes": []},
            {},
            {"gateway_id": "", "tags": {}, "route_table_id": "rtb-1"},
        ),
        (
            SubnetProvider,
            {
                "SubnetId": "subnet-1",
                "CidrBlock": "10.0.1.0/24",
                "AvailabilityZone": "us-east-1a",
                "MapPublicIpOnLaunch": True,
                "Tags": TAGS,
            },
            {},
            {
                "cidr_block": "10.0.1.0/24",
                "availability_zone": "us-east-1a",
                "public": True,
                "tags": LIVE_TAGS,
                "subnet_id": "subnet-1",
            },
        ),
        (  # rules keep their recorded order and form; an extra one comes last
            SecurityGroupProvider,
            {
                "GroupId": "sg-1",
                "IpPermissions": [
                    permission("tcp", 22, UserIdGroupPairs=[{"GroupId": "sg-1"}]),
                    permission("tcp", 3306, IpRanges=[{"CidrIp": "0.0.0.0/0"}]),
                    permission(
                        "tcp", 80, IpRanges=[{"CidrIp": "0.0.0.0/0", "Description": "http"}]
                    ),
                ],
                "IpPermissionsEgress": [permission("-1", None, IpRanges=[{"CidrIp": "0.0.0.0/0"}])],
                "Tags": TAGS,
            },
            {"ingress": [HTTP, FROM_SELF], "egress": [ALL_OUT]},
            {
                "ingress": [
                    HTTP,
                    FROM_SELF,
                    {
                        "protocol": "tcp",
                        "from_port": 3306,
                        "to_port": 3306,
                        "cidr": "0.0.0.0/0",
                        "group_id": None,
                        "description": "",
                    },
                ],
                "egress": [ALL_OUT],
                "tags": LIVE_TAGS,
                "group_id": "sg-1",
            },
        ),
        (
            InstanceProvider,
            {
                "InstanceId": "i-1",
                "InstanceType": "t3.small",
                "SecurityGroups": [{"GroupId": "sg-2"}, {"GroupId": "sg-1"}],
                "PrivateIpAddress": "10.0.1.4",
                "State": {"Name": "running"},
                "Tags": TAGS,
            },
            {},
            {
                "instance_type": "t3.small",
                "security_group_ids": ["sg-1", "sg-2"],
                "tags": LIVE_TAGS,
                "instance_id": "i-1",
                "private_ip": "10.0.1.4",
                "public_ip": "",
                "state": "running",
            },
        ),
        (  # terminated out of band: gone
            InstanceProvider,
            {"InstanceId": "i-1", "InstanceType": "t3.small", "State": {"Name": "terminated"}},
            {},
            None,
        ),
        (
            KeyPairProvider,
            {"KeyPairId": "key-1", "KeyName": "dev-deploy", "Tags": TAGS},
            {},
            {"key_name": "dev-deploy", "tags": LIVE_TAGS},
        ),
    ],
)
def test_each_provider_maps_a_described_object_to_its_live_outputs(
    provider: type[Ec2Provider],
    described: dict[str, Any],
    recorded: dict[str, Any],
    live: dict[str, Any] | None,
) -> None:
    assert provider.live(described, recorded) == live


@pytest.mark.parametrize(
    ("tables", "expected"),
    [
        ([], {}),
        (  # the main association names no subnet
            [{"RouteTableId": "rtb-1", "Associations": [{"Main": True}]}],
            {},
        ),
        (
            [
                {
                    "RouteTableId": "rtb-1",
                    "Associations": [
                        {"SubnetId": "subnet-1", "RouteTableAssociationId": "a-1"},
                        {"SubnetId": "subnet-2", "RouteTableAssociationId": "a-2"},
                    ],
                },
                {
                    "RouteTableId": "rtb-2",
                    "Associations": [{"SubnetId": "subnet-1", "RouteTableAssociationId": "a-3"}],
                },
            ],
            {"subnet-1": ("rtb-1", "a-1"), "subnet-2": ("rtb-1", "a-2")},
        ),
    ],
)
def test_a_subnet_takes_the_first_route_table_association_that_names_it(
    tables: list[dict[str, Any]], expected: dict[str, tuple[str, str]]
) -> None:
    assert associations_by_subnet(tables) == expected


@pytest.mark.parametrize(
    ("resource_id", "outputs", "provider"),
    [
        ("vpc-1", {"vpc_id": "vpc-1", "cidr_block": "10.0.0.0/16"}, VpcProvider),
        ("igw-1", {"gateway_id": "igw-1", "vpc_id": "vpc-1"}, InternetGatewayProvider),
        ("rtb-1", {"route_table_id": "rtb-1", "gateway_id": "igw-1"}, RouteTableProvider),
        ("subnet-1", {"subnet_id": "subnet-1", "route_table_id": "rtb-1"}, SubnetProvider),
        ("sg-1", {"group_id": "sg-1", "vpc_id": "vpc-1"}, SecurityGroupProvider),
        ("key-1", {"key_pair_id": "key-1", "key_name": "dev-deploy"}, KeyPairProvider),
        ("i-1", {"instance_id": "i-1", "subnet_id": "subnet-1"}, InstanceProvider),
        ("x-1", {"vpc_id": "vpc-1"}, None),
        ("", {"vpc_id": ""}, None),
    ],
)
def test_a_recorded_resource_is_read_by_the_provider_whose_id_output_holds_its_id(
    resource_id: str, outputs: dict[str, Any], provider: type[Ec2Provider] | None
) -> None:
    assert provider_of(resource_id, outputs) is provider


def test_every_provider_has_its_own_listing_and_id_output() -> None:
    assert len({p.id_output for p in EC2_PROVIDERS}) == len(EC2_PROVIDERS)
    assert len({p.listing.operation for p in EC2_PROVIDERS}) == len(EC2_PROVIDERS)


LISTINGS = {p.listing.operation: p.listing for p in EC2_PROVIDERS}


class FakeEc2:
    """Answers describe calls from fixed objects, filtered by id, and records each request."""

    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.objects = objects
        self.requests: list[tuple[str, str, list[str]]] = []

    def can_paginate(self, operation: str) -> bool:
        return operation != "describe_key_pairs"

    def get_paginator(self, operation: str) -> Any:
        fake = self

        class Paginator:
            def paginate(self, **request: Any) -> Iterator[dict[str, Any]]:
                yield fake.answer(operation, request)

        return Paginator()

    def __getattr__(self, operation: str) -> Any:
        return lambda **request: self.answer(operation, request)

    def answer(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        [only] = request["Filters"]
        self.requests.append((operation, only["Name"], only["Values"]))
        listing = LISTINGS[operation]
        if only["Name"] == "association.subnet-id":
            items = [
                table
                for table in self.objects[operation]
                if any(a.get("SubnetId") in only["Values"] for a in table["Associations"])
            ]
        else:
            items = [o for o in self.objects[operation] if o[listing.id_field] in only["Values"]]
        if operation == "describe_instances":
            return {"Reservations": [{"Instances": items}]}
        return {listing.items: items}


def instance(number: int, state: str = "running") -> dict[str, Any]:
    return {"InstanceId": f"i-{number}", "InstanceType": "t3.micro", "State": {"Name": state}}


def test_read_many_asks_once_per_chunk_of_ids_and_leaves_out_what_is_gone() -> None:
    count = 2 * CHUNK + 50
    described = [instance(n) for n in range(count - 2)] + [instance(count - 2, "terminated")]
    ec2 = FakeEc2({"describe_instances": described})
    recorded = {f"i-{n}": {} for n in range(count)}  # the last one is not even listed

    live = InstanceProvider.read_many(ec2, recorded)

    assert sorted(live) == sorted(f"i-{n}" for n in range(count - 2))
    assert [len(values) for _, _, values in ec2.requests] == [CHUNK, CHUNK, 50]
    assert {(operation, name) for operation, name, _ in ec2.requests} == {
        ("describe_instances", "instance-id")
    }


def test_subnets_and_their_associations_take_one_describe_each() -> None:
    subnets = [
        {"SubnetId": f"subnet-{n}", "CidrBlock": f"10.0.{n}.0/24", "AvailabilityZone": "a"}
        for n in range(3)
    ]
    table = {
        "RouteTableId": "rtb-1",
        "Associations": [{"SubnetId": "subnet-0", "RouteTableAssociationId": "a-0"}],
    }
    ec2 = FakeEc2({"describe_subnets": subnets, "describe_route_tables": [table]})

    live = SubnetProvider.read_many(ec2, {f"subnet-{n}": {} for n in range(4)})

    assert [(op, name) for op, name, _ in ec2.requests] == [
        ("describe_subnets", "subnet-id"),
        ("describe_route_tables", "association.subnet-id"),
    ]
    assert sorted(live) == ["subnet-0", "subnet-1", "subnet-2"]
    assert (live["subnet-0"]["route_table_id"], live["subnet-0"]["association_id"]) == (
        "rtb-1",
        "a-0",
    )
    assert (live["subnet-1"]["route_table_id"], live["subnet-1"]["association_id"]) == (None, None)


def test_a_single_read_goes_through_the_bulk_reader() -> None:
    ec2 = FakeEc2({"describe_vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.9.0.0/16"}]})
    provider = VpcProvider()
    provider.client = lambda _props: ec2  # type: ignore[method-assign]
    recorded = {"cidr_block": "10.0.0.0/16", "region": "r", "tags": {"a": "b"}, "vpc_id": "vpc-1"}

    read = provider.read("vpc-1", recorded)
    gone = provider.read("vpc-2", recorded)

    assert (read.id, read.outs) == (
        "vpc-1",
        {"cidr_block": "10.9.0.0/16", "region": "r", "tags": {}, "vpc_id": "vpc-1"},
    )
    assert gone.id == ""


INPUTS = {"__provider": SECRET, "cidr_block": "10.0.0.0/16", "region": "r", "tags": {"a": "1"}}


@pytest.mark.parametrize(
    ("inputs", "recorded", "live", "expected"),
    [
        ({"tags": {"a": "1"}}, {"tags": {"a": "1"}}, {"tags": {"a": "1"}}, ()),
        (
            {"tags": {"a": "1"}},
            {"tags": {"a": "1"}},
            {"tags": {"a": "2"}},
            (PropertyChange("tags", {"a": "1"}, {"a": "2"}),),
        ),
        (  # what the read does not return keeps its recorded value
            {"cidr_block": "10.0.0.0/16", "region": "r"},
            {"cidr_block": "10.0.0.0/16", "region": "r"},
            {"cidr_block": "10.1.0.0/16"},
            (PropertyChange("cidr_block", "10.0.0.0/16", "10.1.0.0/16"),),
        ),
        (  # outputs that are no inputs, Pulumi's own inputs and operational ones never count
            {"__provider": SECRET, "op_timeout": 900, "instance_type": "t3.micro"},
            {"__provider": SECRET, "op_timeout": 900, "instance_type": "t3.micro"},
            {"__provider": "other", "op_timeout": 60, "private_ip": "10.0.0.9"},
            (),
        ),
        (  # an unset input (a private subnet's route table) is not managed
            {"route_table_id": None},
            {"route_table_id": None, "association_id": None},
            {"route_table_id": "rtb-1", "association_id": "a-1"},
            (),
        ),
        (  # a value recorded as a secret is encrypted: it cannot be compared
            {"password": SECRET},
            {"password": SECRET},
            {"password": "plain"},
            (),
        ),
        (  # sensitive values never show, even when they drift
            {"private_key": "a", "user_data": "k"},
            {"private_key": "a", "user_data": "k"},
            {"private_key": "b", "user_data": "-----BEGIN OPENSSH PRIVATE KEY-----"},
            (
                PropertyChange("private_key", SENSITIVE, SENSITIVE),
                PropertyChange("user_data", "k", SENSITIVE),
            ),
        ),
        (  # sorted by property
            {"tags": {}, "cidr_block": "a"},
            {"tags": {}, "cidr_block": "a"},
            {"tags": {"x": "y"}, "cidr_block": "b"},
            (PropertyChange("cidr_block", "a", "b"), PropertyChange("tags", {}, {"x": "y"})),
        ),
    ],
)
def test_only_managed_properties_that_differ_from_the_recorded_outputs_drift(
    inputs: dict[str, Any],
    recorded: dict[str, Any],
    live: dict[str, Any],
    expected: tuple[PropertyChange, ...],
) -> None:
    assert property_drift(inputs, recorded, live) == expected


def state(address: str, resource_id: str, outputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:dev::provision::pulumi-python:dynamic:Resource::{address}",
        "type": "pulumi-python:dynamic:Resource",
        "id": resource_id,
        "inputs": {k: v for k, v in {**INPUTS, **outputs}.items() if not k.endswith("_id")},
        "outputs": {**INPUTS, **outputs},
    }


STACK = {
    "urn": "urn:pulumi:dev::provision::pulumi:pulumi:Stack::provision-dev",
    "type": "pulumi:pulumi:Stack",
}
PROVIDER = {
    "urn": "urn:pulumi:dev::provision::pulumi:providers:pulumi-python::default",
    "type": "pulumi:providers:pulumi-python",
    "id": "0a1b",
}


def test_drift_is_an_update_per_drifted_resource_and_a_delete_per_gone_one_by_address() -> None:
    vm = state("vm.web[0]", "i-1", {"instance_id": "i-1"})
    network = state("network.main", "vpc-1", {"vpc_id": "vpc-1"})
    subnet = state("subnet.a", "subnet-1", {"subnet_id": "subnet-1"})
    resources = {s["urn"]: s for s in (vm, network, subnet)}
    live = {network["urn"]: {"tags": {"a": "2"}}, subnet["urn"]: {"tags": {"a": "1"}}}

    assert drift_changes(resources, live) == [
        ResourceChange(
            ResourceAddress.parse("network.main"),
            Action.UPDATE,
            (PropertyChange("tags", {"a": "1"}, {"a": "2"}),),
        ),
        ResourceChange(ResourceAddress.parse("vm.web[0]"), Action.DELETE),
    ]


def test_detect_drift_reads_each_type_once_per_region_and_skips_the_stack_and_providers() -> None:
    clients = {
        "r": FakeEc2(
            {
                "describe_vpcs": [{"VpcId": "vpc-1", "CidrBlock": "10.0.0.0/16", "Tags": []}],
                "describe_instances": [],
            }
        ),
        "elsewhere": FakeEc2({"describe_vpcs": []}),
    }
    states = [
        STACK,
        PROVIDER,
        state("network.main", "vpc-1", {"vpc_id": "vpc-1"}),
        state("vm.web[0]", "i-1", {"instance_id": "i-1"}),
        state("vm.web[1]", "i-2", {"instance_id": "i-2"}),
        state("network.far", "vpc-9", {"vpc_id": "vpc-9", "region": "elsewhere"}),
    ]

    plan = detect_drift("dev", states, lambda _service, region: clients[region], "r")

    assert [(str(c.address), c.action) for c in plan.changes] == [
        ("network.far", Action.DELETE),
        ("network.main", Action.UPDATE),
        ("vm.web[0]", Action.DELETE),
        ("vm.web[1]", Action.DELETE),
    ]
    assert plan.changes[1].diff == (PropertyChange("tags", {"a": "1"}, {}),)
    assert [op for op, _, _ in clients["r"].requests] == ["describe_vpcs", "describe_instances"]
    assert [op for op, _, _ in clients["elsewhere"].requests] == ["describe_vpcs"]


def test_a_resource_no_provider_of_ours_recorded_is_an_error_not_silence() -> None:
    foreign = {**state("thing.x", "x-1", {}), "outputs": {"other_id": "x-1"}}
    with pytest.raises(CloudError, match=r"thing\.x \(x-1\)"):
        detect_drift("dev", [foreign], lambda _region: FakeEc2({}), "r")


def test_a_cloud_that_refuses_the_read_is_a_cloud_error() -> None:
    class Refusing(FakeEc2):
        def answer(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
            error = {"Error": {"Code": "AuthFailure", "Message": "not you"}}
            raise ClientError(error, operation)

    with pytest.raises(CloudError, match=r"reading the live cloud failed: .*AuthFailure"):
        detect_drift(
            "dev",
            [state("network.main", "vpc-1", {"vpc_id": "vpc-1"})],
            lambda _service, _region: Refusing({}),
            "r",
        )
