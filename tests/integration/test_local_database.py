"""The local cloud's databases: each postgres DB instance is a real PostgreSQL server.

Plain boto3 calls on a local cloud of this module's own: a VPC with two private
subnets in two zones (the DB subnet group) and a subnet for a client host. The
tests run in order: create (and refuse), connect from the host over SSH through
the VPC's namespace, change versions, groups and password, stop and start,
delete, stop the cloud; all under a counter of private-range packets leaving the
main namespace (see packet_guard.py), which must stay 0.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from provisioner.cloud.aws.target import local_cloud_env
from provisioner.hosts.ssh import ssh_command
from provisioner.local import netns
from provisioner.local.control import LocalCloud
from provisioner.local.hosts import HostFarm
from provisioner.local.interfaces import OWNER_TAG
from provisioner.local.reach import LocalReach
from provisioner.local.record import DaemonRecord
from provisioner.local.vpcnet import VpcNetworks
from provisioner.procs import ProcessIdentity, command_line
from tests.integration.packet_guard import PrivateTrafficCounter, counting_private_traffic

pytestmark = pytest.mark.integration

REGION = "us-east-1"
DB = "main"
PASSWORD = "local-test-pw-7c1f"  # a test value; sent to the host on stdin, never on a command line
NEW_PASSWORD = "local-test-pw-2d9e"
AVAILABLE_WITHIN = 60.0


@dataclass(frozen=True)
class Lab:
    cloud: LocalCloud
    rds: Any
    ec2: Any
    vpc_id: str
    db_subnets: tuple[str, ...]  # in zones a, b
    group_id: str
    client_route: Any
    key_file: Path
    known_hosts: Path


def clients(endpoint: str) -> tuple[Any, Any]:
    env = local_cloud_env(endpoint, REGION)
    options = {
        "endpoint_url": env["AWS_ENDPOINT_URL"],
        "region_name": REGION,
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
    }
    return boto3.client("rds", **options), boto3.client("ec2", **options)


def make_network(ec2: Any, rds: Any) -> tuple[str, list[dict[str, Any]], str]:
    """A VPC with subnets in zones b and a (the DB subnet group) and a, a DB group."""
    vpc = ec2.create_vpc(CidrBlock="10.73.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]
        for cidr, zone in (
            ("10.73.2.0/24", "us-east-1b"),
            ("10.73.1.0/24", "us-east-1a"),
            ("10.73.9.0/24", "us-east-1a"),
        )
    ]
    group = ec2.create_security_group(GroupName="db", Description="db", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
             "IpRanges": [{"CidrIp": "10.73.0.0/16"}]},
            # Security groups are enforced: the client host is reached over SSH.
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
             "IpRanges": [{"CidrIp": "10.73.0.0/16"}]},
        ],
    )  # fmt: skip
    rds.create_db_subnet_group(
        DBSubnetGroupName="main-db",
        DBSubnetGroupDescription="two private subnets",
        SubnetIds=[subnets[0]["SubnetId"], subnets[1]["SubnetId"]],
    )
    return vpc, subnets, group


@pytest.fixture(scope="module")
def guard() -> Iterator[PrivateTrafficCounter]:
    """Counts (and drops) every packet the main namespace sends to a private address."""
    with counting_private_traffic() as counter:
        yield counter


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, guard: PrivateTrafficCounter) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("dbplane")
    cloud = LocalCloud(root / "local")
    rds, ec2 = clients(cloud.start().endpoint or "")
    try:
        vpc, subnets, group = make_network(ec2, rds)
        key_file = root / "client_key"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_file)], check=True
        )
        public = key_file.with_suffix(".pub").read_text().strip()
        [instance] = ec2.run_instances(
            ImageId="ami-12c6146b",
            InstanceType="t3.micro",
            MinCount=1,
            MaxCount=1,
            SubnetId=subnets[2]["SubnetId"],
            SecurityGroupIds=[group],
            UserData=f"#cloud-config\nhostname: client\nssh_authorized_keys:\n  - {public}\n",
        )["Instances"]
        reach = LocalReach(HostFarm(cloud.paths.hosts))
        route = reach.route(instance["InstanceId"], instance["PrivateIpAddress"], timeout=60)
        # A fresh Debian host: its psql comes from the repository, through the VPC's relay.
        subprocess.run(
            ssh_command(route, root / "known_hosts", key_file,
                        ["apt-get", "install", "-y", "-q", "postgresql-client"]),
            capture_output=True, text=True, timeout=180, check=True,
        )  # fmt: skip
        yield Lab(
            cloud=cloud,
            rds=rds,
            ec2=ec2,
            vpc_id=vpc,
            db_subnets=(subnets[1]["SubnetId"], subnets[0]["SubnetId"]),
            group_id=group,
            client_route=route,
            key_file=key_file,
            known_hosts=root / "known_hosts",
        )
    finally:
        cloud.stop()


def create_database(rds: Any, identifier: str, **extra: Any) -> dict[str, Any]:
    answer = rds.create_db_instance(
        DBInstanceIdentifier=identifier,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="app",
        MasterUserPassword=PASSWORD,
        DBSubnetGroupName="main-db",
        **extra,
    )
    return dict(answer["DBInstance"])


def statuses_until_available(rds: Any, identifier: str) -> list[str]:
    """Every status that describe gives, from now until `available` (or the time limit)."""
    deadline = time.monotonic() + AVAILABLE_WITHIN
    seen = [status(rds, identifier)]
    while seen[-1] != "available" and time.monotonic() < deadline:
        time.sleep(0.1)
        seen.append(status(rds, identifier))
    return seen


def database_namespaces(lab: Lab) -> list[str]:
    prefix = VpcNetworks(lab.cloud.paths.hosts).prefix
    return sorted(n for n in netns.namespaces() if n.startswith(f"{prefix}-db-"))


def processes_in(namespace: str) -> list[ProcessIdentity]:
    """The processes of a namespace, each by pid and start time (zombies count as gone)."""
    found = [ProcessIdentity.of(pid) for pid in netns.pids(namespace)]
    return [process for process in found if process is not None]


def status(rds: Any, identifier: str = DB) -> str:
    [instance] = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    return str(instance["DBInstanceStatus"])


def interfaces(lab: Lab, arn: str) -> list[dict[str, Any]]:
    found = lab.ec2.describe_network_interfaces(
        Filters=[{"Name": f"tag:{OWNER_TAG}", "Values": [arn]}]
    )["NetworkInterfaces"]
    return list(found)


def psql(
    lab: Lab, address: str, sql: str, password: str = PASSWORD
) -> subprocess.CompletedProcess[str]:
    """Run SQL with psql on the client host (over SSH, through the VPC's namespace)."""
    remote = (
        "read -r PGPASSWORD; export PGPASSWORD PGCONNECT_TIMEOUT=3; "
        f'psql -X -At -h {address} -p 5432 -U app -d orders -c "{sql}"'
    )
    return subprocess.run(
        ssh_command(lab.client_route, lab.known_hosts, lab.key_file, ["sh", "-c", remote]),
        input=f"{password}\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def created(lab: Lab) -> dict[str, Any]:
    """The first DB instance: its create answer, the statuses seen, and the time to available."""
    started = time.monotonic()
    answer = create_database(
        lab.rds,
        DB,
        EngineVersion="15.4",
        AllocatedStorage=20,
        DBName="orders",
        VpcSecurityGroupIds=[lab.group_id],
    )
    seen = statuses_until_available(lab.rds, DB)
    elapsed = time.monotonic() - started
    print(f"create_db_instance to available: {elapsed:.1f}s")
    [interface] = interfaces(lab, answer["DBInstanceArn"])
    return {"answer": answer, "seen": seen, "elapsed": elapsed, "interface": interface}


def test_a_new_database_says_creating_until_postgresql_accepts_connections(
    created: dict[str, Any],
) -> None:
    assert created["answer"]["DBInstanceStatus"] == "creating"
    assert created["seen"][0] == "creating"
    assert created["seen"][-1] == "available", created["seen"]
    assert created["elapsed"] < AVAILABLE_WITHIN


def test_the_database_has_an_address_in_the_first_subnet_of_its_group(
    lab: Lab, created: dict[str, Any]
) -> None:
    interface = created["interface"]
    assert interface["SubnetId"] == lab.db_subnets[0]  # zone a before zone b
    assert interface["Description"] == "RDSNetworkInterface"
    assert [g["GroupId"] for g in interface["Groups"]] == [lab.group_id]
    addresses = subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout
    assert interface["PrivateIpAddress"] not in addresses  # never in the main namespace


def test_a_host_in_the_vpc_logs_in_with_the_master_password(
    lab: Lab, created: dict[str, Any]
) -> None:
    address = created["interface"]["PrivateIpAddress"]
    answer = psql(lab, address, "SELECT 1")
    assert (answer.returncode, answer.stdout.strip()) == (0, "1"), answer.stderr
    refused = psql(lab, address, "SELECT 1", password="not-the-password")
    assert refused.returncode != 0
    assert "password authentication failed" in refused.stderr


def test_a_minor_version_or_class_change_keeps_the_data_and_a_major_one_is_refused(
    lab: Lab, created: dict[str, Any]
) -> None:
    address = created["interface"]["PrivateIpAddress"]
    made = psql(lab, address, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('here')")
    assert made.returncode == 0, made.stderr
    lab.rds.modify_db_instance(
        DBInstanceIdentifier=DB,
        EngineVersion="15.8",
        DBInstanceClass="db.t3.small",
        ApplyImmediately=True,
    )
    with pytest.raises(ClientError) as refused:
        lab.rds.modify_db_instance(
            DBInstanceIdentifier=DB, EngineVersion="16.1", AllowMajorVersionUpgrade=True
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterCombination"
    [instance] = lab.rds.describe_db_instances(DBInstanceIdentifier=DB)["DBInstances"]
    assert (instance["EngineVersion"], instance["DBInstanceClass"]) == ("15.8", "db.t3.small")
    time.sleep(1.0)  # a few passes of the data plane
    assert status(lab.rds) == "available"
    read = psql(lab, address, "SELECT v FROM kept")
    assert (read.returncode, read.stdout.strip()) == (0, "here"), read.stderr


def test_the_database_follows_its_security_groups_and_admits_only_their_peers(
    lab: Lab, created: dict[str, Any]
) -> None:
    arn = created["answer"]["DBInstanceArn"]
    other = lab.ec2.create_security_group(GroupName="db-2", Description="db", VpcId=lab.vpc_id)
    lab.rds.modify_db_instance(
        DBInstanceIdentifier=DB, VpcSecurityGroupIds=[other["GroupId"]], ApplyImmediately=True
    )
    deadline = time.monotonic() + 10
    while [g["GroupId"] for g in interfaces(lab, arn)[0]["Groups"]] != [other["GroupId"]]:
        assert time.monotonic() < deadline, "the interface kept its old groups"
        time.sleep(0.1)
    [interface] = interfaces(lab, arn)
    address = created["interface"]["PrivateIpAddress"]
    assert interface["PrivateIpAddress"] == address
    # Groups are enforced on the database's own namespace: db-2 admits no one yet,
    # so the client, a host outside it, cannot reach PostgreSQL...
    assert psql(lab, address, "SELECT 1").returncode != 0
    # ...until db-2 admits the client's group, in place.
    lab.ec2.authorize_security_group_ingress(
        GroupId=other["GroupId"],
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
             "UserIdGroupPairs": [{"GroupId": lab.group_id}]},
        ],
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while (answer := psql(lab, address, "SELECT 1")).returncode != 0:
        assert time.monotonic() < deadline, answer.stderr
        time.sleep(0.2)


def test_a_new_master_password_replaces_the_old_one_in_place(
    lab: Lab, created: dict[str, Any]
) -> None:
    address = created["interface"]["PrivateIpAddress"]
    lab.rds.modify_db_instance(
        DBInstanceIdentifier=DB, MasterUserPassword=NEW_PASSWORD, ApplyImmediately=True
    )
    deadline = time.monotonic() + 10
    while psql(lab, address, "SELECT 1", password=NEW_PASSWORD).returncode != 0:
        assert time.monotonic() < deadline, "the new password never worked"
        time.sleep(0.2)
    assert psql(lab, address, "SELECT v FROM kept", password=PASSWORD).returncode != 0
    assert psql(lab, address, "SELECT v FROM kept", password=NEW_PASSWORD).stdout.strip() == "here"
    logs = [p for p in lab.cloud.paths.root.rglob("*.log") if p.is_file()]
    assert logs and not [p for p in logs if NEW_PASSWORD in p.read_text(errors="replace")]


def test_a_stopped_database_keeps_its_data_and_answers_again_once_started(
    lab: Lab, created: dict[str, Any]
) -> None:
    address = created["interface"]["PrivateIpAddress"]
    [namespace] = database_namespaces(lab)
    servers = processes_in(namespace)
    lab.rds.stop_db_instance(DBInstanceIdentifier=DB)
    deadline = time.monotonic() + 30
    while database_namespaces(lab) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert database_namespaces(lab) == []
    assert not [p for p in servers if p.is_alive()]
    assert (lab.cloud.paths.databases / DB / "server" / "data" / "PG_VERSION").is_file()

    assert lab.rds.start_db_instance(DBInstanceIdentifier=DB)["DBInstance"]["DBInstanceStatus"] == (
        "starting"
    )
    seen = statuses_until_available(lab.rds, DB)
    assert seen[0] == "starting" and seen[-1] == "available", seen
    read = psql(lab, address, "SELECT v FROM kept", password=NEW_PASSWORD)
    assert (read.returncode, read.stdout.strip()) == (0, "here"), read.stderr


def test_an_unserved_version_or_a_missing_password_is_refused_and_nothing_is_created(
    lab: Lab, created: dict[str, Any]
) -> None:
    with pytest.raises(ClientError) as refused:
        create_database(lab.rds, "newer", EngineVersion="16.1")
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameterCombination"
    assert "serves PostgreSQL 15 only" in error["Message"]
    assert "engine version 16.1 is not available" in error["Message"]
    with pytest.raises(ClientError) as unmanaged:  # no password of its own: nothing to initdb
        lab.rds.create_db_instance(
            DBInstanceIdentifier="managed",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="app",
            ManageMasterUserPassword=True,
            DBSubnetGroupName="main-db",
        )
    assert "needs MasterUsername and MasterUserPassword" in str(unmanaged.value)
    identifiers = [
        d["DBInstanceIdentifier"] for d in lab.rds.describe_db_instances()["DBInstances"]
    ]
    assert identifiers == [DB]
    assert not (lab.cloud.paths.databases / "newer").exists()


def test_deleting_the_database_removes_its_server_data_namespace_and_interface(
    lab: Lab, created: dict[str, Any]
) -> None:
    [namespace] = database_namespaces(lab)
    servers = processes_in(namespace)
    assert any("/bin/postgres" in " ".join(command_line(p.pid)) for p in servers)
    folder = lab.cloud.paths.databases / DB
    assert (folder / "server" / "data" / "PG_VERSION").is_file()
    assert not (folder / "server" / "pwfile").exists()

    lab.rds.delete_db_instance(DBInstanceIdentifier=DB, SkipFinalSnapshot=True)
    arn = created["answer"]["DBInstanceArn"]
    deadline = time.monotonic() + 30
    while (folder.exists() or interfaces(lab, arn)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not folder.exists()
    assert interfaces(lab, arn) == []
    assert namespace not in netns.namespaces()
    assert not [p for p in servers if p.is_alive()]


def test_stopping_the_local_cloud_removes_every_database(lab: Lab) -> None:
    create_database(lab.rds, "second")  # the default engine version
    assert statuses_until_available(lab.rds, "second")[-1] == "available"
    [namespace] = database_namespaces(lab)
    servers = processes_in(namespace)
    lab.cloud.stop()
    prefix = VpcNetworks(lab.cloud.paths.hosts).prefix
    assert not [n for n in netns.namespaces() if n.startswith(prefix)]
    assert not [p for p in servers if p.is_alive()]
    assert list(lab.cloud.paths.databases.iterdir()) == []


def test_the_servers_of_a_killed_daemon_are_removed_by_the_next_one(lab: Lab) -> None:
    rds, ec2 = clients(lab.cloud.start().endpoint or "")
    make_network(ec2, rds)
    create_database(rds, "orphan")
    assert statuses_until_available(rds, "orphan")[-1] == "available"
    [namespace] = database_namespaces(lab)
    servers = processes_in(namespace)
    record = DaemonRecord.load(lab.cloud.paths.record)
    assert record is not None
    os.kill(record.pid, signal.SIGKILL)
    while record.identity.is_alive():
        time.sleep(0.05)
    assert [p for p in servers if p.is_alive()]  # left behind

    lab.cloud.start()  # forgets the instance, and so removes what the killed daemon left
    folders = lab.cloud.paths.databases
    deadline = time.monotonic() + 30
    while list(folders.iterdir()) and time.monotonic() < deadline:  # its data goes last
        time.sleep(0.1)
    assert list(folders.iterdir()) == []
    assert database_namespaces(lab) == []
    assert not [p for p in servers if p.is_alive()]
    lab.cloud.stop()


def test_nothing_went_from_the_main_namespace_to_a_private_address(
    guard: PrivateTrafficCounter,
) -> None:
    assert guard.hooked_on_output()
    assert guard.dropped() == 0
