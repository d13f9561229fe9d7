"""boto3 clients for the providers and for inspection.

The endpoint is never a resource input: boto3 reads `AWS_ENDPOINT_URL` from the
environment, which the cloud layer sets to the local cloud's loopback endpoint
for `cloud: local` and leaves unset for real AWS.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from provisioner.netsafety import require_loopback_url

_RETRIES = Config(retries={"mode": "standard", "max_attempts": 8})


_clients: dict[tuple[str, str | None], Any] = {}
_clients_lock = threading.Lock()


def ec2(region: str) -> Any:
    """This process's EC2 client for `region` (and the endpoint its environment names).

    One client is shared by every provider call: boto3 clients are thread-safe,
    but making one is slow (it loads the service model) and making them from
    many threads at once through the default session is not safe.
    """
    key = (region, os.environ.get("AWS_ENDPOINT_URL"))
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = boto3.session.Session().client("ec2", region_name=region, config=_RETRIES)
            _clients[key] = client
        return client


def ec2_for(env: Mapping[str, str], region: str) -> Any:
    """An EC2 client for the cloud that `env` (a CloudTarget's variables) points at.

    The process's own environment is not used for the endpoint: with the local
    cloud, calls go to its loopback endpoint and nowhere else.
    """
    endpoint = env.get("AWS_ENDPOINT_URL")
    return boto3.client(
        "ec2",
        region_name=region,
        endpoint_url=require_loopback_url(endpoint) if endpoint else None,
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        config=_RETRIES,
    )
