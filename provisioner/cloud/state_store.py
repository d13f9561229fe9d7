"""Where Pulumi keeps an environment's state: files under the state folder, or the spec's S3 URL."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from botocore.exceptions import ClientError

from provisioner.errors import ConfigurationError
from provisioner.netsafety import require_loopback_url
from provisioner.paths import StatePaths


def state_url(spec_state: str | None, paths: StatePaths, env: Mapping[str, str]) -> str:
    """`file://` under the state folder by default; `s3://bucket/prefix` when the spec says so.

    With the local cloud (`AWS_ENDPOINT_URL` set), an S3 URL is pointed at it.
    """
    if not spec_state:
        paths.pulumi_state.mkdir(parents=True, exist_ok=True)
        return paths.pulumi_state.as_uri()
    parts = urlsplit(spec_state)
    if parts.scheme == "file":
        return spec_state
    if parts.scheme != "s3":
        raise ConfigurationError(f"state location '{spec_state}' is not an s3:// or file:// URL")
    endpoint = env.get("AWS_ENDPOINT_URL")
    if endpoint is None:
        return spec_state
    ensure_local_bucket(parts.netloc, endpoint, env)
    # gocloud.dev's S3 opener (inside the Pulumi CLI) takes the endpoint from the URL.
    query = {
        "endpoint": endpoint,
        "use_path_style": "true",
        "disable_https": "true",
        "region": env.get("AWS_REGION", "us-east-1"),
    }
    return f"s3://{parts.netloc}{parts.path}?{urlencode(query)}"


def resources_in_files(
    spec_state: str | None, paths: StatePaths, project: str, stack: str
) -> int | None:
    """How many resources Pulumi's state files record for the stack; None if the state is in S3.

    This reads Pulumi's file layout (`.pulumi/stacks/PROJECT/STACK.json[.gz]`), so a
    command can tell "nothing recorded here" without starting anything. A missing
    or unreadable checkpoint counts as none recorded only if it does not exist.
    """
    if spec_state and urlsplit(spec_state).scheme != "file":
        return None
    root = Path(urlsplit(spec_state).path) if spec_state else paths.pulumi_state
    stacks = root / ".pulumi" / "stacks" / project
    for name, opener in ((f"{stack}.json", open), (f"{stack}.json.gz", gzip.open)):
        path = stacks / name
        if not path.is_file():
            continue
        try:
            with opener(path, "rt", encoding="utf-8") as handle:
                checkpoint = json.load(handle)
        except (OSError, ValueError):
            return None  # there is a stack we cannot read here: let Pulumi say
        latest = (checkpoint.get("checkpoint") or {}).get("latest") or {}
        return len(latest.get("resources") or [])
    return 0


def ensure_local_bucket(bucket: str, endpoint: str, env: Mapping[str, str]) -> None:
    """On the local cloud, create the state bucket if it does not exist yet."""
    import boto3  # 0.3 s to import: only where S3 is used

    s3 = boto3.client(
        "s3",
        endpoint_url=require_loopback_url(endpoint),
        region_name=env.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
    )
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket)
