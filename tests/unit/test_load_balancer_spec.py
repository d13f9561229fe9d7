"""load_balancers: the spec's located checks, derived cloud names, the graph's node and edges."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from provisioner.graph import CompiledEnvironment
from provisioner.graph.kinds.load_balancer import HealthCheck, Listener, LoadBalancerNode
from provisioner.graph.resource_graph import EdgeReason
from provisioner.spec.kinds.load_balancer import (
    LOAD_BALANCERS,
    TargetGroupSpec,
    load_balancer_name,
    target_group_name,
)
from tests.unit import test_dns_spec as dns_spec
from tests.unit.test_dns_spec import edges, problems

SPEC = """\
name: env
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.0.0.0/16}
subnets:
  public-a: {network: main, cidr: 10.0.1.0/24, availability_zone: us-east-1a}
  public-b: {network: main, cidr: 10.0.2.0/24, availability_zone: us-east-1b}
security_groups:
  lb: {network: main}
vms:
  web: {count: 2, instance_type: t3.micro, image: ami-12c6146b, subnet: public-a}
load_balancers:
  web:
    subnets: [public-a, public-b]
    security_groups: [lb]
    listeners: [{port: 80}, {port: 8000, protocol: HTTP}]
    target_group: {port: 8080, targets: web, health_check: {path: /health, interval: 5, timeout: 2}}
dns_zones:
  internal:
    domain: dev.internal
    network: main
    records:
      app: {type: CNAME, value: "${lb.web.dns_name}"}
outputs:
  lb: ${lb.web.arn}
"""


def compiled(tmp_path: Path, text: str = SPEC) -> CompiledEnvironment:
    return dns_spec.compiled(tmp_path, text)


def balancer(env: CompiledEnvironment) -> LoadBalancerNode:
    [node] = [n for n in env.graph.nodes() if isinstance(n, LoadBalancerNode)]
    return node


# --- the graph ---------------------------------------------------------------------------


def test_a_load_balancer_holds_its_listeners_target_group_and_one_target_per_vm(
    tmp_path: Path,
) -> None:
    node = balancer(compiled(tmp_path))
    assert node.internal
    assert [str(s) for s in node.subnets] == ["subnet.public-a", "subnet.public-b"]
    assert str(node.network) == "network.main"
    assert node.listeners == (Listener(80, "HTTP"), Listener(8000, "HTTP"))
    group = node.target_group
    assert (group.port, group.protocol) == (8080, "HTTP")
    assert group.health_check == HealthCheck(path="/health", interval=5, timeout=2)
    assert [str(t) for t in group.targets] == ["vm.web[0]", "vm.web[1]"]


def test_a_load_balancer_waits_for_its_subnets_groups_and_every_instance_of_its_targets(
    tmp_path: Path,
) -> None:
    env = compiled(tmp_path)
    into = {s for s, t in edges(env, EdgeReason.USES) if t == "lb.web"}
    assert into == {"subnet.public-a", "subnet.public-b", "sg.lb", "vm.web[0]", "vm.web[1]"}
    # A record naming the load balancer waits for it.
    assert ("lb.web", "dns.internal") in edges(env, EdgeReason.REFERENCE)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_its_targets_follow_the_vm_groups_count(tmp_path: Path, count: int) -> None:
    env = compiled(tmp_path, SPEC.replace("web: {count: 2", f"web: {{count: {count}"))
    assert [str(t) for t in balancer(env).target_group.targets] == [
        f"vm.web[{i}]" for i in range(count)
    ]
    vms = {s for s, t in edges(env, EdgeReason.USES) if t == "lb.web" and s.startswith("vm.")}
    assert vms == {f"vm.web[{i}]" for i in range(count)}


# --- names in the cloud ------------------------------------------------------------------


def test_derived_names_fit_elbv2s_32_characters_and_are_stable() -> None:
    long = load_balancer_name("a-very-long-environment-name", "frontend-balancer")
    assert len(long) <= 32 and long == load_balancer_name(
        "a-very-long-environment-name", "frontend-balancer"
    )
    assert load_balancer_name("dev", "web").startswith("dev-web-")
    assert not load_balancer_name("internal", "web").startswith("internal")


def test_a_target_group_with_a_new_port_gets_a_new_name() -> None:
    group = TargetGroupSpec(port=8080, targets="web")
    moved = TargetGroupSpec(port=9090, targets="web")
    assert target_group_name("dev", "web", group) != target_group_name("dev", "web", moved)
    assert target_group_name("dev", "web", group) == target_group_name("dev", "web", group)


def test_a_load_balancer_makes_itself_a_target_group_its_listeners_and_a_target_per_vm() -> None:
    raw = yaml.safe_load(SPEC)
    [share] = LOAD_BALANCERS.shares("load_balancers", raw["load_balancers"], raw)
    assert (share.path, share.resources) == (("load_balancers", "web"), 1 + 1 + 2 + 2)


# --- located problems ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            SPEC.replace("us-east-1b}", "us-east-1a}"),
            "15:5 load_balancers.web.subnets: a load balancer needs subnets in at least 2 "
            "availability zones, these are all in us-east-1a",
            id="one-zone",
        ),
        pytest.param(
            SPEC.replace("subnets: [public-a, public-b]", "subnets: [public-a]"),
            "15:5 load_balancers.web.subnets: a load balancer needs subnets in at least 2 "
            "availability zones, these are all in us-east-1a",
            id="one-subnet",
        ),
        pytest.param(
            SPEC.replace("subnets: [public-a, public-b]", "subnets: [public-a, public-c]"),
            "15:25 load_balancers.web.subnets[1]: unknown subnet 'public-c' "
            "(did you mean 'public-b'?)",
            id="unknown-subnet",
        ),
        pytest.param(
            SPEC.replace("security_groups: [lb]", "security_groups: [lbb]"),
            "16:23 load_balancers.web.security_groups[0]: unknown security group 'lbb' "
            "(did you mean 'lb'?)",
            id="unknown-security-group",
        ),
        pytest.param(
            SPEC.replace("targets: web", "targets: wbe"),
            "18:32 load_balancers.web.target_group.targets: unknown VM group 'wbe' "
            "(did you mean 'web'?)",
            id="unknown-vm-group",
        ),
        pytest.param(
            SPEC.replace("{port: 8000, protocol: HTTP}", "{port: 80, protocol: HTTP}"),
            "17:30 load_balancers.web.listeners[1].port: port 80 has a listener already",
            id="duplicate-listener-port",
        ),
        pytest.param(
            SPEC.replace("{port: 8000,", "{port: 70000,"),
            "17:30 load_balancers.web.listeners[1].port: input should be less than or equal "
            "to 65535",
            id="listener-port-out-of-range",
        ),
        pytest.param(
            SPEC.replace("protocol: HTTP}", "protocol: HTTPS}"),
            "17:42 load_balancers.web.listeners[1].protocol: must be one of 'HTTP', got 'HTTPS'",
            id="listener-protocol",
        ),
        pytest.param(
            SPEC.replace("timeout: 2}", "timeout: 5}"),
            "18:46 load_balancers.web.target_group.health_check: the timeout (5s) "
            "must be shorter than the interval (5s)",
            id="health-check-timeout",
        ),
    ],
)
def test_each_problem_of_a_load_balancer_is_reported_where_it_is(
    tmp_path: Path, text: str, expected: str
) -> None:
    assert problems(tmp_path, text) == [expected]


def test_only_a_load_balancers_dns_name_and_arn_are_readable(
    tmp_path: Path,
) -> None:
    [problem] = problems(tmp_path, SPEC.replace("${lb.web.arn}", "${lb.web.address}"))
    assert problem == "26:3 outputs.lb: 'lb' has no attribute 'address' (one of arn, dns_name)"
