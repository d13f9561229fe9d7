"""Where Pulumi keeps an environment's state: files under the state folder, or the spec's S3 URL."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from botocore.exceptions import ClientError

from provisioner.cloud.errors import boto_errors
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
    with boto_errors(f"making the state bucket {bucket}"):
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError:
            s3.create_bucket(Bucket=bucket)
