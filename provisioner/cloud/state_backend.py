"""Where Pulumi keeps an environment's state: a file backend, or the spec's S3 URL."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from provisioner.errors import ConfigurationError
from provisioner.paths import StatePaths


def backend_url(spec_state: str | None, paths: StatePaths, env: Mapping[str, str]) -> str:
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
        raise ConfigurationError(f"state backend '{spec_state}' is not an s3:// or file:// URL")
    endpoint = env.get("AWS_ENDPOINT_URL")
    if endpoint is None:
        return spec_state
    local = urlsplit(endpoint)
    query = {
        "endpoint": local.netloc,
        "disableSSL": "true",
        "s3ForcePathStyle": "true",
        "region": env.get("AWS_REGION", "us-east-1"),
    }
    return f"s3://{parts.netloc}{parts.path}?{urlencode(query)}"
