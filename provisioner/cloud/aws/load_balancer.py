"""ELBv2 application load balancer and its target group: boto3 dynamic resources.

Both are created by name, exactly once (elbv2.py `NamedElbProvider.create_named`). The load
balancer's subnets and security groups change in place (SetSubnets,
SetSecurityGroups); its scheme replaces it. The target group's health check
changes in place; its port, protocol and VPC replace it, under a new name (the
graph derives the name from them), so a listener always has one to forward to.
The listeners and the registered targets are the kind's parts (listener.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pulumi.dynamic import CreateResult, DiffResult, UpdateResult

from provisioner.cloud.aws import tags
from provisioner.cloud.aws.base import (
    Described,
    Outputs,
    Prop,
    prop_table,
    until_dependencies_clear,
)
from provisioner.cloud.aws.elbv2 import NamedElbProvider, sync_tags
from provisioner.cloud.aws.exactly_once import delete_confirmed, settle
from provisioner.cloud.aws.kind import CloudKind
from provisioner.cloud.aws.listener import ListenerProvider, TargetProvider
from provisioner.spec.kinds.load_balancer import LB

# The health check as the spec gives it, and as ELBv2 names each setting.
_HEALTH_CHECK = {
    "path": "HealthCheckPath",
    "interval": "HealthCheckIntervalSeconds",
    "timeout": "HealthCheckTimeoutSeconds",
    "healthy_threshold": "HealthyThresholdCount",
    "unhealthy_threshold": "UnhealthyThresholdCount",
}


class LoadBalancerProvider(NamedElbProvider):
    """An application load balancer in its subnets, behind its security groups."""

    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("lb_name", "internal", "region"),
        inputs=("subnet_ids", "security_group_ids", "tags"),
        id_output="load_balancer_arn",
        stable=("dns_name",),
    )
    not_found = frozenset({"LoadBalancerNotFound"})
    # The name is the environment's and the node's: a replacement keeps it.
    delete_before_replace = True
    noun = "load balancer"
    operation = "describe_load_balancers"
    items = "LoadBalancers"
    arn_key = "LoadBalancerArn"
    create_operation = "create_load_balancer"
    duplicate_name = "DuplicateLoadBalancerName"

    def create(self, props: dict[str, Any]) -> CreateResult:
        request: dict[str, Any] = {
            "Name": props["lb_name"],
            "Subnets": list(props["subnet_ids"]),
            "Scheme": "internal" if props["internal"] else "internet-facing",
            "Type": "application",
            "IpAddressType": "ipv4",
        }
        if props["security_group_ids"]:
            request["SecurityGroups"] = list(props["security_group_ids"])
        described = self.create_named(props, request)
        arn = str(described["LoadBalancerArn"])
        outs = {
            **props,
            "load_balancer_arn": arn,
            "dns_name": described["DNSName"],
        }
        return CreateResult(id_=arn, outs=outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = self.client(news)
        if sorted(olds.get("subnet_ids") or []) != sorted(news["subnet_ids"]):
            settle(lambda: client.set_subnets(LoadBalancerArn=id_, Subnets=news["subnet_ids"]))
        if sorted(olds.get("security_group_ids") or []) != sorted(news["security_group_ids"]):
            groups = list(news["security_group_ids"])
            settle(lambda: client.set_security_groups(LoadBalancerArn=id_, SecurityGroups=groups))
        sync_tags(client, id_, olds.get("tags") or {}, news.get("tags") or {})
        return UpdateResult(outs={**news, **self.kept(olds)})

    @classmethod
    def live(cls, described: Described, tag_set: list[dict[str, Any]]) -> Outputs:
        zones = described.get("AvailabilityZones") or []
        return {
            "lb_name": described["LoadBalancerName"],
            "internal": described.get("Scheme") == "internal",
            "subnet_ids": sorted(str(zone["SubnetId"]) for zone in zones),
            "security_group_ids": sorted(described.get("SecurityGroups") or []),
            "tags": tags.from_aws(tag_set),
            "load_balancer_arn": described["LoadBalancerArn"],
            "dns_name": described.get("DNSName"),
        }

    @classmethod
    def remove(cls, client: Any, id_: str, props: Mapping[str, Any]) -> None:
        """Deleting one that is gone succeeds; it is done once no listing shows it."""
        delete_confirmed(
            lambda: client.delete_load_balancer(LoadBalancerArn=id_),
            lambda: cls.still_there(client, id_),
            cls.not_found,
        )


class TargetGroupProvider(NamedElbProvider):
    """The instances a load balancer forwards to, and how their health is checked."""

    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("target_group_name", "port", "protocol", "vpc_id", "region"),
        inputs=("health_check", "tags"),
        id_output="target_group_arn",
    )
    not_found = frozenset({"TargetGroupNotFound"})
    noun = "target group"
    operation = "describe_target_groups"
    items = "TargetGroups"
    arn_key = "TargetGroupArn"
    create_operation = "create_target_group"
    duplicate_name = "DuplicateTargetGroupName"

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = super().diff(id_, olds, news)
        # Two target groups cannot share a name (a new VPC keeps it).
        same_name = olds.get("target_group_name") == news.get("target_group_name")
        result.delete_before_replace = same_name
        return result

    def create(self, props: dict[str, Any]) -> CreateResult:
        request = {
            "Name": props["target_group_name"],
            "Protocol": props["protocol"],
            "Port": int(props["port"]),
            "VpcId": props["vpc_id"],
            "TargetType": "instance",
            "HealthCheckProtocol": props["protocol"],
            **_health_check_request(props["health_check"]),
        }
        described = self.create_named(props, request)
        arn = str(described["TargetGroupArn"])
        return CreateResult(id_=arn, outs={**props, "target_group_arn": arn})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client = self.client(news)
        if olds.get("health_check") != news["health_check"]:
            check = _health_check_request(news["health_check"])
            settle(lambda: client.modify_target_group(TargetGroupArn=id_, **check))
        sync_tags(client, id_, olds.get("tags") or {}, news.get("tags") or {})
        return UpdateResult(outs={**news, **self.kept(olds)})

    @classmethod
    def live(cls, described: Described, tag_set: list[dict[str, Any]]) -> Outputs:
        return {
            "target_group_name": described["TargetGroupName"],
            "port": described.get("Port"),
            "protocol": described.get("Protocol"),
            "vpc_id": described.get("VpcId"),
            "health_check": {key: described.get(name) for key, name in _HEALTH_CHECK.items()},
            "tags": tags.from_aws(tag_set),
            "target_group_arn": described["TargetGroupArn"],
        }

    @classmethod
    def remove(cls, client: Any, id_: str, props: Mapping[str, Any]) -> None:
        """Waits while a listener still forwards to it (one being deleted)."""
        delete_confirmed(
            lambda: until_dependencies_clear(
                lambda: client.delete_target_group(TargetGroupArn=id_)
            ),
            lambda: cls.still_there(client, id_),
            cls.not_found,
        )


def _health_check_request(health_check: Mapping[str, Any]) -> dict[str, Any]:
    """The settings as ELBv2 takes them (numbers come back from the engine as floats)."""
    return {
        name: health_check[key] if key == "path" else int(health_check[key])
        for key, name in _HEALTH_CHECK.items()
    }


# The load balancer first, then its parts: made after it, deleted before it.
LOAD_BALANCER_CLOUD = CloudKind(
    LB,
    (LoadBalancerProvider, TargetGroupProvider, ListenerProvider, TargetProvider),
    {"dns_name": "dns_name", "arn": "load_balancer_arn"},
)
