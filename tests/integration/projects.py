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

    def run(self, *args: str, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "PROVISION_STATE_DIR": str(self.state)}
        env.pop("CI", None)
        result = subprocess.run(
            [PROVISION, *args],
            cwd=self.root,
            env=env,
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
