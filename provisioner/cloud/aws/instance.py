"""EC2 instance: a boto3 dynamic resource that waits until the instance runs."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pulumi.dynamic import CreateResult, UpdateResult

from provisioner.cloud.aws import tags
from provisioner.cloud.aws.base import Described, Outputs, Prop, prop_table, undo_on_failure
from provisioner.cloud.aws.ec2 import Ec2Provider, Listing
from provisioner.cloud.aws.exactly_once import Clock, Sleep, delete_confirmed, settle
from provisioner.cloud.aws.kind import CloudKind
from provisioner.spec.kinds.vm import VM

_GONE_STATES = frozenset({"shutting-down", "terminated"})
# The spec's `timeouts.vm`, carried as an operational setting (not a managed property).
OP_TIMEOUT = "op_timeout"
DEFAULT_TIMEOUT = 900
_WAIT_DELAY = 2.0


@dataclass(frozen=True)
class WaitTarget:
    """A state an instance is waited into, and the states from which it will not get there."""

    state: str
    hopeless: frozenset[str]
    # True if an instance that is no longer listed has got there (terminated ones vanish).
    reached_when_unlisted: bool = False


# As botocore's waiters decide, but read with a filtered describe: an id so new that
# the API does not know it yet is simply not listed yet, instead of failing the wait.
RUNNING = WaitTarget("running", frozenset({"shutting-down", "terminated", "stopping"}))
STOPPED = WaitTarget("stopped", frozenset({"pending", "terminated"}))
TERMINATED = WaitTarget(
    "terminated", frozenset({"pending", "stopping"}), reached_when_unlisted=True
)


class InstanceProvider(Ec2Provider):
    """One instance. Type, groups and tags change in place; the rest replaces it."""

    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("image_id", "subnet_id", "key_name", "user_data", "region"),
        inputs=("instance_type", "security_group_ids", "tags"),
        settings=(OP_TIMEOUT,),
        id_output="instance_id",
        outputs=("private_ip", "public_ip", "state"),
    )
    not_found = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"})
    # Instances come inside reservations: `items_of` unpacks them.
    listing = Listing("describe_instances", "instance-id", "Reservations", "InstanceId")
    resource_type = "instance"
    # AWS honours RunInstances' ClientToken (moto does not: the lookup by tag covers it).
    takes_client_token = True

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = self.client(props)
        request: dict[str, Any] = {
            "ImageId": props["image_id"],
            "InstanceType": props["instance_type"],
            "SubnetId": props["subnet_id"],
            "SecurityGroupIds": props["security_group_ids"],
            "UserData": props["user_data"],
            "MinCount": 1,
            "MaxCount": 1,
        }
        if props.get("key_name"):
            request["KeyName"] = props["key_name"]
        instance_id = self.create_once(
            props,
            lambda once, marked: str(
                once.run_instances(**request, **marked)["Instances"][0]["InstanceId"]
            ),
            self.id_of,
        )
        with undo_on_failure(lambda: self.remove(ec2, instance_id, props)):
            wait_for_state(ec2, RUNNING, instance_id, props)
            addresses = self._addresses(ec2, instance_id)
        return CreateResult(id_=instance_id, outs={**props, **addresses})

    @classmethod
    def items_of(cls, page: Mapping[str, Any]) -> list[Described]:
        return [
            instance
            for reservation in page.get(cls.listing.items, [])
            for instance in reservation.get("Instances", [])
        ]

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
        ec2 = self.client(news)
        if olds.get("instance_type") != news["instance_type"]:
            settle(lambda: ec2.stop_instances(InstanceIds=[id_]))
            wait_for_state(ec2, STOPPED, id_, news)
            settle(
                lambda: ec2.modify_instance_attribute(
                    InstanceId=id_, InstanceType={"Value": news["instance_type"]}
                )
            )
            settle(lambda: ec2.start_instances(InstanceIds=[id_]))
            wait_for_state(ec2, RUNNING, id_, news)
        if sorted(olds.get("security_group_ids") or []) != sorted(news["security_group_ids"]):
            settle(
                lambda: ec2.modify_instance_attribute(
                    InstanceId=id_, Groups=news["security_group_ids"]
                )
            )
        self.sync_tags(ec2, id_, olds, news)
        return UpdateResult(outs={**news, **self._addresses(ec2, id_)})

    @classmethod
    def remove(cls, ec2: Any, id_: str, props: Mapping[str, Any]) -> None:
        cls.remove_all(ec2, [id_], props)

    @classmethod
    def remove_orphans(cls, client: Any, orphans: Sequence[Described]) -> None:
        """All with one terminate call."""
        cls.remove_all(client, [cls.id_of(described) for described in orphans], {})

    @classmethod
    def remove_all(cls, ec2: Any, ids: Sequence[str], props: Mapping[str, Any]) -> None:
        """Terminate the instances (one call) and wait until each is terminated.

        Terminating twice is harmless; a NotFound is believed once none is listed live.
        """
        if not ids:
            return
        delete_confirmed(
            lambda: ec2.terminate_instances(InstanceIds=list(ids)),
            lambda: any(cls.still_there(ec2, id_) for id_ in ids),
            cls.not_found,
        )
        for id_ in ids:
            wait_for_state(ec2, TERMINATED, id_, props)

    @classmethod
    def _addresses(cls, ec2: Any, instance_id: str) -> dict[str, Any]:
        for instance in cls.described(ec2, [instance_id]):
            return _addresses_of(instance)
        raise RuntimeError(f"{instance_id} is no longer listed")


def wait_for_state(
    ec2: Any,
    target: WaitTarget,
    instance_id: str,
    props: Mapping[str, Any],
    *,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> None:
    """Wait for `target`, within the spec's timeout for VMs; fail with a clear message after it."""
    timeout = float(props.get(OP_TIMEOUT) or DEFAULT_TIMEOUT)
    deadline = clock() + timeout
    while True:
        states = [i["State"]["Name"] for i in InstanceProvider.described(ec2, [instance_id])]
        if target.state in states or (not states and target.reached_when_unlisted):
            return
        hopeless = [state for state in states if state in target.hopeless]
        if hopeless:
            raise RuntimeError(f"{instance_id} did not become {target.state}: it is {hopeless[0]}")
        left = deadline - clock()
        if left <= 0:
            raise RuntimeError(
                f"{instance_id} did not become {target.state} within {timeout:g}s (timed out)"
            )
        sleep(min(_WAIT_DELAY, left))


def _addresses_of(instance: dict[str, Any]) -> dict[str, Any]:
    return {
        "instance_id": instance["InstanceId"],
        "private_ip": instance.get("PrivateIpAddress", ""),
        "public_ip": instance.get("PublicIpAddress", ""),
        "state": instance["State"]["Name"],
    }


VM_CLOUD = CloudKind(
    VM,
    (InstanceProvider,),
    {"id": "instance_id", "private_ip": "private_ip", "public_ip": "public_ip"},
)
