"""Subnet, with its public-IP setting and route-table association: a boto3 dynamic resource."""

from __future__ import annotations

from typing import Any

import pulumi
from botocore.exceptions import ClientError
from pulumi.dynamic import CreateResult, ReadResult, Resource, UpdateResult

from provisioner.cloud.aws import tags
from provisioner.cloud.aws.base import (
    Ec2Provider,
    tag_spec,
    undo_on_failure,
    until_dependencies_clear,
)


class SubnetProvider(Ec2Provider):
    """A subnet; public ones map public IPs on launch and use the VPC's internet route table."""

    inputs = (
        "vpc_id",
        "cidr_block",
        "availability_zone",
        "public",
        "route_table_id",
        "region",
        "tags",
    )
    replace_on = ("vpc_id", "cidr_block", "availability_zone", "region")
    stable_outputs = ("subnet_id",)
    not_found = frozenset({"InvalidSubnetID.NotFound"})

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = self.ec2(props)
        subnet_id = ec2.create_subnet(
            VpcId=props["vpc_id"],
            CidrBlock=props["cidr_block"],
            AvailabilityZone=props["availability_zone"],
            TagSpecifications=tag_spec("subnet", props["tags"]),
        )["Subnet"]["SubnetId"]
        with undo_on_failure(lambda: ec2.delete_subnet(SubnetId=subnet_id)):
            ec2.get_waiter("subnet_available").wait(SubnetIds=[subnet_id])
            if props["public"]:
                ec2.modify_subnet_attribute(SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True})
            association = self._associate(ec2, subnet_id, props.get("route_table_id"))
        return CreateResult(
            id_=subnet_id, outs={**props, "subnet_id": subnet_id, "association_id": association}
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        ec2 = self.ec2(props)
        try:
            [subnet] = ec2.describe_subnets(SubnetIds=[id_])["Subnets"]
        except ClientError as error:
            if self.gone(error):
                return self.missing()
            raise
        tables = ec2.describe_route_tables(
            Filters=[{"Name": "association.subnet-id", "Values": [id_]}]
        )["RouteTables"]
        associations = [
            (table["RouteTableId"], assoc["RouteTableAssociationId"])
            for table in tables
            for assoc in table.get("Associations", [])
            if assoc.get("SubnetId") == id_
        ]
        table_id, association = associations[0] if associations else (None, None)
        live = {
            "cidr_block": subnet["CidrBlock"],
            "availability_zone": subnet["AvailabilityZone"],
            "public": bool(subnet.get("MapPublicIpOnLaunch")),
            "route_table_id": table_id,
            "association_id": association,
            "tags": tags.from_aws(subnet.get("Tags")),
        }
        return ReadResult(id_=id_, outs={**props, **live, "subnet_id": id_})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        ec2 = self.ec2(news)
        if bool(olds.get("public")) != bool(news["public"]):
            ec2.modify_subnet_attribute(SubnetId=id_, MapPublicIpOnLaunch={"Value": news["public"]})
        association = olds.get("association_id")
        if olds.get("route_table_id") != news.get("route_table_id"):
            if association:
                ec2.disassociate_route_table(AssociationId=association)
            association = self._associate(ec2, id_, news.get("route_table_id"))
        self.sync_tags(ec2, id_, olds, news)
        return UpdateResult(outs={**news, "subnet_id": id_, "association_id": association})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ec2 = self.ec2(props)
        try:
            if props.get("association_id"):
                ec2.disassociate_route_table(AssociationId=props["association_id"])
        except ClientError as error:
            if error.response["Error"]["Code"] != "InvalidAssociationID.NotFound":
                raise
        try:
            until_dependencies_clear(lambda: ec2.delete_subnet(SubnetId=id_))
        except ClientError as error:
            if not self.gone(error):
                raise

    @staticmethod
    def _associate(ec2: Any, subnet_id: str, table_id: str | None) -> str | None:
        if not table_id:
            return None
        response = ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)
        return str(response["AssociationId"])


class Subnet(Resource):
    subnet_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        vpc_id: pulumi.Input[str],
        cidr_block: str,
        availability_zone: str,
        public: bool,
        route_table_id: pulumi.Input[str] | None,
        region: str,
        tags: pulumi.Input[dict[str, str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "vpc_id": vpc_id,
            "cidr_block": cidr_block,
            "availability_zone": availability_zone,
            "public": public,
            "route_table_id": route_table_id,
            "region": region,
            "tags": tags,
            "subnet_id": None,
            "association_id": None,
        }
        super().__init__(SubnetProvider(), name, props, opts)
