"""S3 bucket: a boto3 dynamic resource named globally, whose objects are never deleted by surprise.

Creating. CreateBucket takes no idempotency token and no tags, so the name is looked
up first. If no bucket has it, whatever has it after an attempt whose answer was
lost is that attempt's (a re-send would meet `BucketAlreadyOwnedByYou`, or success in
us-east-1): the lookup before each re-send adopts it. A bucket that had the name
already is adopted only if it is this create's own by its tags (`claim`); tags are
not trusted on one made after the lookup, as the local cloud gives a new bucket
the tags of a deleted one of its name. Tags (with the create token), versioning
and the public access block follow.

Replacing. The name is the id and is global: a replacement that keeps it (a new
region) deletes the old bucket first; one with a new name makes the new one first.

Deleting. A bucket that holds objects (any version or delete marker) is deleted
only with `force_destroy`, which deletes them first. Otherwise `delete_blocker`
names it: `down`, rollback and the orphan sweep leave it and say so.

Reading. S3 has no bulk describe and no tag filter: `read_many` reads each bucket
(4 calls); `orphans` lists the region's buckets and reads each one's tags.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from enum import Enum
from typing import Any, ClassVar

from botocore.exceptions import ClientError
from pulumi.dynamic import CreateResult, DiffResult, UpdateResult

from provisioner.cloud.aws import clients, tags
from provisioner.cloud.aws.base import (
    AwsProvider,
    Described,
    Outputs,
    Prop,
    prop_table,
    undo_on_failure,
)
from provisioner.cloud.aws.exactly_once import (
    ENV_TAG,
    create_exactly_once,
    creation_token,
    current_run_id,
    delete_confirmed,
    error_code,
    settle,
)
from provisioner.cloud.aws.kind import CloudKind
from provisioner.errors import CloudError
from provisioner.spec.kinds.bucket import BUCKET

# head_bucket answers a missing bucket with a bare 404 (a HEAD has no body).
_GONE = frozenset({"NoSuchBucket", "404", "NotFound"})
# Buckets listed in the region whose tags cannot be read are not ours to judge.
_UNREADABLE = frozenset({*_GONE, "AccessDenied"})
_ALL_BLOCKED = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
# S3's DeleteObjects takes at most 1000 keys; a listing page holds as many.
_PAGE = 1000


class Claim(Enum):
    """Whose a bucket that has the name a create is about to use is."""

    ABSENT = "absent"  # no such bucket
    OURS = "ours"  # made by this create: its token, or no tags yet
    FOREIGN = "foreign"  # someone else's (another address, environment or run)


def claim(tag_set: list[dict[str, Any]] | None, token: str) -> Claim:
    """Whose the bucket with `tag_set` (None: there is none) is, for the create with `token`."""
    if tag_set is None:
        return Claim.ABSENT
    if not tag_set or tags.value_of(tag_set, tags.TOKEN_TAG) == token:
        return Claim.OURS
    return Claim.FOREIGN


def arn(name: str, region: str) -> str:
    """The bucket's ARN (S3 returns none): its partition comes from the region."""
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    partition = "aws-us-gov" if region.startswith("us-gov-") else partition
    return f"arn:{partition}:s3:::{name}"


class BucketProvider(AwsProvider):
    """One bucket: versioning, the public access block and tags change in place."""

    service = "s3"
    # The id is the bucket's name: S3 knows a bucket by name.
    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("bucket_name", "region"),
        inputs=("versioning", "public_access", "force_destroy", "tags"),
        id_output="bucket_id",
        stable=("arn",),
    )
    not_found = _GONE

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = super().diff(id_, olds, news)
        # Two buckets cannot share a name, even for a moment.
        result.delete_before_replace = olds.get("bucket_name") == news.get("bucket_name")
        return result

    def create(self, props: dict[str, Any]) -> CreateResult:
        s3 = self.client(props)
        name, region = props["bucket_name"], props["region"]
        token = creation_token(props["tags"], current_run_id())
        self._create_once(s3, name, region, token)
        with undo_on_failure(lambda: self.remove(s3, name, {})):
            settle(lambda: self._put_tags(s3, name, {**props["tags"], tags.TOKEN_TAG: token}))
            if props["versioning"]:
                self._set_versioning(s3, name, enabled=True)
            self._set_public_access(s3, name, public=props["public_access"])
        return CreateResult(id_=name, outs={**props, "bucket_id": name, "arn": arn(name, region)})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        s3 = self.client(news)
        if olds.get("versioning") != news["versioning"]:
            self._set_versioning(s3, id_, enabled=news["versioning"])
        if olds.get("public_access") != news["public_access"]:
            self._set_public_access(s3, id_, public=news["public_access"])
        if olds.get("tags") != news["tags"]:
            # PutBucketTagging replaces the whole set: the create token is kept.
            token = tags.value_of(self._tag_set(s3, id_), tags.TOKEN_TAG)
            kept = {tags.TOKEN_TAG: token} if token else {}
            self._put_tags(s3, id_, {**news["tags"], **kept})
        return UpdateResult(outs={**news, **self.kept(olds)})

    @classmethod
    def _create_once(cls, s3: Any, name: str, region: str, token: str) -> str:
        """Make the bucket once; adopt one of that name only if it is this create's own."""
        found = claim(cls._tag_set(s3, name), token)
        if found is Claim.FOREIGN:
            raise CloudError(
                f"bucket '{name}' exists already and is not one this run made "
                "(it has other tags): delete it, or give this bucket another bucket_name"
            )
        if found is Claim.OURS:
            return name  # made by an attempt that died before tagging it
        # None existed: from now on, whatever has this name is what this create made.
        once = clients.client_once(cls.service, region)
        request: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": region}

        def send() -> str:
            try:
                once.create_bucket(**request)
            except ClientError as error:
                if error_code(error) == "BucketAlreadyExists":
                    raise CloudError(
                        f"bucket name '{name}' is taken by another AWS account: "
                        "choose another bucket_name"
                    ) from error
                if error_code(error) != "BucketAlreadyOwnedByYou":
                    raise  # owned by us: made by an earlier attempt of this create
            return name

        def find() -> str | None:
            return name if cls._tag_set(s3, name) is not None else None

        return create_exactly_once(send, find)

    @classmethod
    def read_one(cls, client: Any, id_: str, recorded: Mapping[str, Any]) -> Outputs | None:
        """Four reads: S3 has no describe of many buckets at once."""
        client.head_bucket(Bucket=id_)
        versioning = client.get_bucket_versioning(Bucket=id_).get("Status") == "Enabled"
        public = cls._public(client, id_)
        tag_set = cls._tag_set(client, id_)
        if tag_set is None:
            return None  # deleted between the reads
        return {
            "bucket_name": id_,
            "versioning": versioning,
            "public_access": public,
            "tags": tags.from_aws(tag_set),
            "bucket_id": id_,
        }

    @classmethod
    def remove(cls, client: Any, id_: str, props: Mapping[str, Any]) -> None:
        """Delete the bucket; with `force_destroy`, every object version and marker first."""
        if props.get("force_destroy"):
            cls._empty(client, id_)
        try:
            delete_confirmed(
                lambda: client.delete_bucket(Bucket=id_),
                lambda: cls._tag_set(client, id_) is not None,
                cls.not_found,
            )
        except ClientError as error:
            if error_code(error) != "BucketNotEmpty":
                raise
            raise CloudError(f"bucket '{id_}' is not empty and force_destroy is false") from error

    @classmethod
    def delete_blocker(cls, client: Any, id_: str, recorded: Mapping[str, Any]) -> str | None:
        """A bucket that holds objects, unless `force_destroy` says to delete them too."""
        page = None if recorded.get("force_destroy") else cls._versions(client, id_)
        if page is None:
            return None
        current = sum(1 for v in page.get("Versions", []) if v.get("IsLatest"))
        older = len(page.get("Versions", [])) + len(page.get("DeleteMarkers", [])) - current
        if not current + older:
            return None
        more = "+" if page.get("IsTruncated") else ""
        also = f" and {older}{more} older versions or delete markers" if older else ""
        return f"bucket '{id_}' holds {current}{more} objects{also}, and force_destroy is false"

    @classmethod
    def orphans(cls, client: Any, environment: str, known_ids: set[str]) -> list[Described]:
        """Every bucket of the region, then each one's tags: S3 has no filter by tag."""
        found = []
        pages = client.get_paginator("list_buckets").paginate(BucketRegion=client.meta.region_name)
        for name in (str(bucket["Name"]) for page in pages for bucket in page.get("Buckets", [])):
            if name in known_ids:
                continue
            try:
                tag_set = cls._tag_set(client, name)
            except ClientError as error:
                if error_code(error) in _UNREADABLE:
                    continue
                raise
            if tags.value_of(tag_set, ENV_TAG) == environment:
                found.append({"Name": name, "Tags": tag_set})
        return found

    @classmethod
    def id_of(cls, described: Described) -> str:
        return str(described["Name"])

    @staticmethod
    def _tag_set(s3: Any, name: str) -> list[dict[str, Any]] | None:
        """The bucket's tags, token included ([] if it has none); None if there is no bucket."""
        try:
            return list(s3.get_bucket_tagging(Bucket=name)["TagSet"])
        except ClientError as error:
            if error_code(error) == "NoSuchTagSet":
                return []
            if error_code(error) in _GONE:
                return None
            raise

    @staticmethod
    def _put_tags(s3: Any, name: str, values: Mapping[str, str]) -> None:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tags.to_aws(values)})

    @staticmethod
    def _set_versioning(s3: Any, name: str, *, enabled: bool) -> None:
        """Versioning on, or suspended (a bucket once versioned never becomes unversioned)."""
        status = {"Status": "Enabled" if enabled else "Suspended"}
        settle(lambda: s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=status))

    @staticmethod
    def _set_public_access(s3: Any, name: str, *, public: bool) -> None:
        """All four blocks on, or the block removed (AWS blocks public access by default)."""
        if public:
            with contextlib.suppress(ClientError):  # none to remove: already as wanted
                settle(lambda: s3.delete_public_access_block(Bucket=name))
        else:
            blocked = {"PublicAccessBlockConfiguration": _ALL_BLOCKED}
            settle(lambda: s3.put_public_access_block(Bucket=name, **blocked))

    @staticmethod
    def _public(s3: Any, name: str) -> bool:
        """False only while all four blocks of public access are on."""
        try:
            found = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        except ClientError as error:
            if error_code(error) == "NoSuchPublicAccessBlockConfiguration":
                return True
            raise
        return not all(found.get(key) for key in _ALL_BLOCKED)

    @classmethod
    def _empty(cls, s3: Any, name: str) -> None:
        """Delete every object version and delete marker, a page at a time, listing afresh."""
        while page := cls._versions(s3, name):
            listed = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            if not listed:
                return
            doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in listed]
            s3.delete_objects(Bucket=name, Delete={"Objects": doomed, "Quiet": True})

    @staticmethod
    def _versions(s3: Any, name: str) -> dict[str, Any] | None:
        """The first page of the bucket's object versions and delete markers; None if gone."""
        try:
            return dict(s3.list_object_versions(Bucket=name, MaxKeys=_PAGE))
        except ClientError as error:
            if error_code(error) in _GONE:
                return None
            raise


# The name is the spec's (the graph node holds it: stacks/bucket.py); the ARN is the cloud's.
BUCKET_CLOUD = CloudKind(BUCKET, (BucketProvider,), {"arn": "arn"})
