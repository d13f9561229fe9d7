"""VPC, internet gateway and route table: dynamic resources backed by boto3."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import pulumi
from botocore.exceptions import ClientError
from pulumi.dynamic import CreateResult, Resource, UpdateResult

from provisioner.cloud.aws import tags
from provisioner.cloud.aws.base import (
    Described,
    Ec2Provider,
    Listing,
    Outputs,
    tag_spec,
    undo_on_failure,
    until_dependencies_clear,
)


class VpcProvider(Ec2Provider):
    """One VPC; its CIDR and region are immutable."""

    inputs = ("cidr_block", "region", "tags")
    replace_on = ("cidr_block", "region")
    stable_outputs = ("vpc_id",)
    not_found = frozenset({"InvalidVpcID.NotFound"})
    listing = Listing("describe_vpcs", "vpc-id", "Vpcs", "VpcId")
    id_output = "vpc_id"

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = self.ec2(props)
        vpc_id = ec2.create_vpc(
            CidrBlock=props["cidr_block"], TagSpecifications=tag_spec("vpc", props["tags"])
        )["Vpc"]["VpcId"]
        with undo_on_failure(lambda: ec2.delete_vpc(VpcId=vpc_id)):
            ec2.get_waiter("vpc_available").wait(VpcIds=[vpc_id])
        return CreateResult(id_=vpc_id, outs={**props, "vpc_id": vpc_id})

    @staticmethod
    def live(described: Described, recorded: Mapping[str, Any]) -> Outputs:
        return {
            "cidr_block": described["CidrBlock"],
            "tags": tags.from_aws(described.get("Tags")),
            "vpc_id": described["VpcId"],
        }

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self.sync_tags(self.ec2(news), id_, olds, news)
        return UpdateResult(outs={**news, "vpc_id": id_})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            until_dependencies_clear(lambda: self.ec2(props).delete_vpc(VpcId=id_))
        except ClientError as error:
            if not self.gone(error):
                raise


class Vpc(Resource):
    """A VPC with a CIDR block and tags."""

    vpc_id: pulumi.Output[str]
    cidr_block: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        cidr_block: pulumi.Input[str],
        region: str,
        tags: pulumi.Input[dict[str, str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"cidr_block": cidr_block, "region": region, "tags": tags, "vpc_id": None}
        super().__init__(VpcProvider(), name, props, opts)


class InternetGatewayProvider(Ec2Provider):
    """An internet gateway attached to one VPC."""

    inputs = ("vpc_id", "region", "tags")
    replace_on = ("vpc_id", "region")
    stable_outputs = ("gateway_id",)
    not_found = frozenset({"InvalidInternetGatewayID.NotFound"})
    listing = Listing(
        "describe_internet_gateways", "internet-gateway-id", "InternetGateways", "InternetGatewayId"
    )
    id_output = "gateway_id"

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = self.ec2(props)
        igw_id = ec2.create_internet_gateway(
            TagSpecifications=tag_spec("internet-gateway", props["tags"])
        )["InternetGateway"]["InternetGatewayId"]
        with undo_on_failure(lambda: ec2.delete_internet_gateway(InternetGatewayId=igw_id)):
            ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=props["vpc_id"])
        return CreateResult(id_=igw_id, outs={**props, "gateway_id": igw_id})

    @staticmethod
    def live(described: Described, recorded: Mapping[str, Any]) -> Outputs:
        attached = [a["VpcId"] for a in described.get("Attachments", [])]
        return {
            "vpc_id": attached[0] if attached else "",
            "tags": tags.from_aws(described.get("Tags")),
            "gateway_id": described["InternetGatewayId"],
        }

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self.sync_tags(self.ec2(news), id_, olds, news)
        return UpdateResult(outs={**news, "gateway_id": id_})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ec2 = self.ec2(props)
        try:
            until_dependencies_clear(
                lambda: ec2.detach_internet_gateway(InternetGatewayId=id_, VpcId=props["vpc_id"])
            )
        except ClientError as error:
            if not self.gone(error) and error.response["Error"]["Code"] != "Gateway.NotAttached":
                raise
        try:
            ec2.delete_internet_gateway(InternetGatewayId=id_)
        except ClientError as error:
            if not self.gone(error):
                raise


class InternetGateway(Resource):
    gateway_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        vpc_id: pulumi.Input[str],
        region: str,
        tags: pulumi.Input[dict[str, str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"vpc_id": vpc_id, "region": region, "tags": tags, "gateway_id": None}
        super().__init__(InternetGatewayProvider(), name, props, opts)


class RouteTableProvider(Ec2Provider):
    """A route table whose default route leads to an internet gateway."""

    inputs = ("vpc_id", "gateway_id", "region", "tags")
    replace_on = ("vpc_id", "region")
    stable_outputs = ("route_table_id",)
    not_found = frozenset({"InvalidRouteTableID.NotFound"})
    listing = Listing("describe_route_tables", "route-table-id", "RouteTables", "RouteTableId")
    id_output = "route_table_id"

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = self.ec2(props)
        table_id = ec2.create_route_table(
            VpcId=props["vpc_id"], TagSpecifications=tag_spec("route-table", props["tags"])
        )["RouteTable"]["RouteTableId"]
        with undo_on_failure(lambda: ec2.delete_route_table(RouteTableId=table_id)):
            ec2.create_route(
                RouteTableId=table_id,
                DestinationCidrBlock="0.0.0.0/0",
                GatewayId=props["gateway_id"],
            )
        return CreateResult(id_=table_id, outs={**props, "route_table_id": table_id})

    @staticmethod
    def live(described: Described, recorded: Mapping[str, Any]) -> Outputs:
        default = [
            r for r in described.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"
        ]
        return {
            "gateway_id": default[0].get("GatewayId", "") if default else "",
            "tags": tags.from_aws(described.get("Tags")),
            "route_table_id": described["RouteTableId"],
        }

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        ec2 = self.ec2(news)
        if olds.get("gateway_id") != news["gateway_id"]:
            route = {"RouteTableId": id_, "DestinationCidrBlock": "0.0.0.0/0"}
            if olds.get("gateway_id"):
                ec2.replace_route(**route, GatewayId=news["gateway_id"])
            else:
                ec2.create_route(**route, GatewayId=news["gateway_id"])
        self.sync_tags(ec2, id_, olds, news)
        return UpdateResult(outs={**news, "route_table_id": id_})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ec2 = self.ec2(props)
        try:
            [table] = ec2.describe_route_tables(RouteTableIds=[id_])["RouteTables"]
        except ClientError as error:
            if self.gone(error):
                return
            raise
        # Associations left by subnets that went away outside this stack would block it.
        for association in table.get("Associations", []):
            if not association.get("Main"):
                with contextlib.suppress(ClientError):
                    ec2.disassociate_route_table(
                        AssociationId=association["RouteTableAssociationId"]
                    )
        try:
            until_dependencies_clear(lambda: ec2.delete_route_table(RouteTableId=id_))
        except ClientError as error:
            if not self.gone(error):
                raise


class RouteTable(Resource):
    route_table_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        vpc_id: pulumi.Input[str],
        gateway_id: pulumi.Input[str],
        region: str,
        tags: pulumi.Input[dict[str, str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "vpc_id": vpc_id,
            "gateway_id": gateway_id,
            "region": region,
            "tags": tags,
            "route_table_id": None,
        }
        super().__init__(RouteTableProvider(), name, props, opts)
