"""Buckets on the local cloud: made, planned, drifted, swept, rolled back and torn down.

A cloud-only environment of two buckets goes through up, plan, drift, the
recovery from a run killed while a bucket's create was in flight (with orphan
buckets of the environment made by hand besides), and a `down` that refuses
while a bucket holds objects. A second environment (a bucket beside a network
whose subnet the cloud refuses, made after a held VPC create so that the bucket
exists first) shows rollback deleting an empty bucket and keeping a full one.
Faults come from a fault proxy in front of the local cloud; what exists is read
from the outside, with boto3's S3 calls on the local cloud itself.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from provisioner.cloud.aws.tags import TOKEN_TAG
from provisioner.local.faultproxy import FaultProxy, Faults
from tests.integration.projects import Project

pytestmark = pytest.mark.integration

ENV = "bkt"
SPEC = """\
name: bkt
cloud: local
region: us-east-1
buckets:
  data: {versioning: true, tags: {team: data}}
  scratch: {force_destroy: true}
"""
ALL_BLOCKED = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}

FAILING = "bktfail"
FAILING_SPEC = """\
name: bktfail
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.68.0.0/16}
subnets:
  a: {network: main, cidr: 10.68.1.0/24}
buckets:
  full: {}
  empty: {}
"""
# How long the proxy holds a create: buckets made meanwhile can be filled in time; a run
# killed while its bucket's create is held leaves the create pending.
HOLD = 4.0


def real_name(environment: str, name: str) -> str:
    suffix = hashlib.sha256(f"{environment}/{name}".encode()).hexdigest()[:8]
    return f"{environment}-{name}-{suffix}"


DATA, SCRATCH = real_name(ENV, "data"), real_name(ENV, "scratch")
FULL, EMPTY = real_name(FAILING, "full"), real_name(FAILING, "empty")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("buckets"))
    project.write_spec(ENV, SPEC)
    project.write_spec(FAILING, FAILING_SPEC)
    project.run("local", "start")
    yield project
    s3 = project.s3()
    for bucket in s3.list_buckets()["Buckets"]:  # what a failed test may have filled
        empty(s3, bucket["Name"])
    project.teardown(ENV, FAILING)


@pytest.fixture(scope="module")
def proxy(project: Project) -> Iterator[FaultProxy]:
    with project.through_fault_proxy() as running:
        yield running


def empty(s3: Any, bucket: str) -> None:
    listed = s3.list_object_versions(Bucket=bucket)
    versions = [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]
    for version in versions:
        s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])


def buckets(project: Project, environment: str = ENV) -> set[str]:
    return {found["id"] for found in project.tagged_buckets(environment)}


def drift(project: Project, expect: int) -> dict[str, Any]:
    return project.run_json("drift", ENV, "--no-hosts", expect=expect)


def test_up_makes_each_bucket_with_versioning_public_access_blocked_and_tags(
    project: Project,
) -> None:
    result = project.run("up", ENV, "--yes")
    s3 = project.s3()
    assert buckets(project) == {DATA, SCRATCH} == project.state_ids(ENV)
    assert s3.get_bucket_versioning(Bucket=DATA)["Status"] == "Enabled"
    assert "Status" not in s3.get_bucket_versioning(Bucket=SCRATCH)
    for name in (DATA, SCRATCH):
        block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        assert block == ALL_BLOCKED
    [data] = [b for b in project.tagged_buckets(ENV) if b["id"] == DATA]
    assert data["provision:address"] == "bucket.data" and data["team"] == "data"
    assert len(data[TOKEN_TAG]) == 32
    assert "Applied." in result.stdout


def test_a_versioning_change_plans_as_an_update_in_place(project: Project) -> None:
    changed = SPEC.replace("versioning: true", "versioning: false")
    project.write_spec(ENV, changed)
    try:
        plan = project.run_json("plan", ENV, "--no-hosts", "--detailed-exitcode", expect=2)
    finally:
        project.write_spec(ENV, SPEC)
    [change] = [c for c in plan["changes"] if c["action"] != "no-op"]
    assert (change["address"], change["action"]) == ("bucket.data", "update")
    assert [(p["path"], p["before"], p["after"]) for p in change["diff"]] == [
        ("versioning", True, False)
    ]


def test_drift_catches_versioning_switched_off_and_up_restores_it(project: Project) -> None:
    s3 = project.s3()
    s3.put_bucket_versioning(Bucket=DATA, VersioningConfiguration={"Status": "Suspended"})
    report = drift(project, expect=2)
    [change] = report["changes"]
    assert (change["address"], change["action"]) == ("bucket.data", "update")
    assert [(p["path"], p["before"], p["after"]) for p in change["diff"]] == [
        ("versioning", True, False)
    ]
    project.run("up", ENV, "--yes")
    assert s3.get_bucket_versioning(Bucket=DATA)["Status"] == "Enabled"
    assert drift(project, expect=0)["changes"] == []


def test_recovery_sweeps_empty_orphan_buckets_and_keeps_a_full_one(
    project: Project, proxy: FaultProxy
) -> None:
    """A run killed while it makes a bucket (held by the proxy), and orphans of the
    environment made by hand: the next run's recovery sweeps them."""
    s3 = project.s3()
    orphans = {"bkt-orphan-empty", "bkt-orphan-full"}
    for name in orphans:
        s3.create_bucket(Bucket=name)
        tagging = {"TagSet": [{"Key": "provision:env", "Value": ENV}]}
        s3.put_bucket_tagging(Bucket=name, Tagging=tagging)
    s3.put_object(Bucket="bkt-orphan-full", Key="kept.txt", Body=b"keep me")
    late = real_name(ENV, "late")
    project.write_spec(ENV, SPEC + "  late: {}\n")
    proxy.use(Faults(latency=HOLD, latency_actions=frozenset({"CreateBucket"})))
    try:
        project.crash_once(lambda: arrived(proxy, "CreateBucket"), "up", ENV, "--yes")
        proxy.use(Faults())
        recovered = project.run("up", ENV, "--yes")
    finally:
        project.write_spec(ENV, SPEC)
    note = " ".join(recovered.stdout.split() + recovered.stderr.split())
    assert "orphan bkt-orphan-empty" in note
    assert (
        "orphan bkt-orphan-full (kept: bucket 'bkt-orphan-full' holds 1 objects, "
        "and force_destroy is false)" in note
    )
    live = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
    assert "bkt-orphan-empty" not in live and "bkt-orphan-full" in live
    assert buckets(project) - {"bkt-orphan-full"} == project.state_ids(ENV)
    assert project.state_ids(ENV) == {DATA, SCRATCH, late}
    empty(s3, "bkt-orphan-full")
    s3.delete_bucket(Bucket="bkt-orphan-full")


def test_down_refuses_a_bucket_that_holds_objects_and_deletes_nothing(project: Project) -> None:
    s3 = project.s3()
    s3.put_object(Bucket=DATA, Key="report.csv", Body=b"a,b\n")
    s3.put_object(Bucket=SCRATCH, Key="tmp.txt", Body=b"scratch")  # force_destroy: deletable
    before = project.state_ids(ENV)
    refused = project.run("down", ENV, "--yes", expect=1)
    message = " ".join(refused.stderr.split())
    assert f"bucket.data: bucket '{DATA}' holds 1 objects, and force_destroy is false" in message
    assert "nothing was deleted" in message
    assert project.state_ids(ENV) == before == buckets(project)
    assert s3.list_objects_v2(Bucket=SCRATCH)["KeyCount"] == 1


def test_down_deletes_an_emptied_bucket_and_a_force_destroy_one_with_its_objects(
    project: Project,
) -> None:
    s3 = project.s3()
    s3.delete_object(Bucket=DATA, Key="report.csv")  # a delete marker: still not empty
    assert project.run("down", ENV, "--yes", expect=1).returncode == 1
    empty(s3, DATA)
    project.run("down", ENV, "--yes")
    assert buckets(project) == set() == project.state_ids(ENV)
    assert project.tagged(ENV) == []


# --- rollback ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rolled_back(project: Project, proxy: FaultProxy) -> str:
    """`up` of FAILING, whose subnet the cloud refuses once the held VPC is made; its output.

    One of its buckets is filled as soon as it exists, the other is left empty.
    """
    proxy.use(
        Faults(
            latency=HOLD,
            latency_actions=frozenset({"CreateVpc"}),
            permanent={"CreateSubnet": "InvalidSubnet.Conflict"},
        )
    )
    process = project.start("up", FAILING, "--yes")
    made, s3 = {FULL, EMPTY}, project.s3()
    deadline = time.monotonic() + 60
    while not made <= buckets(project, FAILING):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.2)
    s3.put_object(Bucket=FULL, Key="late.txt", Body=b"written during the run")
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 1, output
    return " ".join(output.split())


def test_a_failed_runs_rollback_deletes_what_it_made_but_a_bucket_filled_meanwhile(
    project: Project, rolled_back: str
) -> None:
    assert "InvalidSubnet.Conflict" in rolled_back
    assert (
        f"kept bucket.full: bucket '{FULL}' holds 1 objects, and force_destroy is false; "
        "every other resource was deleted" in rolled_back
    )
    assert project.state_ids(FAILING) == {FULL} == {r["id"] for r in project.tagged(FAILING)}


def test_down_then_deletes_the_emptied_bucket_leaving_nothing(
    project: Project, rolled_back: str
) -> None:
    empty(project.s3(), FULL)
    project.run("down", FAILING, "--yes")
    assert project.tagged(FAILING) == [] and project.state_ids(FAILING) == set()


def arrived(proxy: FaultProxy, action: str) -> bool:
    """Whether a call `action` has reached the proxy (which holds it before the cloud)."""
    return action in proxy.counts.actions
