"""Buckets: S3's naming rules with located errors, the derived global name, the provider's
property table and diff, exactly-once creates, deletes that never lose objects by surprise."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.cloud.aws import clients, tags
from provisioner.cloud.aws.bucket import BucketProvider, Claim, arn, claim
from provisioner.cloud.aws.exactly_once import creation_token
from provisioner.cloud.aws.orphans import sweep
from provisioner.errors import CloudError
from provisioner.graph import CompiledEnvironment, compile_source
from provisioner.graph.kinds.bucket import BucketNode
from provisioner.spec import SpecError, resolve_environment
from provisioner.spec.addresses import Address
from provisioner.spec.kinds.bucket import BUCKET, BucketSpec, real_name

from .empty_service import EmptyService
from .fake_s3 import FakeS3

HEADER = "name: shop\ncloud: local\nregion: eu-west-1\n"
TAGS = {"provision:env": "shop", "provision:address": "bucket.assets", "Name": "shop-assets"}


def compiled(tmp_path: Path, body: str, name: str = "shop") -> CompiledEnvironment:
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(HEADER.replace("shop", name) + body)
    return compile_source(resolve_environment(str(spec), tmp_path))


def problems(tmp_path: Path, body: str, name: str = "shop") -> list[tuple[int, int, str, str]]:
    """Each problem as (line, column, field path, message)."""
    with pytest.raises(SpecError) as failure:
        compiled(tmp_path, body, name)
    return [
        (d.location.line, d.location.column, ".".join(map(str, d.path)), d.message)
        for d in failure.value.diagnostics
    ]


# --- the spec: S3's naming rules, the derived name ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("ab", "must be 3 to 63 characters long, not 2"),
        ("a" * 64, "must be 3 to 63 characters long, not 64"),
        ("Assets", "may hold only lowercase letters, digits, '.' and '-'"),
        ("assets_2", "may hold only lowercase letters, digits, '.' and '-'"),
        ("-assets", "must begin and end with a letter or digit"),
        ("assets.", "must begin and end with a letter or digit"),
        ("my..assets", "must not hold two adjacent periods"),
        ("192.168.5.4", "must not be an IP address"),
        ("xn--assets", "uses 'xn--', which S3 reserves"),
    ],
)
def test_a_bucket_name_that_breaks_s3s_rules_is_a_located_error(
    tmp_path: Path, name: str, reason: str
) -> None:
    body = f"buckets:\n  assets:\n    versioning: true\n    bucket_name: '{name}'\n"
    [(line, column, path, message)] = problems(tmp_path, body)
    assert (line, column, path) == (7, 5, "buckets.assets.bucket_name")
    assert reason in message and f"'{name}'" in message


def test_valid_bucket_names_with_dots_and_digits_pass(tmp_path: Path) -> None:
    body = "buckets:\n  a: {bucket_name: my.assets-2026}\n  b: {bucket_name: 9ab}\n"
    nodes = compiled(tmp_path, body).graph.of_kind(BUCKET)
    assert [n.bucket_name for n in nodes if isinstance(n, BucketNode)] == ["my.assets-2026", "9ab"]


def test_two_buckets_with_one_name_are_a_located_error(tmp_path: Path) -> None:
    body = "buckets:\n  a: {bucket_name: shared-logs}\n  b:\n    bucket_name: shared-logs\n"
    assert problems(tmp_path, body) == [
        (7, 5, "buckets.b.bucket_name", "bucket 'a' is named 'shared-logs' already")
    ]


def test_a_derived_name_that_s3_reserves_asks_for_a_bucket_name(tmp_path: Path) -> None:
    [(line, _, path, message)] = problems(tmp_path, "buckets:\n  logs: {}\n", name="sthree")
    assert (line, path) == (5, "buckets.logs")
    assert "uses 'sthree-', which S3 reserves: set bucket_name" in message


def test_the_real_name_is_environment_name_and_a_stable_suffix() -> None:
    suffix = hashlib.sha256(b"dev/assets").hexdigest()[:8]
    assert real_name("dev", "assets", BucketSpec()) == f"dev-assets-{suffix}"
    assert real_name("dev", "assets", BucketSpec()) == real_name("dev", "assets", BucketSpec())
    assert real_name("prod", "assets", BucketSpec()) != real_name("dev", "assets", BucketSpec())


def test_a_long_real_name_is_cut_to_s3s_63_characters_keeping_its_suffix() -> None:
    name = real_name("e" * 40, "n" * 40, BucketSpec())
    assert len(name) == 63 and name.startswith("e" * 40 + "-")
    assert name.endswith(hashlib.sha256(f"{'e' * 40}/{'n' * 40}".encode()).hexdigest()[:8])


def test_a_given_bucket_name_is_used_as_it_is() -> None:
    assert real_name("dev", "assets", BucketSpec(bucket_name="acme-assets")) == "acme-assets"


def test_the_graph_node_holds_the_real_name_and_the_settings(tmp_path: Path) -> None:
    graph = compiled(tmp_path, "buckets:\n  assets: {versioning: true}\n").graph
    node = graph.node(Address(BUCKET, "assets"))
    assert isinstance(node, BucketNode)
    assert node.attributes() == {
        "name": real_name("shop", "assets", BucketSpec()),
        "versioning": True,
        "public_access": False,
        "force_destroy": False,
    }
    assert not list(graph.dependencies(node.address))


# --- the provider's property table and diff ----------------------------------------------------


def props(**changes: Any) -> dict[str, Any]:
    base = {
        "bucket_name": "shop-assets",
        "region": "eu-west-1",
        "versioning": True,
        "public_access": False,
        "force_destroy": False,
        "tags": TAGS,
    }
    return {**base, **changes}


def test_the_property_table_gives_inputs_replacements_and_the_id_output() -> None:
    assert set(BucketProvider.inputs) == set(props())
    assert BucketProvider.replace_on == ("bucket_name", "region")
    assert BucketProvider.id_output == "bucket_id"
    assert set(BucketProvider.stable_outputs) == {"bucket_id", "arn"}


def test_versioning_public_access_and_tags_change_in_place() -> None:
    olds = {**props(), "bucket_id": "shop-assets", "arn": "arn:aws:s3:::shop-assets"}
    news = props(versioning=False, public_access=True, tags={**TAGS, "team": "web"})
    result = BucketProvider().diff("shop-assets", olds, news)
    assert result.changes and result.replaces == []


def test_a_new_name_replaces_the_bucket_making_the_new_one_first() -> None:
    result = BucketProvider().diff("shop-assets", props(), props(bucket_name="acme-assets"))
    assert result.replaces == ["bucket_name"] and result.delete_before_replace is False


def test_a_replacement_that_keeps_the_name_deletes_the_old_bucket_first() -> None:
    result = BucketProvider().diff("shop-assets", props(), props(region="eu-central-1"))
    assert result.replaces == ["region"] and result.delete_before_replace is True


def test_the_arn_comes_from_the_regions_partition() -> None:
    assert arn("b", "eu-west-1") == "arn:aws:s3:::b"
    assert arn("b", "cn-north-1") == "arn:aws-cn:s3:::b"
    assert arn("b", "us-gov-west-1") == "arn:aws-us-gov:s3:::b"


# --- creating exactly once ---------------------------------------------------------------------


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeS3]:
    fake = FakeS3("eu-west-1")
    monkeypatch.setattr(clients, "_shared", lambda service, region, retrying: fake)
    monkeypatch.setenv("PROVISION_RUN_ID", "run-1")
    yield fake


TOKEN = creation_token(TAGS, "run-1")


@pytest.mark.parametrize(
    ("tag_set", "decision"),
    [
        (None, Claim.ABSENT),
        ([], Claim.OURS),  # the lost attempt's own bucket, not tagged yet
        (tags.to_aws({**TAGS, tags.TOKEN_TAG: TOKEN}), Claim.OURS),
        (tags.to_aws({**TAGS, tags.TOKEN_TAG: "another-run"}), Claim.FOREIGN),
        (tags.to_aws({"owner": "someone"}), Claim.FOREIGN),
    ],
)
def test_a_bucket_of_the_name_is_adopted_only_if_this_create_made_it(
    tag_set: list[dict[str, str]] | None, decision: Claim
) -> None:
    assert claim(tag_set, TOKEN) is decision


def test_create_makes_the_bucket_with_its_tags_versioning_and_public_access_blocked(
    s3: FakeS3,
) -> None:
    created = BucketProvider().create(props())
    held = s3.buckets["shop-assets"]
    assert created.id == "shop-assets" and created.outs["arn"] == "arn:aws:s3:::shop-assets"
    assert created.outs["bucket_id"] == "shop-assets" and created.outs["tags"] == TAGS
    assert held.region == "eu-west-1" and held.versioning == "Enabled"
    assert held.blocks is not None and all(held.blocks.values()) and len(held.blocks) == 4
    assert tags.from_aws(held.tags) == TAGS
    assert tags.value_of(held.tags, tags.TOKEN_TAG) == TOKEN


def test_a_public_bucket_gets_no_public_access_block(s3: FakeS3) -> None:
    BucketProvider().create(props(public_access=True, versioning=False))
    held = s3.buckets["shop-assets"]
    assert held.blocks is None and held.versioning is None


def test_a_bucket_whose_create_answer_was_lost_is_adopted_not_made_again(s3: FakeS3) -> None:
    s3.lose = {"create_bucket"}
    BucketProvider().create(props())
    assert s3.calls.count("create_bucket") == 1  # found before a re-send
    assert tags.value_of(s3.buckets["shop-assets"].tags, tags.TOKEN_TAG) == TOKEN


def test_a_bucket_made_after_the_lookup_is_adopted_whatever_tags_the_cloud_gave_it(
    s3: FakeS3,
) -> None:
    """The local cloud gives a new bucket the tags of a deleted one of the same name."""
    s3.stale_tags["shop-assets"] = tags.to_aws({**TAGS, tags.TOKEN_TAG: "deleted-one"})
    s3.lose = {"create_bucket"}
    BucketProvider().create(props())
    assert s3.calls.count("create_bucket") == 1
    assert tags.value_of(s3.buckets["shop-assets"].tags, tags.TOKEN_TAG) == TOKEN


def test_an_untagged_bucket_of_the_name_is_adopted_without_a_create(s3: FakeS3) -> None:
    """Made by an attempt that died before it tagged the bucket."""
    s3.create_bucket(Bucket="shop-assets", CreateBucketConfiguration={})
    s3.calls.clear()
    BucketProvider().create(props())
    assert "create_bucket" not in s3.calls
    assert tags.value_of(s3.buckets["shop-assets"].tags, tags.TOKEN_TAG) == TOKEN


def test_a_bucket_this_account_holds_with_other_tags_is_refused(s3: FakeS3) -> None:
    s3.create_bucket(Bucket="shop-assets")
    s3.buckets["shop-assets"].tags = tags.to_aws({**TAGS, tags.TOKEN_TAG: "another-run"})
    s3.calls.clear()
    with pytest.raises(CloudError, match="'shop-assets' exists already and is not one this run"):
        BucketProvider().create(props())
    assert tags.value_of(s3.buckets["shop-assets"].tags, tags.TOKEN_TAG) == "another-run"
    assert s3.calls == []


def test_a_name_another_account_holds_is_refused_clearly(s3: FakeS3) -> None:
    s3.taken = {"shop-assets"}
    with pytest.raises(CloudError, match="taken by another AWS account: choose another"):
        BucketProvider().create(props())
    assert s3.buckets == {}


def test_an_update_of_the_tags_keeps_the_create_token(s3: FakeS3) -> None:
    created = BucketProvider().create(props())
    BucketProvider().update(created.id, created.outs, props(tags={**TAGS, "team": "web"}))
    held = s3.buckets["shop-assets"]
    assert tags.from_aws(held.tags) == {**TAGS, "team": "web"}
    assert tags.value_of(held.tags, tags.TOKEN_TAG) == TOKEN


def test_an_update_suspends_versioning_and_unblocks_public_access(s3: FakeS3) -> None:
    created = BucketProvider().create(props())
    BucketProvider().update(created.id, created.outs, props(versioning=False, public_access=True))
    held = s3.buckets["shop-assets"]
    assert held.versioning == "Suspended" and held.blocks is None


# --- reading -----------------------------------------------------------------------------------


def test_read_many_reads_each_bucket_and_drops_the_gone(s3: FakeS3) -> None:
    BucketProvider().create(props())
    s3.buckets["shop-assets"].versioning = "Suspended"  # switched off out of band
    s3.buckets["shop-assets"].blocks = {"BlockPublicAcls": False}
    live = BucketProvider.read_many(s3, {"shop-assets": props(), "gone-bucket": props()})
    assert live == {
        "shop-assets": {
            "bucket_name": "shop-assets",
            "versioning": False,
            "public_access": True,
            "tags": TAGS,
            "bucket_id": "shop-assets",
        }
    }


# --- deleting ----------------------------------------------------------------------------------


def test_an_empty_bucket_may_be_deleted(s3: FakeS3) -> None:
    BucketProvider().create(props())
    assert BucketProvider.delete_blocker(s3, "shop-assets", props()) is None
    assert BucketProvider.delete_blocker(s3, "gone-bucket", props()) is None


def test_a_bucket_holding_objects_may_not_be_deleted_and_says_how_many(s3: FakeS3) -> None:
    BucketProvider().create(props())
    for key in ("a", "b", "a"):
        s3.put_object("shop-assets", key)
    why = BucketProvider.delete_blocker(s3, "shop-assets", props())
    assert why == (
        "bucket 'shop-assets' holds 2 objects and 1 older versions or delete markers, "
        "and force_destroy is false"
    )
    assert BucketProvider.delete_blocker(s3, "shop-assets", props(force_destroy=True)) is None


def test_delete_without_force_destroy_refuses_a_non_empty_bucket(s3: FakeS3) -> None:
    BucketProvider().create(props())
    s3.put_object("shop-assets", "a")
    with pytest.raises(CloudError, match="'shop-assets' is not empty and force_destroy is false"):
        BucketProvider().delete("shop-assets", props())
    assert len(s3.buckets["shop-assets"].versions) == 1


def test_force_destroy_deletes_every_version_and_marker_first(s3: FakeS3) -> None:
    BucketProvider().create(props(force_destroy=True))
    for key in ("a", "a", "b"):
        s3.put_object("shop-assets", key)
    s3.buckets["shop-assets"].markers.append({"Key": "b", "VersionId": "m1"})
    BucketProvider().delete("shop-assets", props(force_destroy=True))
    assert s3.buckets == {}


def test_the_sweep_deletes_an_empty_orphan_bucket_and_keeps_a_full_one(s3: FakeS3) -> None:
    provider = BucketProvider()
    for name in ("shop-known", "shop-empty", "shop-full"):
        provider.create(props(bucket_name=name))
    s3.put_object("shop-full", "a")
    s3.create_bucket(Bucket="other-env")
    s3.buckets["other-env"].tags = tags.to_aws({"provision:env": "other"})
    swept = sweep(lambda service: s3 if service == "s3" else EmptyService(), "shop", {"shop-known"})
    assert swept.deleted == ["shop-empty"]
    assert swept.kept == {
        "shop-full": "bucket 'shop-full' holds 1 objects, and force_destroy is false"
    }
    assert sorted(s3.buckets) == ["other-env", "shop-full", "shop-known"]
