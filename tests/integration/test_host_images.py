"""Local hosts as fresh Debian servers: a copy-on-write root on the base image, packages
through their VPC's relay to the machine's shared package cache, services by init script.

One local cloud of its own with two VPCs, one host each, driven by plain EC2 calls
(that a second environment's packages come from the shared cache is
test_package_cache.py's). Everything on a host is checked over SSH through its VPC's
namespace; what the machine has is checked on the machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from provisioner.engine.ports import SshRoute
from provisioner.fsutil import read_json
from provisioner.hosts.ssh import ssh_command
from provisioner.local import netns
from provisioner.local.cgroups import CgroupVersion
from provisioner.local.control import LocalCloud
from provisioner.local.hosts import HostFarm
from provisioner.local.reach import LocalReach
from provisioner.local.vpcnet import short_id
from provisioner.procs import command_line

pytestmark = pytest.mark.integration

REGION = "us-east-1"
PACKAGE = "nginx"
# cpu quota (per 100 ms period) and memory limit, as the group's files say them.
EXPECTED_LIMITS = {
    CgroupVersion.V1: {"t3.micro": ("200000", str(2**30)), "t3.small": ("200000", str(2**31))},
    CgroupVersion.V2: {
        "t3.micro": ("200000 100000", str(2**30)),
        "t3.small": ("200000 100000", str(2**31)),
    },
}


@dataclass(frozen=True)
class Lab:
    """A local cloud with one VPC, one subnet and one host that admits SSH from the VPC."""

    root: Path
    cloud: LocalCloud
    ec2: Any
    vpc_id: str
    instance_id: str
    route: SshRoute
    key: Path

    def ssh(self, script: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ssh_command(self.route, self.root / "known_hosts", self.key, ["sh", "-c", script])
        result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def relay_record(self) -> Path:
        return self.cloud.paths.packages / f"relay-{short_id(self.vpc_id)}.json"


def start_lab(root: Path, cidr_prefix: str, hostname: str) -> Lab:
    cloud = LocalCloud(root / "local")
    endpoint = cloud.start().endpoint
    try:
        return _build_lab(cloud, str(endpoint), root, cidr_prefix, hostname)
    except BaseException:
        cloud.stop()
        raise


def _build_lab(
    cloud: LocalCloud, endpoint: str, root: Path, cidr_prefix: str, hostname: str
) -> Lab:
    ec2: Any = boto3.client(
        "ec2", endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip
    key = root / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    vpc_id = ec2.create_vpc(CidrBlock=f"{cidr_prefix}.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"{cidr_prefix}.1.0/24")["Subnet"]
    group = ec2.create_security_group(GroupName="ssh", Description="ssh", VpcId=vpc_id)
    ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"],
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                        "IpRanges": [{"CidrIp": f"{cidr_prefix}.0.0/16"}]}],
    )  # fmt: skip
    public = key.with_suffix(".pub").read_text().strip()
    [instance] = ec2.run_instances(
        ImageId="ami-12c6146b", InstanceType="t3.micro", MinCount=1, MaxCount=1,
        SubnetId=subnet["SubnetId"], SecurityGroupIds=[group["GroupId"]],
        UserData=f"#cloud-config\nhostname: {hostname}\nssh_authorized_keys: [{public}]\n",
    )["Instances"]  # fmt: skip
    reach = LocalReach(HostFarm(cloud.paths.hosts))
    route = reach.route(instance["InstanceId"], instance["PrivateIpAddress"], timeout=60)
    return Lab(root, cloud, ec2, vpc_id, instance["InstanceId"], route, key)


@pytest.fixture(scope="module")
def machine_packages() -> str:
    """The machine's package list before any host of this module exists."""
    return subprocess.run(["dpkg", "-l"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory, machine_packages: str) -> Iterator[Lab]:
    lab = start_lab(tmp_path_factory.mktemp("image-a"), "10.41", "alpha")
    try:
        yield lab
    finally:
        lab.cloud.stop()


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory, first: Lab) -> Lab:
    """Another VPC and host in the same local cloud (stopped with `first`)."""
    root = tmp_path_factory.mktemp("image-b")
    return _build_lab(first.cloud, str(first.cloud.endpoint()), root, "10.42", "beta")


def test_a_host_is_a_fresh_debian_with_tini_as_pid_1(first: Lab) -> None:
    answer = first.ssh("cat /proc/1/comm; hostname; . /etc/os-release; echo $ID; ps -e | wc -l")
    init, hostname, distribution, processes = answer.stdout.split()
    assert (init, hostname, distribution) == ("tini", "alpha", "debian")
    assert int(processes) < 15  # its own: tini, sshd, this session; none of the machine's


def test_a_package_installs_through_the_relay_and_its_service_runs(
    first: Lab, machine_packages: str
) -> None:
    first.ssh(f"apt-get install -y -q {PACKAGE}")
    first.ssh(f"service {PACKAGE} start")
    page = first.ssh("curl -s -o /dev/null -w '%{http_code}' http://localhost/").stdout
    assert page == "200"
    first.ssh(f"service {PACKAGE} reload && service {PACKAGE} status")
    assert first.ssh(f"service {PACKAGE} stop && service {PACKAGE} status", check=False).returncode
    # The machine is untouched.
    assert subprocess.run(["dpkg", "-l"], capture_output=True, text=True).stdout == machine_packages
    if f"ii  {PACKAGE} " not in machine_packages:
        assert not Path("/usr/sbin/nginx").exists()


def test_what_a_host_writes_stays_on_that_host(first: Lab, second: Lab) -> None:
    name = f"written-{uuid.uuid4().hex[:8]}"
    first.ssh(f"echo here > /usr/local/{name} && echo here > /root/{name}")
    assert first.ssh(f"cat /usr/local/{name} /root/{name}").stdout == "here\nhere\n"
    assert not Path(f"/usr/local/{name}").exists()
    assert not Path(f"/root/{name}").exists()
    assert second.ssh(f"ls /usr/local/{name} /root/{name}", check=False).returncode != 0


def test_a_host_sees_nothing_of_the_machine(first: Lab) -> None:
    machine_only = [first.root, first.cloud.paths.root, Path.home() / ".aws", Path("/work")]
    listing = first.ssh(
        "for p in " + " ".join(str(p) for p in machine_only) + "; do test -e $p && echo $p; done;"
        " ls -A /root/.ssh; ls /var/cache/provision 2>/dev/null; true"
    ).stdout.split()
    assert listing == ["authorized_keys"]  # its own key list, and none of the above


def test_a_killed_relay_is_started_again_within_one_pass(first: Lab) -> None:
    killed = int((read_json(first.relay_record()) or {})["pid"])
    os.kill(killed, signal.SIGKILL)
    started = time.monotonic()
    while time.monotonic() - started < 10:
        record = read_json(first.relay_record()) or {}
        pid = int(record.get("pid") or 0)
        if pid and pid != killed and command_line(pid):
            break
        time.sleep(0.05)
    restarted_within = time.monotonic() - started
    print(f"relay started again within {restarted_within:.2f}s")
    assert restarted_within < 2.0  # a reconcile pass is 0.5 s, plus the pass's own work
    first.ssh(f"cd /tmp && apt-get download {PACKAGE}")


def test_a_host_is_held_to_its_instance_types_vcpus_and_memory(first: Lab) -> None:
    farm = HostFarm(first.cloud.paths.hosts)
    name = farm.host_namespace(first.instance_id)
    if farm.groups.version is CgroupVersion.NONE:
        pytest.fail("this machine has no writable cgroups; the lab notes say it has v1")
    assert farm.groups.limits(name) == EXPECTED_LIMITS[farm.groups.version]["t3.micro"]
    [init] = [pid for pid in netns.pids(name) if command_line(pid)[:1] == ["/usr/bin/tini"]]
    assert f"/provision/{name}" in Path(f"/proc/{init}/cgroup").read_text()


def test_a_new_instance_type_changes_the_limits_and_keeps_the_disk(first: Lab) -> None:
    first.ssh("echo kept > /root/disk-check")
    first.ec2.stop_instances(InstanceIds=[first.instance_id])  # as the provider does
    first.ec2.modify_instance_attribute(
        InstanceId=first.instance_id, InstanceType={"Value": "t3.small"}
    )
    first.ec2.start_instances(InstanceIds=[first.instance_id])
    farm = HostFarm(first.cloud.paths.hosts)
    name = farm.host_namespace(first.instance_id)
    wanted = EXPECTED_LIMITS[farm.groups.version]["t3.small"]
    deadline = time.monotonic() + 30
    while farm.groups.limits(name) != wanted and time.monotonic() < deadline:
        time.sleep(0.2)
    assert farm.groups.limits(name) == wanted
    LocalReach(farm).route(first.instance_id, first.route.address, timeout=30)
    assert first.ssh("cat /root/disk-check").stdout == "kept\n"


def test_a_stopped_cloud_leaves_no_host_layer_relay_cache_or_mount(first: Lab) -> None:
    state = str(first.cloud.paths.root)
    first.cloud.stop()
    assert not any(first.cloud.paths.hosts.glob("*/upper"))
    leftovers = [pid for pid in _pids() if any(state in part for part in command_line(pid))]
    assert leftovers == []
    mounts = [pid for pid in _pids() if state in _mountinfo(pid)]
    assert mounts == []


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _mountinfo(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/mountinfo").read_text()
    except OSError:
        return ""
