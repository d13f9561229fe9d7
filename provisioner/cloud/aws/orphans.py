"""Orphans: project-tagged cloud resources that the state does not know, removed.

A run killed between a cloud create and Pulumi's checkpoint leaves a resource
that exists, carries the environment's tags, and is in no state. The sweep
finds every resource tagged `provision:env=ENV` whose id the state lacks and
deletes it, dependents first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from provisioner.cloud.aws.base import until_dependencies_clear

ENV_TAG = "provision:env"


def sweep(ec2: Any, environment: str, known_ids: set[str]) -> list[str]:
    """Delete every resource of `environment` not in `known_ids`; returns what was deleted."""
    filters = [{"Name": f"tag:{ENV_TAG}", "Values": [environment]}]
    deleted: list[str] = []

    def unknown(items: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
        return [item for item in items if item[key] not in known_ids]

    instances = [
        i
        for r in ec2.describe_instances(Filters=filters)["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] not in ("terminated", "shutting-down")
        and i["InstanceId"] not in known_ids
    ]
    if instances:
        ids = [i["InstanceId"] for i in instances]
        ec2.terminate_instances(InstanceIds=ids)
        ec2.get_waiter("instance_terminated").wait(InstanceIds=ids)
        deleted += ids
    for table in unknown(ec2.describe_route_tables(Filters=filters)["RouteTables"], "RouteTableId"):
        for association in table.get("Associations", []):
            if not association.get("Main"):
                _quietly(
                    partial(
                        ec2.disassociate_route_table,
                        AssociationId=association["RouteTableAssociationId"],
                    )
                )
        _delete(partial(ec2.delete_route_table, RouteTableId=table["RouteTableId"]))
        deleted.append(table["RouteTableId"])
    for gateway in unknown(
        ec2.describe_internet_gateways(Filters=filters)["InternetGateways"], "InternetGatewayId"
    ):
        for attachment in gateway.get("Attachments", []):
            _quietly(
                partial(
                    ec2.detach_internet_gateway,
                    InternetGatewayId=gateway["InternetGatewayId"],
                    VpcId=attachment["VpcId"],
                )
            )
        _delete(
            partial(ec2.delete_internet_gateway, InternetGatewayId=gateway["InternetGatewayId"])
        )
        deleted.append(gateway["InternetGatewayId"])
    for subnet in unknown(ec2.describe_subnets(Filters=filters)["Subnets"], "SubnetId"):
        # Its association may sit in a route table that the state does know.
        associated = ec2.describe_route_tables(
            Filters=[{"Name": "association.subnet-id", "Values": [subnet["SubnetId"]]}]
        )["RouteTables"]
        for table in associated:
            for association in table.get("Associations", []):
                if association.get("SubnetId") == subnet["SubnetId"]:
                    _quietly(
                        partial(
                            ec2.disassociate_route_table,
                            AssociationId=association["RouteTableAssociationId"],
                        )
                    )
        _delete(partial(ec2.delete_subnet, SubnetId=subnet["SubnetId"]))
        deleted.append(subnet["SubnetId"])
    for group in unknown(
        ec2.describe_security_groups(Filters=filters)["SecurityGroups"], "GroupId"
    ):
        _delete(partial(ec2.delete_security_group, GroupId=group["GroupId"]))
        deleted.append(group["GroupId"])
    for pair in unknown(ec2.describe_key_pairs(Filters=filters)["KeyPairs"], "KeyPairId"):
        _delete(partial(ec2.delete_key_pair, KeyName=pair["KeyName"]))
        deleted.append(pair["KeyPairId"])
    for vpc in unknown(ec2.describe_vpcs(Filters=filters)["Vpcs"], "VpcId"):
        _delete(partial(ec2.delete_vpc, VpcId=vpc["VpcId"]))
        deleted.append(vpc["VpcId"])
    return deleted


def _delete(call: Callable[[], Any]) -> None:
    try:
        until_dependencies_clear(call)
    except ClientError as error:
        if not error.response["Error"]["Code"].endswith(".NotFound"):
            raise


def _quietly(call: Callable[[], Any]) -> None:
    # Already gone or detached: the delete that follows says what matters.
    with contextlib.suppress(ClientError):
        call()
