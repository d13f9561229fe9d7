"""The environment lock for S3 state: an object created only if absent (a conditional write).

`PutObject` with `If-None-Match: *` succeeds for exactly one writer; the object
names the holder. Release deletes it only if it is still ours (`If-Match`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from provisioner.cloud.aws.exactly_once import error_code
from provisioner.cloud.errors import boto_errors
from provisioner.engine.locking import EnvironmentLockedError, LockHolder
from provisioner.netsafety import require_loopback_url

_TAKEN = ("PreconditionFailed", "ConditionalRequestConflict", "412")


class S3Lock:
    """`s3://BUCKET/PREFIX/.provision-locks/ENV.json`."""

    def __init__(self, state_url: str, environment: str, env: Mapping[str, str]) -> None:
        parts = urlsplit(state_url)
        self.bucket = parts.netloc
        self.key = f"{parts.path.strip('/')}/.provision-locks/{environment}.json".lstrip("/")
        self.environment = environment
        endpoint = env.get("AWS_ENDPOINT_URL")
        import boto3  # 0.3 s to import: only where S3 is used

        self._s3: Any = boto3.client(
            "s3",
            endpoint_url=require_loopback_url(endpoint) if endpoint else None,
            region_name=env.get("AWS_REGION"),
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        )
        self._etag: str | None = None

    def acquire(self, holder: LockHolder) -> LockHolder | None:
        with boto_errors(f"taking the lock {self._where}"):
            return self._acquire(holder)

    def _acquire(self, holder: LockHolder) -> LockHolder | None:
        body = json.dumps(asdict(holder)).encode()
        try:
            self._etag = self._s3.put_object(
                Bucket=self.bucket, Key=self.key, Body=body, IfNoneMatch="*"
            )["ETag"]
            return None
        except ClientError as error:
            if error_code(error) not in _TAKEN:
                raise
        current, etag = self._read()
        if current is None or not current.is_dead_local_process():
            raise EnvironmentLockedError(self.environment, current)
        # The holder died on this very host: replace its lock, unless someone else just did.
        try:
            self._etag = self._s3.put_object(
                Bucket=self.bucket, Key=self.key, Body=body, IfMatch=etag
            )["ETag"]
        except ClientError as error:
            if error_code(error) in _TAKEN:
                raise EnvironmentLockedError(self.environment, self._read()[0]) from None
            raise
        return current

    def release(self) -> None:
        if self._etag is None:
            return
        # Delete only our own lock (a forced unlock may have handed it to another run).
        with boto_errors(f"releasing the lock {self._where}"):
            _, etag = self._read()
            if etag == self._etag:
                self._s3.delete_object(Bucket=self.bucket, Key=self.key)
        self._etag = None

    def holder(self) -> LockHolder | None:
        with boto_errors(f"reading the lock {self._where}"):
            return self._read()[0]

    def force_unlock(self) -> LockHolder | None:
        current = self.holder()
        with boto_errors(f"removing the lock {self._where}"):
            self._s3.delete_object(Bucket=self.bucket, Key=self.key)
        return current

    @property
    def _where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def _read(self) -> tuple[LockHolder | None, str | None]:
        try:
            found = self._s3.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as error:
            if error_code(error) in ("NoSuchKey", "404"):
                return None, None
            raise
        try:
            data = json.loads(found["Body"].read())
        except json.JSONDecodeError:
            data = None
        return LockHolder.from_json(data), found.get("ETag")
