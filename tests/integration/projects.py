"""A scratch project (environments, playbooks, state folder) driven with the real `provision` CLI.

Each test module makes its own project in a temporary folder, with a spec of its
own and therefore a local cloud of its own; what it checks it reads from the
outside: the cloud through boto3, the hosts over SSH, the state file, the run
records.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError

from provisioner import procs
from provisioner.local.control import LocalCloud
from provisioner.local.faultproxy import FaultProxy, Faults
from provisioner.local.hosts import HostFarm
from provisioner.local.record import DAEMON_MODULE, LocalPaths

ROOT = Path(__file__).resolve().parents[2]
TEST_PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
PROVISION = str(Path(sys.executable).parent / "provision")
REGION = "us-east-1"

# A role in one task: a file named after the role's `mark` variable, for checking over SSH
# that the role ran on a host (cheap: the suite runs many of these).
MARK_PLAYBOOK = """\
- name: mark
  hosts: all
  gather_facts: false
  tasks:
    - name: A file says this role ran here
      ansible.builtin.copy:
        dest: "/srv/mark-{{ mark }}"
        content: "{{ mark }} on {{ inventory_hostname }} in {{ provision_environment }}\\n"
        mode: "0644"
"""

# A role whose one task fails.
FAILING_PLAYBOOK = """\
- name: fail
  hosts: all
  gather_facts: false
  tasks:
    - name: Fail on purpose
      ansible.builtin.fail: {msg: injected}
"""

# What `Project.leftovers` says of an environment of which nothing is left.
NOTHING_LEFT: dict[str, object] = {
    "tagged": set(),
    "hosts": set(),
    "namespaces": [],
    "processes": [],
}

# (describe call, response key, id key) of every kind the providers make, bar instances.
_TAGGED_KINDS = (
    ("describe_vpcs", "Vpcs", "VpcId"),
    ("describe_subnets", "Subnets", "SubnetId"),
    ("describe_security_groups", "SecurityGroups", "GroupId"),
    ("describe_internet_gateways", "InternetGateways", "InternetGatewayId"),
    ("describe_route_tables", "RouteTables", "RouteTableId"),
    ("describe_key_pairs", "KeyPairs", "KeyPairId"),
)


class Project:
    """A project folder with the repository's playbooks, the tests' own, and its own state folder.

    The tests' playbooks (tests/integration/playbooks: a small key-value service
    and a page that reads it) give host tests a two-tier app without a database.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "environments").mkdir(parents=True, exist_ok=True)
        shutil.copytree(ROOT / "playbooks", root / "playbooks")
        shutil.copytree(TEST_PLAYBOOKS, root / "playbooks", dirs_exist_ok=True)
        (root / "playbooks" / "mark.yml").write_text(MARK_PLAYBOOK)
        self.state = root / ".provision"
        self.extra_env: dict[str, str] = {}

    # -- running the CLI ------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PROVISION_STATE_DIR": str(self.state), **self.extra_env}
        env.pop("CI", None)
        return env

    def run(
        self, *args: str, expect: int | None = 0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`provision ARGS` to its end; asserts its exit code unless `expect` is None."""
        result = subprocess.run(
            [PROVISION, *args],
            cwd=self.root,
            env=env or self.env(),
            capture_output=True,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=600,
            check=False,
        )
        if expect is not None:
            assert result.returncode == expect, result.stdout + result.stderr
        return result

    def run_json(self, *args: str, expect: int = 0) -> dict[str, Any]:
        report: dict[str, Any] = json.loads(self.run(*args, "--json", expect=expect).stdout)
        return report

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start `provision ARGS` without waiting; its output is line-buffered text."""
        return subprocess.Popen(
            [PROVISION, *args],
            cwd=self.root,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )

    def kill_at(self, marker: str | tuple[str, ...], *args: str) -> str:
        """Start `provision ARGS`, SIGKILL it and its processes (but the local cloud's daemon)
        as soon as it prints `marker` (or any of several); what it printed."""
        markers = (marker,) if isinstance(marker, str) else marker
        process = self.start(*args)
        assert process.stdout is not None
        seen: list[str] = []
        for line in process.stdout:
            seen.append(line)
            if any(m in line for m in markers):
                # With every process it started (Pulumi's engine, Ansible), as when its
                # machine goes down: a surviving engine would go on without it.
                for pid in [process.pid, *_descendants(process.pid)]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                break
        process.wait(timeout=60)
        process.stdout.close()
        assert any(m in line for line in seen for m in markers), "".join(seen)
        return "".join(seen)

    def crash_once(self, arrived: Callable[[], bool], *args: str, timeout: float = 120) -> str:
        """Start `provision ARGS` and, once `arrived()` (a call it made is on its way to the
        cloud), SIGKILL it with every process it started, as when its machine goes down.

        The engine wrote the operation in flight to the state before it called the
        cloud, so that operation stays pending for the next run to clear. (The local
        cloud's daemon, which outlives any run, is spared.) Returns what it printed.
        """
        process = self.start(*args)
        deadline = time.monotonic() + timeout
        while not arrived():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = process.communicate()[0]
                raise AssertionError(f"the call never arrived:\n{output}")
            time.sleep(0.05)
        for pid in [process.pid, *_descendants(process.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return process.communicate(timeout=60)[0]

    @contextlib.contextmanager
    def through_fault_proxy(self) -> Iterator[FaultProxy]:
        """Commands run while it is open reach the local cloud through a fault proxy
        (faults off until set with `use`)."""
        with FaultProxy(LocalCloud(self.state / "local").endpoint(), Faults()) as proxy:
            self.extra_env = {"PROVISION_LOCAL_ENDPOINT": proxy.endpoint}
            try:
                yield proxy
            finally:
                self.extra_env = {}

    def ssh(self, environment: str, host: str, *command: str) -> str:
        """Run `command` on a host over the project's SSH route; its output."""
        return self.run("ssh", environment, host, "--", *command).stdout

    def teardown(self, *environments: str) -> None:
        """Delete the environments (whatever state they are in); stop the local cloud."""
        self.extra_env = {}
        downs = [self.start("down", environment, "--yes") for environment in environments]
        for down in downs:  # at once: environments have a lock each
            down.communicate(timeout=600)
        LocalCloud(self.state / "local").stop()

    # -- specs and playbooks --------------------------------------------------------------

    def write_spec(self, name: str, spec: str | dict[str, Any]) -> None:
        text = spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False)
        (self.root / "environments" / f"{name}.yaml").write_text(text)

    def spec(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = yaml.safe_load(
            (self.root / "environments" / f"{name}.yaml").read_text()
        )
        return data

    def write_playbook(self, name: str, text: str) -> None:
        (self.root / "playbooks" / name).write_text(text)

    # -- looking from the outside ---------------------------------------------------------

    def ec2(self) -> Any:
        return self.client("ec2")

    def route53(self) -> Any:
        return self.client("route53")

    def s3(self) -> Any:
        return self.client("s3")

    def client(self, service: str) -> Any:
        """A boto3 client of `service` on the project's local cloud itself (never a fault proxy)."""
        endpoint = LocalCloud(self.state / "local").endpoint()
        return boto3.client(
            service,
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def zones(self, environment: str) -> dict[str, dict[str, Any]]:
        """The environment's live hosted zones by id, found by their CallerReference as the
        orphan sweep finds them: each zone's name, VPCs, tags and records (`NAME TYPE` ->
        value, without the zone's own SOA and NS)."""
        route53 = self.route53()
        found = {}
        for zone in route53.list_hosted_zones()["HostedZones"]:
            if not zone["CallerReference"].startswith(f"provision:{environment}:"):
                continue
            zone_id = zone["Id"].removeprefix("/hostedzone/")
            listed = route53.list_resource_record_sets(HostedZoneId=zone_id)
            [tag_set] = route53.list_tags_for_resources(
                ResourceType="hostedzone", ResourceIds=[zone_id]
            )["ResourceTagSets"]
            found[zone_id] = {
                "name": zone["Name"],
                "caller_reference": zone["CallerReference"],
                "private": zone["Config"]["PrivateZone"],
                "vpcs": route53.get_hosted_zone(Id=zone_id).get("VPCs", []),
                "tags": tags_of(tag_set),
                "address": tags_of(tag_set).get("provision:address", ""),
                "records": {
                    f"{r['Name']} {r['Type']}": ",".join(v["Value"] for v in r["ResourceRecords"])
                    for r in listed["ResourceRecordSets"]
                    if r["Type"] not in ("SOA", "NS")
                },
            }
        return found

    def farm(self) -> HostFarm:
        return HostFarm(LocalPaths(self.state / "local").hosts)

    def wait_for_hosts(self, count: int, timeout: float = 15.0) -> int:
        """The number of ready hosts once it is `count` (or when `timeout` ran out)."""
        deadline = time.monotonic() + timeout
        while True:
            ready = sum(1 for record in self.farm().records().values() if record.ready)
            if ready == count or time.monotonic() > deadline:
                return ready
            time.sleep(0.2)

    def state_ids(self, environment: str) -> set[str]:
        """The cloud ids the environment's Pulumi state records (state in files)."""
        return {str(r["id"]) for r in self.state_resources(environment) if r.get("id")}

    def state_resources(self, environment: str) -> list[dict[str, Any]]:
        """The cloud resources in the environment's Pulumi state file (not the stack)."""
        path = self.state / "state" / ".pulumi" / "stacks" / "provision" / f"{environment}.json"
        if not path.exists():
            return []
        resources = json.loads(path.read_text())["checkpoint"]["latest"].get("resources") or []
        return [r for r in resources if not str(r.get("type", "")).startswith("pulumi:")]

    def tagged_ids(self, environment: str) -> set[str]:
        """Every live cloud resource tagged as the environment's."""
        return {resource["id"] for resource in self.tagged(environment)}

    def tagged(self, environment: str) -> list[dict[str, str]]:
        """Every live cloud resource tagged as the environment's: its id, and its tags."""
        ec2 = self.ec2()
        filters = [{"Name": "tag:provision:env", "Values": [environment]}]
        found = [
            {"id": instance["InstanceId"], **tags_of(instance)}
            for instance in found_instances(ec2, filters)
        ]
        for describe, key, id_key in _TAGGED_KINDS:
            found += [
                {"id": item[id_key], **tags_of(item)}
                for item in getattr(ec2, describe)(Filters=filters)[key]
            ]
        return [
            *found,
            *self.tagged_buckets(environment),
            *self.tagged_load_balancing(environment),
            *self.tagged_databases(environment),
        ]

    def tagged_buckets(self, environment: str) -> list[dict[str, str]]:
        """Every bucket tagged as the environment's (S3 has no tag filter: each one is read)."""
        s3 = self.s3()
        found = []
        for bucket in s3.list_buckets()["Buckets"]:
            try:
                tagging = s3.get_bucket_tagging(Bucket=bucket["Name"])
            except ClientError:
                continue  # no tags (NoSuchTagSet), or gone since the listing
            tags = {str(t["Key"]): str(t["Value"]) for t in tagging["TagSet"]}
            if tags.get("provision:env") == environment:
                found.append({"id": bucket["Name"], **tags})
        return found

    def tagged_load_balancing(self, environment: str) -> list[dict[str, str]]:
        """Every load balancer and target group tagged as the environment's (by ARN)."""
        elbv2 = self.client("elbv2")
        arns = [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]]
        arns += [tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"]]
        described = elbv2.describe_tags(ResourceArns=arns)["TagDescriptions"] if arns else []
        return [
            {"id": d["ResourceArn"], **tags_of(d)}
            for d in described
            if tags_of(d).get("provision:env") == environment
        ]

    def tagged_databases(self, environment: str) -> list[dict[str, str]]:
        """Every DB instance and DB subnet group tagged as the environment's (by ARN)."""
        rds = self.client("rds")
        arns = [d["DBInstanceArn"] for d in rds.describe_db_instances()["DBInstances"]]
        arns += [g["DBSubnetGroupArn"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]]
        found = []
        for arn in arns:
            tags = {
                t["Key"]: t["Value"]
                for t in rds.list_tags_for_resource(ResourceName=arn)["TagList"]
            }
            if tags.get("provision:env") == environment:
                found.append({"id": arn, **tags})
        return found

    def data_plane(self) -> dict[str, list[str]]:
        """What the local cloud's data plane still runs or keeps: its HAProxy, PostgreSQL and
        dnsmasq processes (found by this project's state folder in their command line,
        environment or mounts), and the folders of its load balancers, databases and
        resolvers."""
        local = self.state / "local"
        processes = []
        for entry in Path("/proc").iterdir():
            try:
                name = (entry / "comm").read_text().strip()
                if name not in {"haproxy", "postgres", "dnsmasq"}:
                    continue
                seen = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
                # PostgreSQL sees its data through a bind mount of the state folder.
                seen += (entry / "mountinfo").read_bytes()
            except OSError:
                continue
            if str(local).encode() in seen or f"={self.state}".encode() in seen:
                processes.append(f"{entry.name} {name}")
        folders = [
            str(folder.relative_to(local))
            for kind in ("load_balancers", "databases", "resolvers")
            if (local / kind).is_dir()
            for folder in (local / kind).iterdir()
        ]
        return {"processes": sorted(processes), "folders": sorted(folders)}

    def leftovers(self, environment: str) -> dict[str, object]:
        """What is left of the environment after it was torn down; all empty when nothing is.

        Cloud resources tagged for it, ready hosts, host folders, namespaces of this
        project's local cloud, processes of its runs.
        """
        self.wait_for_hosts(0)
        prefix = self.farm().networks.prefix
        deadline = time.monotonic() + 15  # the data plane's next passes remove the rest
        while True:
            listed = subprocess.run(
                ["ip", "netns", "list"], capture_output=True, text=True, check=True
            ).stdout
            namespaces = [n for n in listed.split() if n.startswith(prefix)]
            if not namespaces or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        return {
            "tagged": self.tagged_ids(environment),
            "hosts": set(self.farm().records()),
            "namespaces": namespaces,
            "processes": self.marked_processes(environment),
        }

    def instances(self, environment: str, *, ec2: Any = None) -> dict[str, dict[str, Any]]:
        """The environment's live instances by address (`vm.web[0]`)."""
        filters = [{"Name": "tag:provision:env", "Values": [environment]}]
        return {
            tag(instance, "provision:address"): instance
            for instance in found_instances(ec2 or self.ec2(), filters)
        }

    def known_hosts(self, environment: str) -> Path:
        return self.state / "ssh" / environment / "known_hosts"

    def pinned(self, environment: str, instance_id: str) -> list[str]:
        """The host keys pinned for an instance (`ssh-keygen -F`), one line each."""
        found = subprocess.run(
            ["ssh-keygen", "-F", instance_id, "-f", str(self.known_hosts(environment))],
            capture_output=True,
            text=True,
            check=False,
        )
        return [line for line in found.stdout.splitlines() if line and not line.startswith("#")]

    def runs(self, environment: str) -> list[Path]:
        """The folders of the environment's recorded runs (plan, up, down, drift), oldest first."""
        folder = self.state / "runs" / environment
        if not folder.is_dir():
            return []
        return sorted(run for run in folder.iterdir() if (run / "run.json").exists())

    def events(self, run: Path, kind: str | None = None) -> list[dict[str, Any]]:
        """A run's recorded events (of one type, if given)."""
        lines = (run / "events.jsonl").read_text().splitlines()
        found = [json.loads(line) for line in lines if line.strip()]
        return [event for event in found if kind is None or event["type"] == kind]

    def marked_processes(self, environment: str) -> list[int]:
        """Live processes that carry the marker of one of the environment's runs."""
        folder = self.state / "runs" / environment
        runs = {run.name for run in folder.iterdir()} if folder.is_dir() else set()  # ssh too
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes().split(b"\0")
                status = (entry / "status").read_text()
            except OSError:
                continue
            if "\nState:\tZ" in status:
                continue  # a zombie is dead; reaping it is its parent's business
            marks = {
                item.split(b"=", 1)[1].decode(errors="replace")
                for item in environ
                if item.startswith(b"PROVISION_RUN_ID=")
            }
            if marks & runs:
                found.append(int(entry.name))
        return found


def found_instances(ec2: Any, filters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Instances matching `filters` that are not terminated or going."""
    return [
        instance
        for reservation in ec2.describe_instances(Filters=filters)["Reservations"]
        for instance in reservation["Instances"]
        if instance["State"]["Name"] not in ("terminated", "shutting-down")
    ]


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in resource.get("Tags", [])}


def tag(resource: dict[str, Any], key: str) -> str:
    return next((t["Value"] for t in resource.get("Tags", []) if t["Key"] == key), "")


def _descendants(parent: int) -> list[int]:
    """Every process below `parent`, but the local cloud's daemon."""
    found = []
    for child in procs.children(parent):
        if DAEMON_MODULE not in " ".join(procs.command_line(child)):
            found += [child, *_descendants(child)]
    return found
