"""Subnet, with its public-IP setting and route-table association: a boto3 dynamic resource."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from pulumi.dynamic import CreateResult, UpdateResult

from provisioner.cloud.aws import clients, tags
from provisioner.cloud.aws.base import Described, Outputs, Prop, prop_table, undo_on_failure
from provisioner.cloud.aws.ec2 import Ec2Provider, Listing, describe_pages
from provisioner.cloud.aws.exactly_once import create_exactly_once, settle
from provisioner.cloud.aws.kind import CloudKind
from provisioner.cloud.aws.vpc import disassociate
from provisioner.spec.kinds.subnet import SUBNET

# What a re-sent associate meets on AWS when its first attempt landed (moto answers
# the same association id again).
_ALREADY_ASSOCIATED = frozenset({"Resource.AlreadyAssociated"})


class SubnetProvider(Ec2Provider):
    """A subnet; public ones map public IPs on launch and use the VPC's internet route table."""

    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("vpc_id", "cidr_block", "availability_zone", "region"),
        inputs=("public", "route_table_id", "tags"),
        id_output="subnet_id",
        outputs=("association_id",),
    )
    not_found = frozenset({"InvalidSubnetID.NotFound"})
    listing = Listing("describe_subnets", "subnet-id", "Subnets", "SubnetId")
    resource_type = "subnet"
    # A re-send of a create that landed finds its CIDR taken by the subnet it made.
    create_landed = frozenset({"InvalidSubnet.Conflict"})

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = self.client(props)
        subnet_id = self.create_once(
            props,
            lambda once, request: str(
                once.create_subnet(
                    VpcId=props["vpc_id"],
                    CidrBlock=props["cidr_block"],
                    AvailabilityZone=props["availability_zone"],
                    **request,
                )["Subnet"]["SubnetId"]
            ),
            self.id_of,
        )
        association: str | None = None
        with undo_on_failure(
            lambda: self.remove(ec2, subnet_id, {**props, "association_id": association})
        ):
            settle(lambda: ec2.get_waiter("subnet_available").wait(SubnetIds=[subnet_id]))
            if props["public"]:
                settle(
                    lambda: ec2.modify_subnet_attribute(
                        SubnetId=subnet_id, MapPublicIpOnLaunch={"Value": True}
                    )
                )
            association = self._associate(props, subnet_id, props.get("route_table_id"))
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
        ec2 = self.client(news)
        if bool(olds.get("public")) != bool(news["public"]):
            settle(
                lambda: ec2.modify_subnet_attribute(
                    SubnetId=id_, MapPublicIpOnLaunch={"Value": news["public"]}
                )
            )
        association = olds.get("association_id")
        if olds.get("route_table_id") != news.get("route_table_id"):
            if association:
                disassociate(ec2, association)
            association = self._associate(news, id_, news.get("route_table_id"))
        self.sync_tags(ec2, id_, olds, news)
        return UpdateResult(outs={**news, **self.kept(olds), "association_id": association})

    @classmethod
    def remove(cls, ec2: Any, id_: str, props: Mapping[str, Any]) -> None:
        """Disassociate its route table (the recorded association), then delete it."""
        if props.get("association_id"):
            disassociate(ec2, props["association_id"])
        cls.delete_once(ec2, id_, lambda: ec2.delete_subnet(SubnetId=id_))

    @classmethod
    def remove_orphan(cls, client: Any, described: Described) -> None:
        """Its association may sit in a route table that the state does know."""
        subnet_id = cls.id_of(described)
        association = association_of(client, subnet_id, None)
        cls.remove(client, subnet_id, {"association_id": association})

    def _associate(
        self, props: Mapping[str, Any], subnet_id: str, table_id: str | None
    ) -> str | None:
        """Associate the subnet with `table_id`, exactly once: the association is its answer.

        Before a re-send, the subnet's association with that table is looked up and
        adopted if an earlier attempt made it.
        """
        if not table_id:
            return None
        ec2, once = self.client(props), clients.client_once(self.service, props["region"])
        return create_exactly_once(
            lambda: str(
                once.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id)[
                    "AssociationId"
                ]
            ),
            lambda: association_of(ec2, subnet_id, table_id),
            landed=_ALREADY_ASSOCIATED,
        )


def association_of(ec2: Any, subnet_id: str, table_id: str | None) -> str | None:
    """The id of the association of `subnet_id` with `table_id` (None: with any table)."""
    pages = describe_pages(ec2, "describe_route_tables", "association.subnet-id", [subnet_id])
    tables = [table for page in pages for table in page.get("RouteTables", [])]
    found = associations_by_subnet(tables).get(subnet_id)
    return found[1] if found is not None and table_id in (None, found[0]) else None


def associations_by_subnet(tables: Iterable[Described]) -> dict[str, tuple[str, str]]:
    """Each associated subnet's (route table id, association id): its first association."""
    found: dict[str, tuple[str, str]] = {}
    for table in tables:
        for association in table.get("Associations", []):
            subnet_id = association.get("SubnetId")
            if subnet_id and subnet_id not in found:
                found[subnet_id] = (table["RouteTableId"], association["RouteTableAssociationId"])
    return found


SUBNET_CLOUD = CloudKind(SUBNET, (SubnetProvider,), {"id": "subnet_id", "cidr": "cidr_block"})
