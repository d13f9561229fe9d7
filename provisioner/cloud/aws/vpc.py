"""VPC: a dynamic resource backed by boto3."""

from __future__ import annotations

from typing import Any

import pulumi
from botocore.exceptions import ClientError
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from provisioner.cloud.aws import clients, tags

_IMMUTABLE = ("cidr_block", "region")
_NOT_FOUND = {"InvalidVpcID.NotFound"}


class VpcProvider(ResourceProvider):
    """Create, read, diff, update and delete one VPC."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = clients.ec2(props["region"])
        vpc = ec2.create_vpc(
            CidrBlock=props["cidr_block"],
            TagSpecifications=[{"ResourceType": "vpc", "Tags": tags.to_aws(props["tags"])}],
        )["Vpc"]
        vpc_id = vpc["VpcId"]
        ec2.get_waiter("vpc_available").wait(VpcIds=[vpc_id])
        return CreateResult(id_=vpc_id, outs={**props, "vpc_id": vpc_id})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        ec2 = clients.ec2(props["region"])
        try:
            found = ec2.describe_vpcs(VpcIds=[id_])["Vpcs"]
        except ClientError as error:
            if error.response["Error"]["Code"] in _NOT_FOUND:
                return ReadResult(id_="", outs={})
            raise
        if not found:
            return ReadResult(id_="", outs={})
        vpc = found[0]
        return ReadResult(
            id_=id_,
            outs={
                **props,
                "vpc_id": id_,
                "cidr_block": vpc["CidrBlock"],
                "tags": tags.from_aws(vpc.get("Tags")),
            },
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in _IMMUTABLE if olds.get(key) != news.get(key)]
        changes = bool(replaces) or olds.get("tags") != news.get("tags")
        return DiffResult(changes=changes, replaces=replaces, delete_before_replace=False)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        tags.sync(clients.ec2(news["region"]), id_, olds.get("tags") or {}, news["tags"])
        return UpdateResult(outs={**news, "vpc_id": id_})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        try:
            clients.ec2(props["region"]).delete_vpc(VpcId=id_)
        except ClientError as error:
            if error.response["Error"]["Code"] not in _NOT_FOUND:
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
        super().__init__(
            VpcProvider(),
            name,
            {"cidr_block": cidr_block, "region": region, "tags": tags, "vpc_id": None},
            opts,
        )
