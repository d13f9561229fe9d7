"""The local cloud's network plane: security groups enforced by nftables, the VPC resolver.

One VPC made with boto3 on the session's local cloud: hosts `web-a` (group web),
`other` (group other, no access to 5432) and `db` (group db: 5432 from group
web, SSH from the VPC), and a Route53 private zone. Every probe runs inside a
host (over SSH through the VPC namespace), never from the main namespace.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from provisioner.local import netns
from provisioner.local.control import LocalCloud
from provisioner.local.vpcnet import VpcNetworks

pytestmark = pytest.mark.integration

REGION = "us-east-1"
VPC_CIDR = "10.68.0.0/16"
RESOLVER = "10.68.0.2"
ZONE = "test.internal"
# The listener's pid and command line, as the db host shows them.
LISTENER = 'pid=$(cat /srv/listener.pid); echo "$pid"; tr "\\0" " " < /proc/$pid/cmdline'
SSH = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": VPC_CIDR}]}


@dataclass(frozen=True)
class Vpc:
    """What the module made, and how to reach its hosts."""

    cloud: LocalCloud
    clients: dict[str, Any]
    key: Path
    vpc_id: str
    subnet_id: str
    groups: dict[str, str]  # name -> group id
    instances: dict[str, str]  # host name -> instance id
    addresses: dict[str, str]  # host name -> private address
    zone_id: str

    @property
    def ec2(self) -> Any:
        return self.clients["ec2"]

    @property
    def namespace(self) -> str:
        return VpcNetworks(self.cloud.paths.hosts).vpc_namespace(self.vpc_id)

    def ssh(
        self, host: str, script: str, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a shell script on a host, through the VPC namespace."""
        result = subprocess.run(
            [
                "ssh", "-i", str(self.key), "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR",
                "-o", f"ProxyCommand=ip netns exec {self.namespace} nc %h %p",
                f"root@{self.addresses[host]}", script,
            ],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"on {host}: {script!r} failed: {result.stderr}")
        return result

    def reaches_db(self, host: str) -> bool:
        probe = f"nc -z -w 2 {self.addresses['db']} 5432"
        return self.ssh(host, probe, check=False).returncode == 0


def eventually(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.3)
    return True


def resolver_pids(vpc: Vpc) -> list[int]:
    """The dnsmasq processes serving this VPC (their config lies in its resolver's folder)."""
    marker = f"--conf-file={vpc.cloud.paths.resolvers / vpc.vpc_id}/".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def vpc_namespaces(vpc: Vpc) -> set[str]:
    """The namespaces of this VPC and its hosts that exist."""
    networks = VpcNetworks(vpc.cloud.paths.hosts)
    names = {networks.namespace("host", instance) for instance in vpc.instances.values()}
    return netns.namespaces() & (names | {vpc.namespace})


@pytest.fixture(scope="module")
def vpc(
    local_cloud: LocalCloud, ec2: Any, route53: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Vpc]:
    clients = {"ec2": ec2, "route53": route53}
    key = tmp_path_factory.mktemp("netplane-key") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    public_key = key.with_suffix(".pub").read_text().strip()

    vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.68.1.0/24")["Subnet"]["SubnetId"]
    groups = {
        name: ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc_id)["GroupId"]
        for name in ("web", "db", "other")
    }
    ec2.authorize_security_group_ingress(GroupId=groups["web"], IpPermissions=[SSH])
    ec2.authorize_security_group_ingress(GroupId=groups["other"], IpPermissions=[SSH])
    from_web = {
        "IpProtocol": "tcp",
        "FromPort": 5432,
        "ToPort": 5432,
        "UserIdGroupPairs": [{"GroupId": groups["web"]}],
    }
    ec2.authorize_security_group_ingress(GroupId=groups["db"], IpPermissions=[from_web, SSH])

    instances, addresses = {}, {}
    for host, group in (("web-a", "web"), ("other", "other"), ("db", "db")):
        user_data = f"#cloud-config\nhostname: {host}\nssh_authorized_keys: ['{public_key}']\n"
        [instance] = ec2.run_instances(
            ImageId="ami-12c6146b",
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            SubnetId=subnet_id,
            SecurityGroupIds=[groups[group]],
            UserData=user_data,
        )["Instances"]
        instances[host] = instance["InstanceId"]
        addresses[host] = instance["PrivateIpAddress"]

    zone_id = clients["route53"].create_hosted_zone(
        Name=ZONE,
        CallerReference="netplane",
        HostedZoneConfig={"Comment": "netplane", "PrivateZone": True},
        VPC={"VPCRegion": REGION, "VPCId": vpc_id},
    )["HostedZone"]["Id"]
    made = Vpc(local_cloud, clients, key, vpc_id, subnet_id, groups, instances, addresses, zone_id)
    set_record(made, f"db.{ZONE}", addresses["db"])
    for host in instances:
        assert eventually(lambda h=host: made.ssh(h, "true", check=False).returncode == 0, 60)
    # A listener on the database's port: any process will do.
    made.ssh(
        "db",
        f"setsid nohup python3 -m http.server 5432 --bind {addresses['db']} "
        ">/dev/null 2>&1 </dev/null & echo $! > /srv/listener.pid",
    )
    assert eventually(
        lambda: made.ssh("db", f"nc -z {addresses['db']} 5432", check=False).returncode == 0
    )
    yield made
    if ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]:
        delete_everything(made)  # the last test did not get to it


def set_record(vpc: Vpc, name: str, address: str) -> None:
    vpc.clients["route53"].change_resource_record_sets(
        HostedZoneId=vpc.zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": name,
                        "Type": "A",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": address}],
                    },
                }
            ]
        },
    )


def test_a_host_in_the_peer_group_reaches_the_database_port_and_another_does_not(
    vpc: Vpc,
) -> None:
    assert vpc.reaches_db("web-a")
    assert not vpc.reaches_db("other")


def test_authorizing_and_revoking_a_rule_applies_in_place(vpc: Vpc) -> None:
    listener = vpc.ssh("db", LISTENER).stdout
    from_other = {
        "IpProtocol": "tcp",
        "FromPort": 5432,
        "ToPort": 5432,
        "UserIdGroupPairs": [{"GroupId": vpc.groups["other"]}],
    }
    vpc.ec2.authorize_security_group_ingress(GroupId=vpc.groups["db"], IpPermissions=[from_other])
    assert eventually(lambda: vpc.reaches_db("other"))
    assert vpc.reaches_db("web-a")

    vpc.ec2.revoke_security_group_ingress(GroupId=vpc.groups["db"], IpPermissions=[from_other])
    assert eventually(lambda: not vpc.reaches_db("other"))
    assert vpc.reaches_db("web-a")
    # Nothing was restarted: the same listener serves on the same host.
    assert "http.server" in listener
    assert vpc.ssh("db", LISTENER).stdout == listener


def test_hosts_resolve_private_zone_names_through_the_vpc_resolver(vpc: Vpc) -> None:
    resolv = vpc.ssh("web-a", "cat /etc/resolv.conf").stdout
    assert resolv.split() == ["nameserver", RESOLVER]
    answer = vpc.ssh("web-a", f"getent hosts db.{ZONE}").stdout.split()
    assert answer == [vpc.addresses["db"], f"db.{ZONE}"]


def test_unknown_names_fail_fast_and_nothing_is_forwarded(vpc: Vpc) -> None:
    for name in (f"nothing.{ZONE}", "example.com"):
        started = time.monotonic()
        result = vpc.ssh("other", f"getent hosts {name}", check=False)
        assert (result.returncode, result.stdout) == (2, "")  # 2: not found
        assert time.monotonic() - started < 3  # an SSH login included


def test_a_changed_record_is_served_without_restarting_the_resolver(vpc: Vpc) -> None:
    [resolver] = resolver_pids(vpc)
    set_record(vpc, f"db.{ZONE}", vpc.addresses["other"])
    set_record(vpc, f"new.{ZONE}", vpc.addresses["web-a"])

    def served() -> bool:
        # (getent fails while a name is not served yet: that is "not yet", not an error)
        found = vpc.ssh("db", f"getent hosts db.{ZONE} new.{ZONE}", check=False).stdout.split()
        return found == [
            vpc.addresses["other"],
            f"db.{ZONE}",
            vpc.addresses["web-a"],
            f"new.{ZONE}",
        ]

    assert eventually(served)
    assert resolver_pids(vpc) == [resolver]


def test_the_gateway_keeps_its_mac_as_hosts_come_and_go(vpc: Vpc) -> None:
    """A bridge without a MAC of its own takes its ports' lowest: a host that came or went
    could change it under the others, whose replies then went nowhere (SSH timed out)."""
    [bridge] = json.loads(netns.ip("-j", "link", "show", "type", "bridge", namespace=vpc.namespace))
    name, before = bridge["ifname"], bridge["address"]
    kind = netns.in_namespace(vpc.namespace, ["cat", f"/sys/class/net/{name}/addr_assign_type"])
    assert kind.strip() == "3"  # set, not taken from a port
    for _ in range(2):  # two hosts, each plugged in and then unplugged
        [instance] = vpc.ec2.run_instances(
            ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=1, MaxCount=1,
            SubnetId=vpc.subnet_id, SecurityGroupIds=[vpc.groups["other"]],
        )["Instances"]  # fmt: skip
        host = VpcNetworks(vpc.cloud.paths.hosts).namespace("host", instance["InstanceId"])
        assert eventually(lambda h=host: h in netns.namespaces(), 60)
        vpc.ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
        assert eventually(lambda h=host: h not in netns.namespaces(), 60)
    [after] = json.loads(netns.ip("-j", "link", "show", name, namespace=vpc.namespace))
    assert after["address"] == before
    gateway = vpc.ssh("web-a", "ip -j neigh show dev eth0").stdout  # what web-a sends to
    assert before in gateway and vpc.ssh("other", "true").returncode == 0


def test_deleting_everything_leaves_no_resolver_and_no_namespace(vpc: Vpc) -> None:
    assert vpc.namespace in vpc_namespaces(vpc)
    delete_everything(vpc)
    assert eventually(lambda: not vpc_namespaces(vpc) and not resolver_pids(vpc))


def delete_everything(vpc: Vpc) -> None:
    """Delete what the module made, in the order AWS requires."""
    ec2, route53 = vpc.ec2, vpc.clients["route53"]
    ec2.terminate_instances(InstanceIds=list(vpc.instances.values()))
    records = route53.list_resource_record_sets(HostedZoneId=vpc.zone_id)["ResourceRecordSets"]
    changes = [{"Action": "DELETE", "ResourceRecordSet": r} for r in records if r["Type"] == "A"]
    route53.change_resource_record_sets(HostedZoneId=vpc.zone_id, ChangeBatch={"Changes": changes})
    route53.delete_hosted_zone(Id=vpc.zone_id)
    for group_id in vpc.groups.values():
        ec2.delete_security_group(GroupId=group_id)
    ec2.delete_subnet(SubnetId=vpc.subnet_id)
    ec2.delete_vpc(VpcId=vpc.vpc_id)
