"""EC2 instance: a boto3 dynamic resource that waits until the instance runs."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pulumi
from botocore.exceptions import ClientError, WaiterError
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
)

_GONE_STATES = frozenset({"shutting-down", "terminated"})
# The spec's `timeouts.vm`, carried as an operational setting (not a managed property).
OP_TIMEOUT = "op_timeout"
DEFAULT_TIMEOUT = 900
_WAIT_DELAY = 2


class InstanceProvider(Ec2Provider):
    """One instance. Type, groups and tags change in place; the rest replaces it."""

    inputs = (
        "image_id",
        "instance_type",
        "subnet_id",
        "security_group_ids",
        "key_name",
        "user_data",
        "region",
        "tags",
    )
    replace_on = ("image_id", "subnet_id", "key_name", "user_data", "region")
    stable_outputs = ("instance_id",)
    not_found = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
    # Instances come inside reservations: `described` unpacks them.
    listing = Listing("describe_instances", "instance-id", "Reservations", "InstanceId")
    id_output = "instance_id"

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = self.ec2(props)
        request: dict[str, Any] = {
            "ImageId": props["image_id"],
            "InstanceType": props["instance_type"],
            "SubnetId": props["subnet_id"],
            "SecurityGroupIds": props["security_group_ids"],
            "UserData": props["user_data"],
            "MinCount": 1,
            "MaxCount": 1,
            "TagSpecifications": tag_spec("instance", props["tags"]),
        }
        if props.get("key_name"):
            request["KeyName"] = props["key_name"]
        [instance] = ec2.run_instances(**request)["Instances"]
        instance_id = instance["InstanceId"]
        with undo_on_failure(lambda: ec2.terminate_instances(InstanceIds=[instance_id])):
            _wait(ec2, "instance_running", instance_id, props)
            addresses = self._addresses(ec2, instance_id)
        return CreateResult(id_=instance_id, outs={**props, **addresses})

    @classmethod
    def described(cls, ec2: Any, ids: Sequence[str]) -> Iterator[Described]:
        for page in describe_pages(ec2, cls.listing.operation, cls.listing.id_filter, ids):
            for reservation in page.get(cls.listing.items, []):
                yield from reservation.get("Instances", [])

    @staticmethod
    def live(described: Described, recorded: Mapping[str, Any]) -> Outputs | None:
        """None for an instance that is terminated or going: it is gone for good."""
        if described["State"]["Name"] in _GONE_STATES:
            return None
        return {
            "instance_type": described["InstanceType"],
            "security_group_ids": sorted(g["GroupId"] for g in described.get("SecurityGroups", [])),
            "tags": tags.from_aws(described.get("Tags")),
            **_addresses_of(described),
        }

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        ec2 = self.ec2(news)
        if olds.get("instance_type") != news["instance_type"]:
            ec2.stop_instances(InstanceIds=[id_])
            _wait(ec2, "instance_stopped", id_, news)
            ec2.modify_instance_attribute(
                InstanceId=id_, InstanceType={"Value": news["instance_type"]}
            )
            ec2.start_instances(InstanceIds=[id_])
            _wait(ec2, "instance_running", id_, news)
        if sorted(olds.get("security_group_ids") or []) != sorted(news["security_group_ids"]):
            ec2.modify_instance_attribute(InstanceId=id_, Groups=news["security_group_ids"])
        self.sync_tags(ec2, id_, olds, news)
        return UpdateResult(outs={**news, **self._addresses(ec2, id_)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        ec2 = self.ec2(props)
        try:
            ec2.terminate_instances(InstanceIds=[id_])
        except ClientError as error:
            if self.gone(error):
                return
            raise
        _wait(ec2, "instance_terminated", id_, props)

    @staticmethod
    def _addresses(ec2: Any, instance_id: str) -> dict[str, Any]:
        [reservation] = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        return _addresses_of(reservation["Instances"][0])


def _wait(ec2: Any, state: str, instance_id: str, props: dict[str, Any]) -> None:
    """Wait for `state`, within the spec's timeout for VMs; fail with a clear message after it."""
    timeout = int(props.get(OP_TIMEOUT) or DEFAULT_TIMEOUT)
    delay = min(_WAIT_DELAY, timeout)
    try:
        ec2.get_waiter(state).wait(
            InstanceIds=[instance_id],
            WaiterConfig={"Delay": delay, "MaxAttempts": max(1, math.ceil(timeout / delay))},
        )
    except WaiterError as error:
        reason = "timed out" if "Max attempts" in str(error) else str(error)
        readable = state.removeprefix("instance_")
        raise RuntimeError(
            f"{instance_id} did not become {readable} within {timeout}s ({reason})"
        ) from None


def _addresses_of(instance: dict[str, Any]) -> dict[str, Any]:
    return {
        "instance_id": instance["InstanceId"],
        "private_ip": instance.get("PrivateIpAddress", ""),
        "public_ip": instance.get("PublicIpAddress", ""),
        "state": instance["State"]["Name"],
    }


class Instance(Resource):
    instance_id: pulumi.Output[str]
    private_ip: pulumi.Output[str]
    public_ip: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        image_id: str,
        instance_type: str,
        subnet_id: pulumi.Input[str],
        security_group_ids: pulumi.Input[list[str]],
        key_name: pulumi.Input[str] | None,
        user_data: pulumi.Input[str],
        region: str,
        tags: pulumi.Input[dict[str, str]],
        op_timeout: int = DEFAULT_TIMEOUT,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            OP_TIMEOUT: op_timeout,
            "image_id": image_id,
            "instance_type": instance_type,
            "subnet_id": subnet_id,
            "security_group_ids": security_group_ids,
            "key_name": key_name,
            "user_data": user_data,
            "region": region,
            "tags": tags,
            "instance_id": None,
            "private_ip": None,
            "public_ip": None,
            "state": None,
        }
        super().__init__(InstanceProvider(), name, props, opts)
