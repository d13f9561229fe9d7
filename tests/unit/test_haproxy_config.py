"""A load balancer's HAProxy configuration, and target health read back from HAProxy's stats."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from provisioner.local.haproxy import HAProxyFiles, ServerStatus, parse_stat, render_config
from provisioner.local.lbmodel import (
    HealthCheck,
    HealthCheckProtocol,
    Listener,
    LoadBalancer,
    Target,
    TargetGroup,
)
from provisioner.local.targethealth import (
    INITIAL,
    NOT_IN_USE,
    TargetHealth,
    TargetHealthState,
    TargetHealthTable,
    health_of,
)
from provisioner.local.vpcnet import Attachment

GROUP_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
FILES = HAProxyFiles(Path("/state/load_balancers/f00d"))
CHECK = HealthCheck(
    path="/healthz",
    interval_seconds=5,
    timeout_seconds=2,
    healthy_threshold=3,
    unhealthy_threshold=2,
    success_codes="200-299",
)
GROUP = TargetGroup(
    arn=GROUP_ARN,
    health_check=CHECK,
    targets=(Target("i-1", "10.0.1.5", 8080), Target("i-2", "10.0.2.5", 8080)),
)
LB = LoadBalancer(
    arn="arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/f00d",
    vpc_id="vpc-1",
    attachments=(
        Attachment("vpc-1", "subnet-a", "10.0.1.0/24", "10.0.1.10", "vl0-f00d", "eth0"),
        Attachment("vpc-1", "subnet-b", "10.0.2.0/24", "10.0.2.10", "vl1-f00d", "eth1"),
    ),
    listeners=(Listener(port=80, target_group_arn=GROUP_ARN),),
    target_groups=(GROUP,),
)


def section(config: str, header: str) -> list[str]:
    """The lines of one section (`frontend NAME`, `backend NAME`, ...), stripped."""
    blocks = {block.splitlines()[0]: block.splitlines()[1:] for block in config.split("\n\n")}
    return [line.strip() for line in blocks[header]]


def test_a_listener_binds_every_address_of_the_balancer_and_forwards_to_its_group() -> None:
    frontend = section(render_config(LB, FILES), "frontend listener-80")
    assert frontend == [
        "bind 10.0.1.10:80",
        "bind 10.0.2.10:80",
        f"default_backend {GROUP.backend}",
    ]


def test_each_target_is_a_server_checked_as_the_group_says() -> None:
    backend = section(render_config(LB, FILES), f"backend {GROUP.backend}")
    assert "option httpchk GET /healthz" in backend
    assert "http-check expect status 200-299" in backend
    assert "timeout check 2s" in backend
    assert "server i-1_8080 10.0.1.5:8080 check inter 5s rise 3 fall 2" in backend
    assert "server i-2_8080 10.0.2.5:8080 check inter 5s rise 3 fall 2" in backend


def test_a_health_check_port_of_its_own_is_checked_instead_of_the_traffic_port() -> None:
    group = replace(GROUP, health_check=replace(CHECK, port=9000))
    backend = section(
        render_config(replace(LB, target_groups=(group,)), FILES), "backend " + group.backend
    )
    assert "server i-1_8080 10.0.1.5:8080 check inter 5s rise 3 fall 2 port 9000" in backend


def test_a_tcp_health_check_only_connects_and_disabled_checks_do_nothing() -> None:
    tcp = replace(GROUP, health_check=replace(CHECK, protocol=HealthCheckProtocol.TCP))
    backend = section(
        render_config(replace(LB, target_groups=(tcp,)), FILES), "backend " + tcp.backend
    )
    assert not any(line.startswith(("option httpchk", "http-check")) for line in backend)
    assert "server i-1_8080 10.0.1.5:8080 check inter 5s rise 3 fall 2" in backend
    off = replace(GROUP, health_check=replace(CHECK, enabled=False))
    backend = section(
        render_config(replace(LB, target_groups=(off,)), FILES), "backend " + off.backend
    )
    assert "server i-1_8080 10.0.1.5:8080" in backend
    assert not any("check" in line for line in backend)


def test_a_listener_that_forwards_nowhere_answers_503() -> None:
    lb = replace(LB, listeners=(Listener(port=8081, target_group_arn=None),))
    assert section(render_config(lb, FILES), "frontend listener-8081")[-1] == (
        "http-request return status 503"
    )


def test_server_health_survives_a_reload_and_the_stats_socket_is_in_the_folder() -> None:
    config = render_config(LB, FILES)
    assert "stats socket /state/load_balancers/f00d/stats.sock mode 600 level admin" in config
    assert "server-state-file /state/load_balancers/f00d/servers.state" in config
    assert "load-server-state-from-file global" in section(config, "defaults")


def test_the_config_does_not_depend_on_the_order_moto_lists_things_in() -> None:
    shuffled = replace(
        LB,
        listeners=(Listener(8080, GROUP_ARN), Listener(80, GROUP_ARN)),
        target_groups=(replace(GROUP, targets=GROUP.targets[::-1]),),
    )
    ordered = replace(LB, listeners=(Listener(80, GROUP_ARN), Listener(8080, GROUP_ARN)))
    assert render_config(shuffled, FILES) == render_config(ordered, FILES)


def test_a_balancer_without_listeners_still_has_a_config_haproxy_can_run() -> None:
    config = render_config(replace(LB, listeners=(), target_groups=()), FILES)
    assert "frontend" not in config and "backend" not in config
    assert "stats socket" in config  # a listener of its own: HAProxy starts with it alone


# `show stat` of HAProxy 2.6 (columns trimmed to the ones read; the order does not matter).
STAT = """\
# pxname,svname,status,check_status,check_code,
listener-80,FRONTEND,OPEN,,,
tg-x,i-1_8080,UP,L7OK,200,
tg-x,i-2_8080,DOWN,L4CON,,
tg-x,i-3_8080,UP 1/2,INI,,
tg-x,i-4_8080,DOWN 1/2,* L7STS,500,
tg-x,BACKEND,UP,,,

"""


def test_stats_list_the_servers_without_frontends_or_backend_totals() -> None:
    assert parse_stat(STAT) == [
        ServerStatus("tg-x", "i-1_8080", "UP", "L7OK", "200"),
        ServerStatus("tg-x", "i-2_8080", "DOWN", "L4CON", ""),
        ServerStatus("tg-x", "i-3_8080", "UP 1/2", "INI", ""),
        ServerStatus("tg-x", "i-4_8080", "DOWN 1/2", "L7STS", "500"),
    ]


def test_haproxy_states_read_as_aws_target_health() -> None:
    states = [health_of(server) for server in parse_stat(STAT)]
    assert states[0] == TargetHealth(TargetHealthState.HEALTHY)
    assert (states[1].state, states[1].reason) == ("unhealthy", "Target.FailedHealthChecks")
    assert states[2] == INITIAL  # not checked yet
    assert (states[3].state, states[3].reason) == ("unhealthy", "Target.ResponseCodeMismatch")
    assert states[3].description == "Health checks failed with these codes: [500]"


def test_a_server_going_down_is_still_healthy_and_a_timeout_says_so() -> None:
    assert health_of(ServerStatus("b", "s", "UP 1/2", "L4CON", "")).state == "healthy"
    timeout = health_of(ServerStatus("b", "s", "DOWN", "L7TOUT", ""))
    assert (timeout.state, timeout.reason) == ("unhealthy", "Target.Timeout")
    disabled = health_of(ServerStatus("b", "s", "no check", "", ""))
    assert (disabled.state, disabled.reason) == ("unavailable", "Target.HealthCheckDisabled")


def test_the_table_answers_initial_until_haproxy_reports_and_unused_without_a_listener() -> None:
    table = TargetHealthTable()
    assert table.lookup(GROUP_ARN, ("i-1", 8080), in_use=False) == NOT_IN_USE
    assert table.lookup(GROUP_ARN, ("i-1", 8080), in_use=True) == INITIAL
    table.replace({GROUP_ARN: {("i-1", 8080): TargetHealth(TargetHealthState.UNHEALTHY)}})
    assert table.lookup(GROUP_ARN, ("i-1", 8080), in_use=True).state == "unhealthy"
    assert table.lookup(GROUP_ARN, ("i-2", 8080), in_use=True) == INITIAL  # just registered
