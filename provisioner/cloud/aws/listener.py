"""A load balancer's parts: its listeners, and the instances registered in its target group.

A listener is its load balancer's port (AWS refuses a second listener on one
port: `DuplicateListener`), so a create whose answer was lost is found among the
load balancer's listeners by its port and its create token. Its port, protocol
and target group change in place (ModifyListener): an out-of-band port change is
drift, and the next `up` puts it back.

A registration is one instance in one target group (`TGARN/INSTANCE`):
RegisterTargets and DeregisterTargets are idempotent, so a repeat is harmless.
Registrations take no tags; the orphan sweep finds them in the environment's
target groups.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from botocore.exceptions import ClientError
from pulumi.dynamic import CreateResult, UpdateResult

from provisioner.cloud.aws import clients, tags
from provisioner.cloud.aws.base import AwsProvider, Described, Outputs, Prop, prop_table
from provisioner.cloud.aws.elbv2 import SERVICE, listed, of_environment, sync_tags, tag_sets
from provisioner.cloud.aws.exactly_once import (
    create_exactly_once,
    creation_token,
    current_run_id,
    delete_confirmed,
    error_code,
    settle,
)

_NO_BALANCER = "LoadBalancerNotFound"
_NO_TARGET_GROUP = "TargetGroupNotFound"
# A target being deregistered is "draining"; one that is not registered is "unused" with
# this reason (an "unused" target may be registered: in a zone the load balancer lacks).
_DRAINING = "draining"
_NOT_REGISTERED = "Target.NotRegistered"


def _forward(target_group_arn: str) -> list[dict[str, Any]]:
    return [{"Type": "forward", "TargetGroupArn": target_group_arn}]


def _forwarded_to(listener: Described) -> str | None:
    """The target group a listener's default action forwards to."""
    for action in listener.get("DefaultActions") or []:
        if action.get("Type") != "forward":
            continue
        if action.get("TargetGroupArn"):
            return str(action["TargetGroupArn"])
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        if groups:
            return str(groups[0]["TargetGroupArn"])
    return None


def listeners_of(client: Any, load_balancer_arn: str) -> list[Described]:
    """The load balancer's listeners; none if it is gone."""
    try:
        return list(
            listed(client, "describe_listeners", "Listeners", LoadBalancerArn=load_balancer_arn)
        )
    except ClientError as error:
        if error_code(error) == _NO_BALANCER:
            return []
        raise


class ListenerProvider(AwsProvider):
    """A port of a load balancer, forwarding to its target group."""

    service = SERVICE
    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("load_balancer_arn", "region"),
        inputs=("port", "protocol", "target_group_arn", "tags"),
        id_output="listener_arn",
    )
    not_found = frozenset({"ListenerNotFound", _NO_BALANCER})

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self.client(props)
        balancer, port = props["load_balancer_arn"], int(props["port"])
        token = creation_token(props["tags"], current_run_id())
        marked = tags.to_aws({**props["tags"], tags.TOKEN_TAG: token})
        once = clients.client_once(self.service, props["region"])

        def send() -> str:
            answer = once.create_listener(
                LoadBalancerArn=balancer,
                Protocol=props["protocol"],
                Port=port,
                DefaultActions=_forward(props["target_group_arn"]),
                Tags=marked,
            )
            return str(answer["Listeners"][0]["ListenerArn"])

        def find() -> str | None:
            on_port = [
                str(li["ListenerArn"])
                for li in listeners_of(client, balancer)
                if li["Port"] == port
            ]
            sets = tag_sets(client, on_port)
            return next(
                (arn for arn in on_port if tags.value_of(sets.get(arn), tags.TOKEN_TAG) == token),
                None,
            )

        # A re-send after a lost answer meets DuplicateListener on AWS: the lookup adopts it.
        arn = create_exactly_once(send, find, landed={"DuplicateListener"})
        return CreateResult(id_=arn, outs={**props, "listener_arn": arn})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = self.client(news)
        if any(olds.get(key) != news[key] for key in ("port", "protocol", "target_group_arn")):
            settle(
                lambda: client.modify_listener(
                    ListenerArn=id_,
                    Port=int(news["port"]),
                    Protocol=news["protocol"],
                    DefaultActions=_forward(news["target_group_arn"]),
                )
            )
        sync_tags(client, id_, olds.get("tags") or {}, news.get("tags") or {})
        return UpdateResult(outs={**news, **self.kept(olds)})

    @classmethod
    def read_many(
        cls, client: Any, recorded: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Outputs]:
        """One listing per load balancer, and the listeners' tags 20 a call."""
        found: dict[str, Described] = {}
        for balancer in sorted({str(r.get("load_balancer_arn")) for r in recorded.values()}):
            found |= {
                str(li["ListenerArn"]): li
                for li in listeners_of(client, balancer)
                if li["ListenerArn"] in recorded
            }
        return {
            arn: {
                "load_balancer_arn": found[arn]["LoadBalancerArn"],
                "port": found[arn]["Port"],
                "protocol": found[arn]["Protocol"],
                "target_group_arn": _forwarded_to(found[arn]),
                "tags": tags.from_aws(tag_set),
                "listener_arn": arn,
            }
            for arn, tag_set in tag_sets(client, found).items()
        }

    @classmethod
    def remove(cls, client: Any, id_: str, props: Mapping[str, Any]) -> None:
        delete_confirmed(
            lambda: client.delete_listener(ListenerArn=id_),
            lambda: cls._still_there(client, id_),
            cls.not_found,
        )

    @classmethod
    def _still_there(cls, client: Any, arn: str) -> bool:
        try:
            return bool(client.describe_listeners(ListenerArns=[arn])["Listeners"])
        except ClientError as error:
            if error_code(error) in cls.not_found:
                return False
            raise

    @classmethod
    def orphans(cls, client: Any, environment: str, known_ids: set[str]) -> list[Described]:
        """The listeners of the environment's load balancers that the state does not know."""
        balancers = listed(client, "describe_load_balancers", "LoadBalancers")
        return [
            listener
            for balancer in of_environment(client, balancers, "LoadBalancerArn", environment)
            for listener in listeners_of(client, balancer["LoadBalancerArn"])
            if listener["ListenerArn"] not in known_ids
        ]

    @classmethod
    def id_of(cls, described: Described) -> str:
        return str(described["ListenerArn"])


def registration_id(target_group_arn: str, instance_id: str) -> str:
    """`TGARN/i-123`: one instance registered in one target group."""
    return f"{target_group_arn}/{instance_id}"


def registered(client: Any, target_group_arn: str) -> list[Described]:
    """The targets registered in the group (`Id`, `Port`); none if the group is gone."""
    try:
        described = client.describe_target_health(TargetGroupArn=target_group_arn)
    except ClientError as error:
        if error_code(error) == _NO_TARGET_GROUP:
            return []
        raise
    found = []
    for health in described.get("TargetHealthDescriptions", []):
        state = health.get("TargetHealth") or {}
        if state.get("State") != _DRAINING and state.get("Reason") != _NOT_REGISTERED:
            found.append({**health["Target"], "TargetGroupArn": target_group_arn})
    return found


class TargetProvider(AwsProvider):
    """One instance registered in a target group, at the group's port."""

    service = SERVICE
    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("target_group_arn", "instance_id", "port", "region"),
        id_output="registration_id",
    )
    not_found = frozenset({_NO_TARGET_GROUP})

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self.client(props)
        target = {"Id": props["instance_id"], "Port": int(props["port"])}
        group = props["target_group_arn"]
        settle(lambda: client.register_targets(TargetGroupArn=group, Targets=[target]))
        id_ = registration_id(group, props["instance_id"])
        return CreateResult(id_=id_, outs={**props, "registration_id": id_})

    @classmethod
    def read_many(
        cls, client: Any, recorded: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Outputs]:
        """One DescribeTargetHealth per target group."""
        found: dict[str, Outputs] = {}
        for group in sorted({id_.rpartition("/")[0] for id_ in recorded}):
            for target in registered(client, group):
                id_ = registration_id(group, target["Id"])
                if id_ in recorded:
                    found[id_] = {
                        "target_group_arn": group,
                        "instance_id": target["Id"],
                        "port": target.get("Port"),
                        "registration_id": id_,
                    }
        return found

    @classmethod
    def remove(cls, client: Any, id_: str, props: Mapping[str, Any]) -> None:
        """Deregister (an instance already gone from the group is an `InvalidTarget`)."""
        group, _, instance = id_.rpartition("/")
        target: dict[str, Any] = {"Id": instance}
        if props.get("port"):
            target["Port"] = int(props["port"])
        delete_confirmed(
            lambda: client.deregister_targets(TargetGroupArn=group, Targets=[target]),
            lambda: any(t["Id"] == instance for t in registered(client, group)),
            {"InvalidTarget", _NO_TARGET_GROUP},
        )

    @classmethod
    def orphans(cls, client: Any, environment: str, known_ids: set[str]) -> list[Described]:
        """The registrations in the environment's target groups that the state does not know."""
        groups = listed(client, "describe_target_groups", "TargetGroups")
        return [
            target
            for group in of_environment(client, groups, "TargetGroupArn", environment)
            for target in registered(client, group["TargetGroupArn"])
            if cls.id_of(target) not in known_ids
        ]

    @classmethod
    def remove_orphan(cls, client: Any, described: Described) -> None:
        cls.remove(client, cls.id_of(described), {"port": described.get("Port")})

    @classmethod
    def id_of(cls, described: Described) -> str:
        return registration_id(described["TargetGroupArn"], described["Id"])
