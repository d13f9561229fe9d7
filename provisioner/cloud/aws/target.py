"""Which AWS a stack talks to: the local cloud on loopback, or real AWS."""

from __future__ import annotations

from provisioner.netsafety import require_loopback_url

# moto accepts any credentials; fixed fake ones keep a developer's real
# credentials out of every local-cloud process.
_LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def local_cloud_env(endpoint: str, region: str) -> dict[str, str]:
    """Environment that points boto3 (in our providers) at the local cloud's endpoint."""
    return {
        "AWS_ENDPOINT_URL": require_loopback_url(endpoint),
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        **_LOCAL_CREDENTIALS,
    }
