"""The local cloud's load balancers: a real HAProxy per load balancer, driven by plain ELBv2 calls.

The tests run in order on one local cloud of their own: two namespace hosts in
two zones serve their hostname over HTTP, a load balancer forwards to both, and
every request is sent from inside a host (over SSH through the VPC's
namespace): nothing connects from the machine's main namespace to a VPC address.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from provisioner.local import netns
from provisioner.local.control import LocalCloud
from provisioner.local.hosts import HostFarm
from provisioner.local.reach import LocalReach
from provisioner.local.vpcnet import VpcNetworks
from provisioner.procs import ProcessIdentity, command_line

pytestmark = pytest.mark.integration

REGION = "us-east-1"
IMAGE = "ami-12c6146b"
INTERVAL, TIMEOUT, HEALTHY, UNHEALTHY = 5, 2, 2, 2
# The longest AWS allows before a check's verdict shows: thresholds times the interval, plus
# one check's timeout, plus a data-plane pass.
UNHEALTHY_WITHIN = UNHEALTHY * INTERVAL + TIMEOUT + 3
HEALTHY_WITHIN = HEALTHY * INTERVAL + TIMEOUT + 3
SERVE = (
    "mkdir -p /srv/www && hostname > /srv/www/index.html && cd /srv/www && "
    "(setsid python3 -m http.server 8080 >/dev/null 2>&1 </dev/null & echo $! > /srv/http.pid)"
)


@dataclass(frozen=True)
class Host:
    name: str
    instance_id: str
    address: str
    proxy_command: str


@dataclass
class Lab:
    """A local cloud with a VPC, two subnets, two web hosts and boto3 clients on it."""

    cloud: LocalCloud
    ec2: Any
    elbv2: Any
    key: Path
    vpc_id: str
    subnet_ids: list[str]
    group_id: str
    hosts: list[Host]

    def ssh(self, host: Host, script: str, *, check: bool = True) -> str:
        result = subprocess.run(
            ["ssh", "-i", str(self.key), "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
             "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", f"ProxyCommand={host.proxy_command}", f"root@{host.address}", script],
            capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
        if check:
            assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("lb")
    cloud = LocalCloud(root / "local")
    endpoint = cloud.start().endpoint
    try:
        yield _build_lab(cloud, str(endpoint), root)
    finally:
        cloud.stop()


def _build_lab(cloud: LocalCloud, endpoint: str, root: Path) -> Lab:
    ec2 = client(endpoint, "ec2")
    key = root / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public_key = key.with_suffix(".pub").read_text().strip()
    vpc_id = ec2.create_vpc(CidrBlock="10.31.0.0/16")["Vpc"]["VpcId"]
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.31.{n}.0/24", AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
        for n, zone in ((1, "us-east-1a"), (2, "us-east-1b"))
    ]
    group_id = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc_id)[
        "GroupId"
    ]
    # Security groups are enforced: SSH to the hosts, the app from the load balancer (and
    # the hosts), HTTP to the load balancer (80, and 8081 when its listener moves): all from
    # inside the VPC.
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": port, "ToPort": port,
             "IpRanges": [{"CidrIp": "10.31.0.0/16"}]}
            for port in (22, 80, 8080, 8081)
        ],
    )  # fmt: skip
    instances = []
    for index, subnet_id in enumerate(subnet_ids):
        user_data = f"#cloud-config\nhostname: web-{index}\nssh_authorized_keys: [{public_key}]\n"
        instances.append(
            ec2.run_instances(
                ImageId=IMAGE,
                InstanceType="t3.micro",
                MinCount=1,
                MaxCount=1,
                SubnetId=subnet_id,
                SecurityGroupIds=[group_id],
                UserData=user_data,
            )["Instances"][0]
        )
    reach = LocalReach(HostFarm(cloud.paths.hosts))
    hosts = []
    for index, instance in enumerate(instances):
        route = reach.route(instance["InstanceId"], instance["PrivateIpAddress"], timeout=60)
        assert route.proxy_command is not None
        hosts.append(
            Host(f"web-{index}", instance["InstanceId"], route.address, route.proxy_command)
        )
    lab = Lab(cloud, ec2, client(endpoint, "elbv2"), key, vpc_id, subnet_ids, group_id, hosts)
    for host in hosts:
        lab.ssh(host, SERVE)
    return lab


def client(endpoint: str, service: str) -> Any:
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip


@dataclass(frozen=True)
class Balancer:
    arn: str
    lb_id: str
    group_arn: str
    listener_arn: str
    addresses: list[str]


@pytest.fixture(scope="module")
def balancer(lab: Lab) -> Balancer:
    created = lab.elbv2.create_load_balancer(
        Name="web", Subnets=lab.subnet_ids, SecurityGroups=[lab.group_id],
        Scheme="internal", Type="application",
    )["LoadBalancers"][0]  # fmt: skip
    group_arn = lab.elbv2.create_target_group(
        Name="web", Protocol="HTTP", Port=8080, VpcId=lab.vpc_id, TargetType="instance",
        HealthCheckPath="/", HealthCheckIntervalSeconds=INTERVAL,
        HealthCheckTimeoutSeconds=TIMEOUT, HealthyThresholdCount=HEALTHY,
        UnhealthyThresholdCount=UNHEALTHY,
    )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
    lab.elbv2.register_targets(
        TargetGroupArn=group_arn, Targets=[{"Id": host.instance_id} for host in lab.hosts]
    )
    listener_arn = lab.elbv2.create_listener(
        LoadBalancerArn=created["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}],
    )["Listeners"][0]["ListenerArn"]  # fmt: skip
    arn = created["LoadBalancerArn"]
    addresses = wait_for(lambda: _addresses(lab, arn) if len(_addresses(lab, arn)) == 2 else None)
    return Balancer(arn, arn.rsplit("/", 1)[-1], group_arn, listener_arn, addresses)


def _addresses(lab: Lab, arn: str) -> list[str]:
    description = "ELB " + arn.split(":loadbalancer/", 1)[1]
    interfaces = lab.ec2.describe_network_interfaces(
        Filters=[{"Name": "description", "Values": [description]}]
    )["NetworkInterfaces"]
    return sorted(i["PrivateIpAddress"] for i in interfaces)


def wait_for(probe: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"not true within {timeout:.0f}s: {probe}")


def health(lab: Lab, balancer: Balancer) -> dict[str, str]:
    """Each target's state, by host name."""
    names = {host.instance_id: host.name for host in lab.hosts}
    answer = lab.elbv2.describe_target_health(TargetGroupArn=balancer.group_arn)
    return {
        names[d["Target"]["Id"]]: d["TargetHealth"]["State"]
        for d in answer["TargetHealthDescriptions"]
    }


def requests(lab: Lab, url: str, count: int = 10) -> list[str]:
    """`count` requests from web-0: each answer's first line, or FAILED."""
    script = f"for i in $(seq {count}); do curl -sf --max-time 3 {url} || echo FAILED; done"
    return lab.ssh(lab.hosts[0], script).split()


def haproxy_processes(lab: Lab) -> list[ProcessIdentity]:
    """The serving HAProxy processes of this local cloud (their config is under its state
    folder). A configuration check (`haproxy -c`) the daemon runs before a start or a reload
    is not one: it exits at once, so a test that waited for it would race its exit."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        argv = command_line(int(entry.name))
        if (
            argv
            and argv[0].endswith("haproxy")
            and "-c" not in argv
            and str(lab.cloud.paths.root) in " ".join(argv)
        ):
            identity = ProcessIdentity.of(int(entry.name))
            if identity is not None:
                found.append(identity)
    return found


def test_requests_through_the_load_balancer_reach_both_hosts(lab: Lab, balancer: Balancer) -> None:
    assert wait_for(lambda: health(lab, balancer) == {"web-0": "healthy", "web-1": "healthy"})
    for address in balancer.addresses:  # it listens in both subnets
        answers = requests(lab, f"http://{address}/")
        assert set(answers) == {"web-0", "web-1"}, answers


def test_haproxy_listens_only_inside_the_load_balancers_namespace(
    lab: Lab, balancer: Balancer
) -> None:
    namespace = VpcNetworks(lab.cloud.paths.hosts).namespace("lb", balancer.lb_id)
    assert namespace in netns.namespaces()
    listening = netns.in_namespace(namespace, ["ss", "-Hltn"])
    assert f"{balancer.addresses[0]}:80" in listening
    main = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    assert not any(address in main for address in balancer.addresses)
    assert {p.pid for p in haproxy_processes(lab)} <= set(netns.pids(namespace))


def test_a_stopped_server_turns_unhealthy_and_gets_no_more_requests(
    lab: Lab, balancer: Balancer
) -> None:
    lab.ssh(lab.hosts[1], "kill $(cat /srv/http.pid)")
    stopped = time.monotonic()
    wait_for(lambda: health(lab, balancer)["web-1"] == "unhealthy", timeout=UNHEALTHY_WITHIN)
    print(f"\nweb-1 unhealthy {time.monotonic() - stopped:.1f}s after its server stopped")
    assert health(lab, balancer)["web-0"] == "healthy"
    assert requests(lab, f"http://{balancer.addresses[0]}/", 20) == ["web-0"] * 20


def test_a_restarted_server_is_healthy_again_and_serves(lab: Lab, balancer: Balancer) -> None:
    lab.ssh(lab.hosts[1], SERVE)
    wait_for(lambda: health(lab, balancer)["web-1"] == "healthy", timeout=HEALTHY_WITHIN)
    assert set(requests(lab, f"http://{balancer.addresses[1]}/")) == {"web-0", "web-1"}


def test_a_deregistered_target_leaves_the_config_by_a_graceful_reload(
    lab: Lab, balancer: Balancer
) -> None:
    config = lab.cloud.paths.load_balancers / balancer.lb_id / "haproxy.cfg"
    masters_before = haproxy_processes(lab)
    lab.elbv2.deregister_targets(
        TargetGroupArn=balancer.group_arn, Targets=[{"Id": lab.hosts[1].instance_id}]
    )
    wait_for(lambda: lab.hosts[1].instance_id not in config.read_text())
    assert lab.hosts[0].instance_id in config.read_text()
    assert requests(lab, f"http://{balancer.addresses[0]}/") == ["web-0"] * 10
    assert health(lab, balancer) == {"web-0": "healthy"}
    oldest = min(masters_before, key=lambda p: p.start_ticks)
    assert oldest.is_alive()  # the same master: reloaded, not restarted
    lab.elbv2.register_targets(
        TargetGroupArn=balancer.group_arn, Targets=[{"Id": lab.hosts[1].instance_id}]
    )
    wait_for(lambda: health(lab, balancer).get("web-1") == "healthy", timeout=HEALTHY_WITHIN + 5)


def test_a_listener_port_change_moves_the_frontend(lab: Lab, balancer: Balancer) -> None:
    lab.elbv2.modify_listener(ListenerArn=balancer.listener_arn, Port=8081)
    address = balancer.addresses[0]
    wait_for(lambda: "FAILED" not in requests(lab, f"http://{address}:8081/", 1))
    assert requests(lab, f"http://{address}/", 1) == ["FAILED"]
    lab.elbv2.modify_listener(ListenerArn=balancer.listener_arn, Port=80)
    wait_for(lambda: "FAILED" not in requests(lab, f"http://{address}/", 1))


def test_deleting_the_load_balancer_removes_haproxy_namespace_and_interfaces(
    lab: Lab, balancer: Balancer
) -> None:
    namespace = VpcNetworks(lab.cloud.paths.hosts).namespace("lb", balancer.lb_id)
    lab.elbv2.delete_listener(ListenerArn=balancer.listener_arn)
    lab.elbv2.delete_load_balancer(LoadBalancerArn=balancer.arn)
    wait_for(lambda: not haproxy_processes(lab) and namespace not in netns.namespaces())
    assert _addresses(lab, balancer.arn) == []
    assert not (lab.cloud.paths.load_balancers / balancer.lb_id).exists()
    # The health table follows on the data plane's next pass.
    wait_for(lambda: health(lab, balancer) == {"web-0": "unused", "web-1": "unused"})


def test_local_stop_leaves_no_haproxy_of_this_cloud(lab: Lab) -> None:
    arn = lab.elbv2.create_load_balancer(Name="again", Subnets=lab.subnet_ids[:1])["LoadBalancers"][
        0
    ]["LoadBalancerArn"]
    wait_for(lambda: haproxy_processes(lab))
    lab.cloud.stop()
    assert haproxy_processes(lab) == []
    prefix = VpcNetworks(lab.cloud.paths.hosts).prefix
    assert not [name for name in netns.namespaces() if name.startswith(prefix)]
    assert not (lab.cloud.paths.load_balancers / arn.rsplit("/", 1)[-1]).exists()


def test_a_restarted_cloud_removes_the_haproxy_a_killed_daemon_left(lab: Lab) -> None:
    endpoint = lab.cloud.start().endpoint
    assert endpoint is not None
    elbv2, ec2 = client(endpoint, "elbv2"), client(endpoint, "ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.32.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.32.1.0/24")["Subnet"]["SubnetId"]
    arn = elbv2.create_load_balancer(Name="left", Subnets=[subnet_id])["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    namespace = VpcNetworks(lab.cloud.paths.hosts).namespace("lb", arn.rsplit("/", 1)[-1])
    wait_for(lambda: haproxy_processes(lab))
    status = lab.cloud.status()
    assert status.pid is not None
    os.kill(status.pid, 9)
    wait_for(lambda: not lab.cloud.status().running)
    try:
        assert haproxy_processes(lab)  # orphaned, in its own session
    finally:
        lab.cloud.start()  # forgot the load balancer: its HAProxy must go
    wait_for(lambda: not haproxy_processes(lab))
    wait_for(lambda: namespace not in netns.namespaces())
    lab.cloud.stop()
    assert haproxy_processes(lab) == []
