"""VPC, internet gateway and route table: dynamic resources backed by boto3."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pulumi.dynamic import CreateResult, UpdateResult

from provisioner.cloud.aws import tags
from provisioner.cloud.aws.base import (
    Described,
    Outputs,
    Prop,
    prop_table,
    undo_on_failure,
    until_dependencies_clear,
)
from provisioner.cloud.aws.ec2 import Ec2Provider, Listing, describe_pages
from provisioner.cloud.aws.exactly_once import already_done, delete_confirmed, settle
from provisioner.cloud.aws.kind import CloudKind
from provisioner.spec.kinds.network import NETWORK


class VpcProvider(Ec2Provider):
    """One VPC; its CIDR and region are immutable."""

    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("cidr_block", "region"), inputs=("tags",), id_output="vpc_id"
    )
    not_found = frozenset({"InvalidVpcID.NotFound"})
    listing = Listing("describe_vpcs", "vpc-id", "Vpcs", "VpcId")
    resource_type = "vpc"

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = self.client(props)
        vpc_id = self.create_once(
            props,
            lambda once, request: str(
                once.create_vpc(CidrBlock=props["cidr_block"], **request)["Vpc"]["VpcId"]
            ),
            self.id_of,
        )
        with undo_on_failure(lambda: self.remove(ec2, vpc_id, props)):
            settle(lambda: ec2.get_waiter("vpc_available").wait(VpcIds=[vpc_id]))
        return CreateResult(id_=vpc_id, outs={**props, "vpc_id": vpc_id})

    @staticmethod
    def live(described: Described, recorded: Mapping[str, Any]) -> Outputs:
        return {
            "cidr_block": described["CidrBlock"],
            "tags": tags.from_aws(described.get("Tags")),
            "vpc_id": described["VpcId"],
        }

    @classmethod
    def remove(cls, ec2: Any, id_: str, props: Mapping[str, Any]) -> None:
        cls.delete_once(ec2, id_, lambda: ec2.delete_vpc(VpcId=id_))


class InternetGatewayProvider(Ec2Provider):
    """An internet gateway attached to one VPC."""

    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("vpc_id", "region"), inputs=("tags",), id_output="gateway_id"
    )
    not_found = frozenset({"InvalidInternetGatewayID.NotFound"})
    listing = Listing(
        "describe_internet_gateways", "internet-gateway-id", "InternetGateways", "InternetGatewayId"
    )
    resource_type = "internet-gateway"

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = self.client(props)
        igw_id = self.create_once(
            props,
            lambda once, request: str(
                once.create_internet_gateway(**request)["InternetGateway"]["InternetGatewayId"]
            ),
            self.id_of,
        )
        with undo_on_failure(lambda: self.remove(ec2, igw_id, props)):
            vpc_id = props["vpc_id"]
            settle(
                lambda: already_done(
                    lambda: ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id),
                    {"Resource.AlreadyAssociated"},
                    lambda: vpc_id in self.attached_to(ec2, igw_id),
                )
            )
        return CreateResult(id_=igw_id, outs={**props, "gateway_id": igw_id})

    @classmethod
    def attached_to(cls, ec2: Any, igw_id: str) -> list[str]:
        """The VPCs a gateway is attached to (a filtered describe: none if it is not listed)."""
        return [
            attachment["VpcId"]
            for gateway in cls.described(ec2, [igw_id])
            for attachment in gateway.get("Attachments", [])
        ]

    @staticmethod
    def live(described: Described, recorded: Mapping[str, Any]) -> Outputs:
        attached = [a["VpcId"] for a in described.get("Attachments", [])]
        return {
            "vpc_id": attached[0] if attached else "",
            "tags": tags.from_aws(described.get("Tags")),
            "gateway_id": described["InternetGatewayId"],
        }

    @classmethod
    def remove(cls, ec2: Any, id_: str, props: Mapping[str, Any]) -> None:
        """Detach (from the recorded VPC, or whichever it is attached to), then delete."""
        vpcs = [props["vpc_id"]] if props.get("vpc_id") else cls.attached_to(ec2, id_)
        for vpc_id in vpcs:
            cls._detach(ec2, id_, vpc_id)
        cls.delete_once(ec2, id_, lambda: ec2.delete_internet_gateway(InternetGatewayId=id_))

    @classmethod
    def _detach(cls, ec2: Any, igw_id: str, vpc_id: str) -> None:
        """Detach from `vpc_id`; "not attached" is believed once the gateway lists no such one."""
        delete_confirmed(
            lambda: until_dependencies_clear(
                lambda: ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
            ),
            lambda: vpc_id in cls.attached_to(ec2, igw_id),
            cls.not_found | {"Gateway.NotAttached", "InvalidVpcID.NotFound"},
        )


class RouteTableProvider(Ec2Provider):
    """A route table whose default route leads to an internet gateway."""

    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("vpc_id", "region"), inputs=("gateway_id", "tags"), id_output="route_table_id"
    )
    not_found = frozenset({"InvalidRouteTableID.NotFound"})
    listing = Listing("describe_route_tables", "route-table-id", "RouteTables", "RouteTableId")
    resource_type = "route-table"
    takes_client_token = True

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = self.client(props)
        table_id = self.create_once(
            props,
            lambda once, request: str(
                once.create_route_table(VpcId=props["vpc_id"], **request)["RouteTable"][
                    "RouteTableId"
                ]
            ),
            self.id_of,
        )
        with undo_on_failure(lambda: self.remove(ec2, table_id, props)):
            self._default_route(ec2, table_id, props["gateway_id"])
        return CreateResult(id_=table_id, outs={**props, "route_table_id": table_id})

    @classmethod
    def _default_route(cls, ec2: Any, table_id: str, gateway_id: str) -> None:
        """Route 0.0.0.0/0 to the gateway; one that already leads there is what we wanted."""
        settle(
            lambda: already_done(
                lambda: ec2.create_route(
                    RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway_id
                ),
                {"RouteAlreadyExists"},
                lambda: cls._default_target(ec2, table_id) == gateway_id,
            )
        )

    @classmethod
    def _default_target(cls, ec2: Any, table_id: str) -> str | None:
        for table in cls.described(ec2, [table_id]):
            return str(cls.live(table, {})["gateway_id"])
        return None

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
        ec2 = self.client(news)
        if olds.get("gateway_id") != news["gateway_id"]:
            if olds.get("gateway_id"):
                settle(
                    lambda: ec2.replace_route(
                        RouteTableId=id_,
                        DestinationCidrBlock="0.0.0.0/0",
                        GatewayId=news["gateway_id"],
                    )
                )
            else:
                self._default_route(ec2, id_, news["gateway_id"])
        self.sync_tags(ec2, id_, olds, news)
        return UpdateResult(outs={**news, **self.kept(olds)})

    @classmethod
    def remove(cls, ec2: Any, id_: str, props: Mapping[str, Any]) -> None:
        # Associations left by subnets that went away outside this stack would block it.
        for table in cls.described(ec2, [id_]):
            for association in table.get("Associations", []):
                if not association.get("Main"):
                    disassociate(ec2, association["RouteTableAssociationId"])
        cls.delete_once(ec2, id_, lambda: ec2.delete_route_table(RouteTableId=id_))


def disassociate(ec2: Any, association_id: str) -> None:
    """Remove a route-table association; a NotFound is believed once no table lists it."""
    delete_confirmed(
        lambda: ec2.disassociate_route_table(AssociationId=association_id),
        lambda: association_id in _association_ids(ec2, association_id),
        {"InvalidAssociationID.NotFound"},
    )


def _association_ids(ec2: Any, association_id: str) -> set[str]:
    pages = describe_pages(
        ec2, "describe_route_tables", "association.route-table-association-id", [association_id]
    )
    return {
        association["RouteTableAssociationId"]
        for page in pages
        for table in page.get("RouteTables", [])
        for association in table.get("Associations", [])
    }


NETWORK_CLOUD = CloudKind(
    NETWORK,
    (VpcProvider, InternetGatewayProvider, RouteTableProvider),
    {"id": "vpc_id", "cidr": "cidr_block"},
)
