"""A copy of the repository's environments and playbooks, run with the real `provision` CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import yaml

from provisioner.local.control import LocalCloud

ROOT = Path(__file__).resolve().parents[2]
PROVISION = str(Path(sys.executable).parent / "provision")


class Project:
    """A copy of the repository's environments and playbooks with its own state folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        shutil.copytree(ROOT / "environments", root / "environments")
        shutil.copytree(ROOT / "playbooks", root / "playbooks")
        self.state = root / ".provision"
        self.extra_env: dict[str, str] = {}

    def teardown(self, environment: str) -> None:
        """Delete the environment (whatever state it is in) and stop this project's local cloud."""
        self.extra_env = {}
        self.run("down", environment, "--yes", expect=None)
        LocalCloud(self.state / "local").stop()

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PROVISION_STATE_DIR": str(self.state), **self.extra_env}
        env.pop("CI", None)
        return env

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start `provision ARGS` without waiting; its output is line-buffered text."""
        return subprocess.Popen(
            [PROVISION, *args],
            cwd=self.root,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )

    def write_spec(self, name: str, text: str) -> None:
        (self.root / "environments" / f"{name}.yaml").write_text(text)

    def state_ids(self, environment: str) -> set[str]:
        """The cloud ids the environment's Pulumi state records (file backend)."""
        path = self.state / "state" / ".pulumi" / "stacks" / "provision" / f"{environment}.json"
        if not path.exists():
            return set()
        resources = json.loads(path.read_text())["checkpoint"]["latest"].get("resources") or []
        return {
            str(r["id"])
            for r in resources
            if r.get("id") and not str(r.get("type", "")).startswith("pulumi:")
        }

    def tagged_ids(self, environment: str) -> set[str]:
        """Every live cloud resource tagged as the environment's."""
        ec2 = self.ec2()
        filters = [{"Name": "tag:provision:env", "Values": [environment]}]
        found = {
            i["InstanceId"]
            for r in ec2.describe_instances(Filters=filters)["Reservations"]
            for i in r["Instances"]
            if i["State"]["Name"] not in ("terminated", "shutting-down")
        }
        for describe, key, id_key in (
            ("describe_vpcs", "Vpcs", "VpcId"),
            ("describe_subnets", "Subnets", "SubnetId"),
            ("describe_security_groups", "SecurityGroups", "GroupId"),
            ("describe_internet_gateways", "InternetGateways", "InternetGatewayId"),
            ("describe_route_tables", "RouteTables", "RouteTableId"),
            ("describe_key_pairs", "KeyPairs", "KeyPairId"),
        ):
            found |= {item[id_key] for item in getattr(ec2, describe)(Filters=filters)[key]}
        return found

    def run(self, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [PROVISION, *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if expect is not None:
            assert result.returncode == expect, result.stdout + result.stderr
        return result

    def plan(self) -> dict[str, Any]:
        plan: dict[str, Any] = json.loads(self.run("plan", "dev", "--json", "--no-hosts").stdout)
        return plan

    def edit_base(self, change: Any) -> None:
        path = self.root / "environments" / "base.yaml"
        spec = yaml.safe_load(path.read_text())
        change(spec)
        path.write_text(yaml.safe_dump(spec, sort_keys=False))

    def ec2(self) -> Any:
        endpoint = LocalCloud(self.state / "local").endpoint()
        return boto3.client(
            "ec2",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
