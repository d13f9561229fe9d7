"""The real Pulumi CLI drives a boto3 dynamic provider against the moto server.

One stack goes through preview, up, refresh, an in-place change, a replacement
and destroy; after each step boto3 checks what exists in the local cloud.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pulumi
import pytest

from provisioner.cloud.aws.base import AwsResource
from provisioner.cloud.aws.target import local_cloud_env
from provisioner.cloud.aws.vpc import VpcProvider
from provisioner.cloud.pulumi.stack import Program, PulumiStack
from provisioner.cloud.pulumi.workspace import EngineSettings
from provisioner.errors import ProvisionError

from .conftest import REGION

pytestmark = pytest.mark.integration


def vpc_program(cidr: str, tags: dict[str, str]) -> Program:
    def program() -> None:
        inputs = {"cidr_block": cidr, "region": REGION, "tags": tags}
        vpc = AwsResource(VpcProvider(), "main", inputs)
        pulumi.export("vpc_id", vpc.output("vpc_id"))

    return program


def vpcs_tagged(ec2: Any, run_id: str) -> list[dict[str, Any]]:
    filters = [{"Name": "tag:provision:run", "Values": [run_id]}]
    vpcs: list[dict[str, Any]] = ec2.describe_vpcs(Filters=filters)["Vpcs"]
    return vpcs


def tag_value(vpc: dict[str, Any], key: str) -> str | None:
    return next((tag["Value"] for tag in vpc.get("Tags", []) if tag["Key"] == key), None)


def test_engine_round_trip_creates_refreshes_updates_replaces_and_destroys_a_vpc(
    tmp_path: Path, local_endpoint: str, ec2: Any
) -> None:
    run_id = uuid.uuid4().hex
    tags = {"provision:run": run_id, "Name": "roundtrip", "tier": "one"}
    settings = EngineSettings(
        state_url=(tmp_path / "state").as_uri(),
        pulumi_home=tmp_path / "pulumi-home",
        passphrase="roundtrip-test-passphrase",
        env=local_cloud_env(local_endpoint, REGION),
    )
    (tmp_path / "state").mkdir()
    stack = PulumiStack("roundtrip", "test", vpc_program("10.10.0.0/16", tags), settings)

    preview = stack.preview()
    assert preview.summary.get("create") == 2  # the stack itself and the VPC
    assert vpcs_tagged(ec2, run_id) == []

    created = stack.up()
    assert created.summary == {"create": 2}
    [vpc] = vpcs_tagged(ec2, run_id)
    assert vpc["VpcId"] == created.outputs["vpc_id"]
    assert vpc["CidrBlock"] == "10.10.0.0/16"
    assert tag_value(vpc, "tier") == "one"

    # An engine killed between its checkpoint and the attribute file beside it breaks
    # every later operation of this stack object, until it repairs the state files.
    attributes = tmp_path / "state" / ".pulumi" / "stacks" / "roundtrip" / "test.json.attrs"
    attributes.write_text("")
    with pytest.raises(ProvisionError, match="failed to load checkpoint: EOF"):
        stack.refresh()
    assert stack.repair_after_kill() == 1
    assert stack.refresh().summary == {"same": 2}

    # An out-of-band tag change is read back into state by refresh.
    ec2.create_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": "tier", "Value": "edited"}])
    refreshed = stack.refresh()
    assert refreshed.summary.get("update") == 1
    [vpc_state] = [r for r in stack.resource_states() if r.get("id") == vpc["VpcId"]]
    assert vpc_state["outputs"]["tags"]["tier"] == "edited"

    # A tag change is an in-place update: same VPC, new tags.
    stack.set_program(vpc_program("10.10.0.0/16", {**tags, "tier": "two"}))
    updated = stack.up()
    assert updated.summary.get("update") == 1
    [vpc] = vpcs_tagged(ec2, run_id)
    assert vpc["VpcId"] == created.outputs["vpc_id"]
    assert tag_value(vpc, "tier") == "two"

    # A CIDR change replaces the VPC: a new one exists, the old one is gone.
    stack.set_program(vpc_program("10.20.0.0/16", {**tags, "tier": "two"}))
    replaced = stack.up()
    assert replaced.summary.get("replace") == 1
    [vpc] = vpcs_tagged(ec2, run_id)
    assert vpc["VpcId"] == replaced.outputs["vpc_id"] != created.outputs["vpc_id"]
    assert vpc["CidrBlock"] == "10.20.0.0/16"

    destroyed = stack.destroy()
    assert destroyed.summary == {"delete": 2}
    assert vpcs_tagged(ec2, run_id) == []
