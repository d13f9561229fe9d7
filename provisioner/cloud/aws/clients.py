"""boto3 clients for the providers and for inspection.

The endpoint is never a resource input: boto3 reads `AWS_ENDPOINT_URL` from the
environment, which the cloud layer sets to the local cloud's loopback endpoint
for `cloud: local` and leaves unset for real AWS.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

_RETRIES = Config(retries={"mode": "standard", "max_attempts": 8})


def ec2(region: str) -> Any:
    """An EC2 client for `region`."""
    return boto3.client("ec2", region_name=region, config=_RETRIES)
