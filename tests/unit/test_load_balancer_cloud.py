"""The ELBv2 providers against an ELBv2 in memory: creates made once under lost answers,
in-place changes, reads for drift, deletes that meet their own first attempt, the orphan sweep."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError

from provisioner.cloud.aws import clients
from provisioner.cloud.aws.listener import ListenerProvider, TargetProvider, registration_id
from provisioner.cloud.aws.load_balancer import LoadBalancerProvider, TargetGroupProvider
from provisioner.cloud.aws.orphans import teardown_order
from provisioner.errors import CloudError
from tests.unit.test_dns_cloud import Pages, client_error

REGION = "us-east-1"
TAGS = {"provision:env": "dev", "provision:address": "lb.web"}
BALANCER = {
    "lb_name": "dev-web-0a1b2c3d",
    "internal": True,
    "subnet_ids": ["subnet-a", "subnet-b"],
    "security_group_ids": ["sg-1"],
    "region": REGION,
    "tags": TAGS,
}
HEALTH = {
    "path": "/",
    "interval": 5,
    "timeout": 2,
    "healthy_threshold": 2,
    "unhealthy_threshold": 2,
}


class FakeElbv2:
    """Load balancers, target groups, listeners and targets in memory. Like the local cloud,
    it makes a second load balancer of a name that exists (AWS would adopt or refuse)."""

    def __init__(self) -> None:
        self.balancers: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.listeners: dict[str, dict[str, Any]] = {}
        self.targets: dict[str, dict[str, int]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.health: dict[str, dict[str, str]] = {}  # instance -> TargetHealth, if not healthy
        self.lose: set[str] = set()  # operations whose next answer is lost after the change
        self.calls: list[str] = []
        self._ids = itertools.count(1)

    def _answer(self, operation: str, result: Any) -> Any:
        self.calls.append(operation)
        if operation in self.lose:
            self.lose.discard(operation)
            raise ConnectionClosedError(endpoint_url="http://127.0.0.1:1")
        return result

    def _tag(self, arn: str, tags: list[dict[str, str]]) -> None:
        self.tags.setdefault(arn, {}).update({t["Key"]: t["Value"] for t in tags})

    def get_paginator(self, operation: str) -> Pages:
        return Pages(getattr(self, operation))

    def create_load_balancer(self, **request: Any) -> Any:
        arn = f"arn:lb:loadbalancer/app/{request['Name']}/{next(self._ids)}"
        self.balancers[arn] = {
            "LoadBalancerArn": arn,
            "LoadBalancerName": request["Name"],
            "DNSName": f"{request['Name']}-1.{REGION}.elb.amazonaws.com",
            "Scheme": request["Scheme"],
            "AvailabilityZones": [{"SubnetId": s} for s in request["Subnets"]],
            "SecurityGroups": request.get("SecurityGroups", []),
        }
        self._tag(arn, request["Tags"])
        return self._answer("create_load_balancer", {"LoadBalancers": [self.balancers[arn]]})

    def describe_load_balancers(self, **request: Any) -> Any:
        found = list(self.balancers.values())
        if "Names" in request:
            found = [b for b in found if b["LoadBalancerName"] in request["Names"]]
            if not found:
                raise client_error("LoadBalancerNotFound")
        return {"LoadBalancers": found}

    def delete_load_balancer(self, **request: Any) -> Any:
        arn = request["LoadBalancerArn"]
        self.balancers.pop(arn, None)
        for listener in [k for k, v in self.listeners.items() if v["LoadBalancerArn"] == arn]:
            del self.listeners[listener]
        return self._answer("delete_load_balancer", {})

    def create_target_group(self, **request: Any) -> Any:
        if any(g["TargetGroupName"] == request["Name"] for g in self.groups.values()):
            raise client_error("DuplicateTargetGroupName")
        arn = f"arn:lb:targetgroup/{request['Name']}/{next(self._ids)}"
        self.groups[arn] = {
            "TargetGroupArn": arn,
            "TargetGroupName": request["Name"],
            **{k: v for k, v in request.items() if k not in ("Name", "Tags")},
        }
        self.targets[arn] = {}
        self._tag(arn, request["Tags"])
        return self._answer("create_target_group", {"TargetGroups": [self.groups[arn]]})

    def describe_target_groups(self, **request: Any) -> Any:
        found = list(self.groups.values())
        if "Names" in request:
            found = [g for g in found if g["TargetGroupName"] in request["Names"]]
            if not found:
                raise client_error("TargetGroupNotFound")
        return {"TargetGroups": found}

    def delete_target_group(self, **request: Any) -> Any:
        arn = request["TargetGroupArn"]
        if arn not in self.groups:
            raise client_error("TargetGroupNotFound")
        if any(_forwards_to(li) == arn for li in self.listeners.values()):
            raise client_error("ResourceInUse")
        del self.groups[arn]
        return self._answer("delete_target_group", {})

    def create_listener(self, **request: Any) -> Any:
        balancer = request["LoadBalancerArn"]
        if any(
            li["LoadBalancerArn"] == balancer and li["Port"] == request["Port"]
            for li in self.listeners.values()
        ):
            raise client_error("DuplicateListener")
        arn = balancer.replace(":loadbalancer/", ":listener/") + f"/{next(self._ids)}"
        self.listeners[arn] = {
            "ListenerArn": arn,
            **{k: v for k, v in request.items() if k != "Tags"},
        }
        self._tag(arn, request["Tags"])
        return self._answer("create_listener", {"Listeners": [self.listeners[arn]]})

    def describe_listeners(self, **request: Any) -> Any:
        if "LoadBalancerArn" in request:
            if request["LoadBalancerArn"] not in self.balancers:
                raise client_error("LoadBalancerNotFound")
            wanted = request["LoadBalancerArn"]
            return {
                "Listeners": [v for v in self.listeners.values() if v["LoadBalancerArn"] == wanted]
            }
        found = [self.listeners[a] for a in request["ListenerArns"] if a in self.listeners]
        if not found:
            raise client_error("ListenerNotFound")
        return {"Listeners": found}

    def modify_listener(self, **request: Any) -> Any:
        listener = self.listeners[request["ListenerArn"]]
        listener.update({k: v for k, v in request.items() if k != "ListenerArn"})
        return self._answer("modify_listener", {"Listeners": [listener]})

    def delete_listener(self, **request: Any) -> Any:
        if self.listeners.pop(request["ListenerArn"], None) is None:
            raise client_error("ListenerNotFound")
        return self._answer("delete_listener", {})

    def register_targets(self, **request: Any) -> Any:
        for target in request["Targets"]:
            self.targets[request["TargetGroupArn"]][target["Id"]] = target["Port"]
        return self._answer("register_targets", {})

    def deregister_targets(self, **request: Any) -> Any:
        registered = self.targets[request["TargetGroupArn"]]
        for target in request["Targets"]:
            if registered.pop(target["Id"], None) is None:
                raise client_error("InvalidTarget")
        return self._answer("deregister_targets", {})

    def describe_target_health(self, **request: Any) -> Any:
        if request["TargetGroupArn"] not in self.groups:
            raise client_error("TargetGroupNotFound")
        registered = self.targets[request["TargetGroupArn"]]
        healthy = {"State": "healthy"}
        return {
            "TargetHealthDescriptions": [
                {"Target": {"Id": i, "Port": p}, "TargetHealth": self.health.get(i, healthy)}
                for i, p in registered.items()
            ]
        }

    def describe_tags(self, **request: Any) -> Any:
        return {
            "TagDescriptions": [
                {"ResourceArn": arn, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}
                for arn, tags in self.tags.items()
                if arn in request["ResourceArns"]
            ]
        }

    def add_tags(self, **request: Any) -> Any:
        for arn in request["ResourceArns"]:
            self._tag(arn, request["Tags"])
        return self._answer("add_tags", {})


def _forwards_to(listener: dict[str, Any]) -> str:
    return str(listener["DefaultActions"][0]["TargetGroupArn"])


@pytest.fixture
def elbv2(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeElbv2]:
    fake = FakeElbv2()
    monkeypatch.setattr(clients, "_shared", lambda service, region, retrying: fake)
    monkeypatch.setenv("PROVISION_RUN_ID", "run-1")
    yield fake


def made(elbv2: FakeElbv2) -> tuple[str, str, str]:
    """A load balancer, its target group and a listener on port 80: their ARNs."""
    balancer = LoadBalancerProvider().create(dict(BALANCER)).id
    group = (
        TargetGroupProvider()
        .create(
            {
                "target_group_name": "dev-web-11223344",
                "port": 8080,
                "protocol": "HTTP",
                "vpc_id": "vpc-1",
                "health_check": HEALTH,
                "region": REGION,
                "tags": {**TAGS, "provision:address": "lb.web/target-group"},
            }
        )
        .id
    )
    listener = (
        ListenerProvider()
        .create(
            {
                "load_balancer_arn": balancer,
                "port": 80,
                "protocol": "HTTP",
                "target_group_arn": group,
                "region": REGION,
                "tags": {**TAGS, "provision:address": "lb.web/listener-80"},
            }
        )
        .id
    )
    assert balancer and group and listener
    return balancer, group, listener


def test_a_load_balancer_whose_create_answer_was_lost_is_adopted_not_made_twice(
    elbv2: FakeElbv2,
) -> None:
    elbv2.lose.add("create_load_balancer")
    created = LoadBalancerProvider().create(dict(BALANCER))
    assert list(elbv2.balancers) == [created.id]
    assert elbv2.calls.count("create_load_balancer") == 1
    assert created.outs["dns_name"] == "dev-web-0a1b2c3d-1.us-east-1.elb.amazonaws.com"


def test_a_load_balancer_name_another_create_holds_is_refused(elbv2: FakeElbv2) -> None:
    LoadBalancerProvider().create(dict(BALANCER))
    elbv2.tags[next(iter(elbv2.balancers))]["provision:create-token"] = "someone-else"
    with pytest.raises(CloudError, match="load balancer 'dev-web-0a1b2c3d' exists already"):
        LoadBalancerProvider().create(dict(BALANCER))
    assert len(elbv2.balancers) == 1


def test_a_listener_whose_create_answer_was_lost_is_adopted_by_its_port_and_token(
    elbv2: FakeElbv2,
) -> None:
    elbv2.lose.add("create_listener")
    _, _, listener = made(elbv2)
    assert list(elbv2.listeners) == [listener]


def test_a_listener_port_changed_out_of_band_reads_as_drift_and_update_puts_it_back(
    elbv2: FakeElbv2,
) -> None:
    balancer, group, listener = made(elbv2)
    recorded = {"load_balancer_arn": balancer, "port": 80, "protocol": "HTTP"}
    elbv2.listeners[listener]["Port"] = 81
    live = ListenerProvider.read_many(elbv2, {listener: recorded})[listener]
    assert (live["port"], live["target_group_arn"]) == (81, group)
    news = {**recorded, "target_group_arn": group, "region": REGION, "tags": TAGS}
    ListenerProvider().update(listener, {**news, "port": 81}, news)
    assert elbv2.listeners[listener]["Port"] == 80


def test_a_registration_repeated_or_deleted_twice_is_one_registration(elbv2: FakeElbv2) -> None:
    _, group, _ = made(elbv2)
    props = {"target_group_arn": group, "instance_id": "i-1", "port": 8080, "region": REGION}
    first = TargetProvider().create(dict(props)).id
    TargetProvider().create(dict(props))
    assert first == registration_id(group, "i-1") and elbv2.targets[group] == {"i-1": 8080}
    assert set(TargetProvider.read_many(elbv2, {first: props})) == {first}
    TargetProvider.remove(elbv2, first, props)
    TargetProvider.remove(elbv2, first, props)  # gone already: InvalidTarget, and unlisted
    assert elbv2.targets[group] == {} and TargetProvider.read_many(elbv2, {first: props}) == {}


def test_the_orphan_sweep_removes_listeners_and_targets_before_the_group_and_balancer(
    elbv2: FakeElbv2,
) -> None:
    _, group, _ = made(elbv2)
    TargetProvider().create(
        {"target_group_arn": group, "instance_id": "i-1", "port": 8080, "region": REGION}
    )
    elbv2.calls.clear()
    for provider in [p for p in teardown_order() if p.service == "elbv2"]:
        provider.remove_orphans(elbv2, provider.orphans(elbv2, "dev", set()))
    deletes = [call for call in elbv2.calls if call.startswith(("delete", "deregister"))]
    assert deletes == [
        "deregister_targets",
        "delete_listener",
        "delete_target_group",
        "delete_load_balancer",
    ]
    assert not (elbv2.balancers or elbv2.groups or elbv2.listeners)


def test_a_registered_target_is_read_as_registered_unless_it_is_draining(elbv2: FakeElbv2) -> None:
    _, group, _ = made(elbv2)
    recorded: dict[str, dict[str, Any]] = {}
    for instance in ("i-1", "i-2", "i-3"):
        props = {"target_group_arn": group, "instance_id": instance, "port": 8080}
        recorded[TargetProvider().create({**props, "region": REGION}).id] = props
    # Registered, but in a zone the load balancer does not serve; and leaving.
    elbv2.health["i-2"] = {"State": "unused", "Reason": "Target.NotInUse"}
    elbv2.health["i-3"] = {"State": "draining", "Reason": "Target.DeregistrationInProgress"}
    live = TargetProvider.read_many(elbv2, recorded)
    assert set(live) == {registration_id(group, "i-1"), registration_id(group, "i-2")}
