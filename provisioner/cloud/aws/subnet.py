"""Subnet, with its public-IP setting and route-table association: a boto3 dynamic resource."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
    describe_pages,
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
    listing = Listing("describe_subnets", "subnet-id", "Subnets", "SubnetId")
    id_output = "subnet_id"

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

    @classmethod
    def read_many(cls, ec2: Any, recorded: Mapping[str, Mapping[str, Any]]) -> dict[str, Outputs]:
        """The subnets' own attributes, then their route-table associations, all in one go."""
        found = super().read_many(ec2, recorded)
        pages = describe_pages(ec2, "describe_route_tables", "association.subnet-id", list(found))
        tables = [table for page in pages for table in page.get("RouteTables", [])]
        associations = associations_by_subnet(tables)
        for subnet_id, live in found.items():
            table_id, association = associations.get(subnet_id, (None, None))
            live.update(route_table_id=table_id, association_id=association)
        return found

    @staticmethod
    def live(described: Described, recorded: Mapping[str, Any]) -> Outputs:
        """A subnet's own attributes; its association is read with the route tables."""
        return {
            "cidr_block": described["CidrBlock"],
            "availability_zone": described["AvailabilityZone"],
            "public": bool(described.get("MapPublicIpOnLaunch")),
            "tags": tags.from_aws(described.get("Tags")),
            "subnet_id": described["SubnetId"],
        }

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


def associations_by_subnet(tables: Iterable[Described]) -> dict[str, tuple[str, str]]:
    """Each associated subnet's (route table id, association id): its first association."""
    found: dict[str, tuple[str, str]] = {}
    for table in tables:
        for association in table.get("Associations", []):
            subnet_id = association.get("SubnetId")
            if subnet_id and subnet_id not in found:
                found[subnet_id] = (table["RouteTableId"], association["RouteTableAssociationId"])
    return found


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
