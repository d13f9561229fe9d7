"""An in-process stand-in for S3's bucket calls: tags, versioning, the public access block,
object versions, answers lost after the change, and buckets of other accounts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from botocore.exceptions import ClientError, ConnectionClosedError


def s3_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Operation",
    )


@dataclass
class FakeBucket:
    region: str
    tags: list[dict[str, str]] | None = None  # None: no tag set
    versioning: str | None = None  # None, "Enabled" or "Suspended"
    blocks: dict[str, bool] | None = None  # the public access block
    versions: list[dict[str, Any]] = field(default_factory=list)
    markers: list[dict[str, Any]] = field(default_factory=list)


class FakeS3:
    """Buckets of this account by name; `taken` names belong to other accounts."""

    def __init__(self, region: str = "us-east-1") -> None:
        self.meta = SimpleNamespace(region_name=region)
        self.buckets: dict[str, FakeBucket] = {}
        self.taken: set[str] = set()
        # Tags a new bucket of a name gets (as the local cloud keeps a deleted bucket's).
        self.stale_tags: dict[str, list[dict[str, str]]] = {}
        self.lose: set[str] = set()  # operations whose next answer is lost after the change
        self.calls: list[str] = []

    def put_object(self, bucket: str, key: str) -> None:
        """An object (a new version of `key`)."""
        held = self.buckets[bucket]
        for version in held.versions:
            version["IsLatest"] = version["IsLatest"] and version["Key"] != key
        number = len(held.versions) + len(held.markers)
        held.versions.append({"Key": key, "VersionId": f"v{number}", "IsLatest": True})

    def _bucket(self, name: str) -> FakeBucket:
        if name not in self.buckets:
            raise s3_error("NoSuchBucket", 404)
        return self.buckets[name]

    def _answer(self, operation: str, result: Any = None) -> Any:
        self.calls.append(operation)
        if operation in self.lose:
            self.lose.discard(operation)
            raise ConnectionClosedError(endpoint_url="http://127.0.0.1:1")
        return result

    # Methods take the API's own parameter names, as boto3 clients do.
    def create_bucket(self, **request: Any) -> Any:
        name = request["Bucket"]
        if name in self.taken:
            self.calls.append("create_bucket")
            raise s3_error("BucketAlreadyExists", 409)
        region = request.get("CreateBucketConfiguration", {}).get("LocationConstraint")
        if name in self.buckets:
            self.calls.append("create_bucket")
            if region is not None:  # us-east-1 answers success for a bucket this account holds
                raise s3_error("BucketAlreadyOwnedByYou", 409)
            return {}
        self.buckets[name] = FakeBucket(region or "us-east-1", self.stale_tags.get(name))
        return self._answer("create_bucket", {})

    def head_bucket(self, **request: Any) -> Any:
        if request["Bucket"] not in self.buckets:
            raise s3_error("404", 404)
        return {}

    def get_bucket_tagging(self, **request: Any) -> Any:
        tags = self._bucket(request["Bucket"]).tags
        if tags is None:
            raise s3_error("NoSuchTagSet", 404)
        return {"TagSet": [dict(tag) for tag in tags]}

    def put_bucket_tagging(self, **request: Any) -> Any:
        self._bucket(request["Bucket"]).tags = list(request["Tagging"]["TagSet"])
        return self._answer("put_bucket_tagging")

    def get_bucket_versioning(self, **request: Any) -> Any:
        status = self._bucket(request["Bucket"]).versioning
        return {"Status": status} if status else {}

    def put_bucket_versioning(self, **request: Any) -> Any:
        status = request["VersioningConfiguration"]["Status"]
        self._bucket(request["Bucket"]).versioning = status
        return self._answer("put_bucket_versioning")

    def get_public_access_block(self, **request: Any) -> Any:
        blocks = self._bucket(request["Bucket"]).blocks
        if blocks is None:
            raise s3_error("NoSuchPublicAccessBlockConfiguration", 404)
        return {"PublicAccessBlockConfiguration": dict(blocks)}

    def put_public_access_block(self, **request: Any) -> Any:
        blocks = dict(request["PublicAccessBlockConfiguration"])
        self._bucket(request["Bucket"]).blocks = blocks
        return self._answer("put_public_access_block")

    def delete_public_access_block(self, **request: Any) -> Any:
        self._bucket(request["Bucket"]).blocks = None
        return self._answer("delete_public_access_block")

    def list_object_versions(self, **request: Any) -> Any:
        held = self._bucket(request["Bucket"])
        most = request.get("MaxKeys", 1000)
        listed = [*held.versions, *held.markers]
        versions = [dict(v) for v in held.versions][:most]
        markers = [dict(m) for m in held.markers][: max(0, most - len(versions))]
        return {"Versions": versions, "DeleteMarkers": markers, "IsTruncated": len(listed) > most}

    def delete_objects(self, **request: Any) -> Any:
        held = self._bucket(request["Bucket"])
        doomed = {(o["Key"], o["VersionId"]) for o in request["Delete"]["Objects"]}
        held.versions = [v for v in held.versions if (v["Key"], v["VersionId"]) not in doomed]
        held.markers = [m for m in held.markers if (m["Key"], m["VersionId"]) not in doomed]
        return self._answer("delete_objects", {})

    def delete_bucket(self, **request: Any) -> Any:
        held = self._bucket(request["Bucket"])
        if held.versions or held.markers:
            self.calls.append("delete_bucket")
            raise s3_error("BucketNotEmpty", 409)
        del self.buckets[request["Bucket"]]
        return self._answer("delete_bucket")

    def get_paginator(self, operation: str) -> Any:
        assert operation == "list_buckets"
        fake = self

        class Pages:
            def paginate(self, **request: Any) -> Iterator[dict[str, Any]]:
                region = request.get("BucketRegion")
                yield {
                    "Buckets": [
                        {"Name": name}
                        for name, held in fake.buckets.items()
                        if region is None or held.region == region
                    ]
                }

        return Pages()
