"""A spec's `state: s3://...` keeps the Pulumi state in S3, here the local cloud's (moto) S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from provisioner.local.control import LocalCloud

pytestmark = pytest.mark.integration

PROVISION = str(Path(sys.executable).parent / "provision")
SPEC = """\
name: s3state
cloud: local
region: us-east-1
state: s3://provision-state/envs
networks:
  main: {cidr: 10.40.0.0/16}
subnets:
  a: {network: main, cidr: 10.40.1.0/24}
"""


def test_state_in_s3_survives_between_runs_and_is_emptied_by_down(tmp_path: Path) -> None:
    (tmp_path / "environments").mkdir()
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "environments" / "s3state.yaml").write_text(SPEC)
    env = {**os.environ, "PROVISION_STATE_DIR": str(tmp_path / ".provision")}

    def provision(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PROVISION, *args], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )

    cloud = LocalCloud(tmp_path / ".provision" / "local")
    try:
        assert provision("up", "s3state", "--yes").returncode == 0
        s3 = boto3.client(
            "s3",
            endpoint_url=cloud.endpoint(),
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="provision-state")["Contents"]]
        assert "envs/.pulumi/stacks/provision/s3state.json" in keys
        assert not (tmp_path / ".provision" / "state").exists()
        assert provision("plan", "s3state", "--detailed-exitcode").returncode == 0
        locks = [o["Key"] for o in s3.list_objects_v2(Bucket="provision-state")["Contents"]]
        assert "envs/.provision-locks/s3state.json" not in locks  # released after each run

        # The lock is an S3 object written only if absent: a second run is refused.
        held = {
            "host": "ci-runner-7",
            "pid": 4242,
            "started_at": "2026-01-01T00:00:00Z",
            "command": "provision up s3state --yes",
            "run_id": "20260101T000000Z-other",
        }
        s3.put_object(
            Bucket="provision-state",
            Key="envs/.provision-locks/s3state.json",
            Body=json.dumps(held).encode(),
        )
        refused = provision("up", "s3state", "--yes")
        assert refused.returncode == 1
        assert "s3state is locked by pid 4242 on ci-runner-7" in refused.stderr
        unlocked = provision("unlock", "s3state", "--force")
        assert "held by pid 4242 on ci-runner-7" in unlocked.stdout
        assert provision("down", "s3state", "--yes").returncode == 0
        vpcs = boto3.client(
            "ec2",
            endpoint_url=cloud.endpoint(),
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        ).describe_vpcs(Filters=[{"Name": "tag:provision:env", "Values": ["s3state"]}])["Vpcs"]
        assert vpcs == []
    finally:
        cloud.stop()
