"""load_balancers on the local cloud: a load balancer, its target group, listener and targets.

One environment, checked from the outside with boto3's ELBv2 calls, goes
through: `up` (a load balancer in two zones, a target group with both web VMs
registered, a listener forwarding to it, a CNAME in a private zone naming it),
scaling the web group to 3 (a third registration), a listener port changed out
of band (drift, exit 2) that `up` puts back while it scales the group back to
2 (the third registration goes), and `down`, which leaves nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.projects import NOTHING_LEFT, Project

pytestmark = pytest.mark.integration

ENV = "lbs"


def spec(*, web: int = 2) -> str:
    return f"""\
name: lbs
cloud: local
region: us-east-1
networks:
  main: {{cidr: 10.74.0.0/16}}
subnets:
  public-a: {{network: main, cidr: 10.74.1.0/24, availability_zone: us-east-1a}}
  public-b: {{network: main, cidr: 10.74.2.0/24, availability_zone: us-east-1b}}
security_groups:
  lb:
    network: main
    ingress: [{{protocol: tcp, ports: 80, cidr: 10.74.0.0/16}}]
vms:
  web: {{count: {web}, instance_type: t3.micro, image: ami-12c6146b, subnet: public-a}}
load_balancers:
  web:
    subnets: [public-a, public-b]
    security_groups: [lb]
    listeners: [{{port: 80, protocol: HTTP}}]
    target_group:
      port: 8080
      protocol: HTTP
      targets: web
      health_check: {{path: /, interval: 5, timeout: 2, healthy_threshold: 2, \
unhealthy_threshold: 2}}
dns_zones:
  internal:
    domain: lbs.internal
    network: main
    records:
      app: {{type: CNAME, value: "${{lb.web.dns_name}}"}}
outputs:
  app: ${{lb.web.dns_name}}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("lbs"))
    project.write_spec(ENV, spec())
    yield project
    project.teardown(ENV)


def the_load_balancer(project: Project) -> dict[str, Any]:
    """The environment's one live load balancer, with its target group, listeners and
    registered instance ids."""
    elbv2 = project.client("elbv2")
    [balancer] = [lb for lb in project.tagged_load_balancing(ENV) if ":loadbalancer/" in lb["id"]]
    [described] = elbv2.describe_load_balancers(LoadBalancerArns=[balancer["id"]])["LoadBalancers"]
    [group] = [g for g in project.tagged_load_balancing(ENV) if ":targetgroup/" in g["id"]]
    health = elbv2.describe_target_health(TargetGroupArn=group["id"])
    return {
        **described,
        "tags": balancer,
        "target_group": elbv2.describe_target_groups(TargetGroupArns=[group["id"]])["TargetGroups"][
            0
        ],
        "listeners": elbv2.describe_listeners(LoadBalancerArn=balancer["id"])["Listeners"],
        "targets": {d["Target"]["Id"] for d in health["TargetHealthDescriptions"]},
    }


def web_instances(project: Project) -> set[str]:
    return {
        vm["InstanceId"]
        for address, vm in project.instances(ENV).items()
        if address.startswith("vm.web[")
    }


def test_up_makes_the_load_balancer_its_target_group_listener_and_a_target_per_vm(
    project: Project,
) -> None:
    project.run("up", ENV, "--yes")
    balancer = the_load_balancer(project)
    assert (balancer["Scheme"], balancer["Type"]) == ("internal", "application")
    assert sorted(zone["ZoneName"] for zone in balancer["AvailabilityZones"]) == [
        "us-east-1a",
        "us-east-1b",
    ]
    assert balancer["tags"]["provision:address"] == "lb.web"
    group = balancer["target_group"]
    assert (group["Port"], group["Protocol"], group["HealthCheckPath"]) == (8080, "HTTP", "/")
    assert (group["HealthCheckIntervalSeconds"], group["HealthyThresholdCount"]) == (5, 2)
    [listener] = balancer["listeners"]
    assert (listener["Port"], listener["Protocol"]) == (80, "HTTP")
    assert listener["DefaultActions"][0]["TargetGroupArn"] == group["TargetGroupArn"]
    assert len(web_instances(project)) == 2
    assert balancer["targets"] == web_instances(project)
    assert project.run_json("output", ENV)["outputs"] == {"app": balancer["DNSName"]}
    [zone] = project.zones(ENV).values()
    assert zone["records"] == {"app.lbs.internal. CNAME": balancer["DNSName"]}


def test_scaling_the_group_registers_exactly_the_new_instance(project: Project) -> None:
    before = the_load_balancer(project)
    project.write_spec(ENV, spec(web=3))
    plan = project.run_json("plan", ENV, "--no-hosts", "--detailed-exitcode", expect=2)
    changes = {c["address"]: c["action"] for c in plan["changes"] if c["action"] != "no-op"}
    assert changes == {"vm.web[2]": "create", "lb.web/target-web-2": "create"}
    project.run("up", ENV, "--yes")
    after = the_load_balancer(project)
    assert len(after["targets"]) == 3 and before["targets"] < after["targets"]
    assert after["targets"] == web_instances(project)
    assert after["LoadBalancerArn"] == before["LoadBalancerArn"]


def test_a_listener_port_changed_out_of_band_is_drift_that_up_puts_back_as_it_scales_down(
    project: Project,
) -> None:
    [listener] = the_load_balancer(project)["listeners"]
    project.client("elbv2").modify_listener(ListenerArn=listener["ListenerArn"], Port=81)
    report = project.run_json("drift", ENV, "--no-hosts", expect=2)
    [change] = report["changes"]
    assert (change["address"], change["action"]) == ("lb.web/listener-80", "update")
    [diff] = change["diff"]
    assert (diff["path"], diff["before"], diff["after"]) == ("port", 80, 81)
    # The same `up` scales the group back to 2: the third registration goes.
    before = the_load_balancer(project)["targets"]
    project.write_spec(ENV, spec(web=2))
    project.run("up", ENV, "--yes")
    after = the_load_balancer(project)
    [restored] = after["listeners"]
    assert (restored["ListenerArn"], restored["Port"]) == (listener["ListenerArn"], 80)
    assert after["targets"] == web_instances(project) and len(after["targets"]) == 2
    assert after["targets"] < before
    assert project.run_json("drift", ENV, "--no-hosts")["changes"] == []


def test_down_leaves_no_load_balancer_target_group_or_listener(project: Project) -> None:
    project.run("down", ENV, "--yes")
    elbv2 = project.client("elbv2")
    assert project.tagged_load_balancing(ENV) == []
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert elbv2.describe_target_groups()["TargetGroups"] == []
    assert project.state_ids(ENV) == set()
    assert project.leftovers(ENV) == NOTHING_LEFT
