"""boto3 clients for the providers and for inspection.

The endpoint is never a resource input: boto3 reads `AWS_ENDPOINT_URL` from the
environment, which the cloud layer sets to the local cloud's loopback endpoint
for `cloud: local` and leaves unset for real AWS.

Two clients per process, service and region: `client` retries throttling, 5xx
and dropped connections itself (botocore's standard mode), which is right for
reads and for calls that are idempotent or whose repeat is recognised;
`client_once` makes a single attempt, for creates, which do their own retrying
(exactly_once.py) because a blind re-send after a lost answer would make a second
resource.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Mapping
from typing import Any

from provisioner.netsafety import require_loopback_url

# boto3 is imported where a client is made, not with this module: it takes 0.3 s,
# and most commands (ssh, output, plan of an unchanged stack) never call AWS themselves.
_RETRIES: dict[str, Any] = {"retries": {"mode": "standard", "max_attempts": 8}}
_SINGLE_ATTEMPT: dict[str, Any] = {"retries": {"mode": "standard", "total_max_attempts": 1}}


_clients: dict[tuple[str, str, str | None, bool], Any] = {}
_clients_lock = threading.Lock()


def client(service: str, region: str) -> Any:
    """This process's client of `service` (`ec2`, `s3`) for `region` (and the endpoint its
    environment names).

    One client is shared by every provider call: boto3 clients are thread-safe,
    but making one is slow (it loads the service model) and making them from
    many threads at once through the default session is not safe.
    """
    return _shared(service, region, retrying=True)


def client_once(service: str, region: str) -> Any:
    """Like `client`, but each call is one attempt: the caller decides about re-sending."""
    return _shared(service, region, retrying=False)


def _shared(service: str, region: str, *, retrying: bool) -> Any:
    key = (service, region, os.environ.get("AWS_ENDPOINT_URL"), retrying)
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            config = _config(_RETRIES if retrying else _SINGLE_ATTEMPT)
            found = _session().client(service, region_name=region, config=config)
            _clients[key] = found
        return found


@functools.cache
def _session() -> Any:
    """This process's session (used under the lock): a second client of one session
    reuses its loaded service model (20 ms instead of 300 ms)."""
    import boto3

    return boto3.session.Session()


def _config(settings: dict[str, Any]) -> Any:
    from botocore.config import Config

    return Config(**settings)


def client_for(env: Mapping[str, str], service: str, region: str) -> Any:
    """A client of `service` for the cloud that `env` (a CloudTarget's variables) points at.

    The process's own environment is not used for the endpoint: with the local
    cloud, calls go to its loopback endpoint and nowhere else.
    """
    import boto3

    endpoint = env.get("AWS_ENDPOINT_URL")
    return boto3.client(
        service,
        region_name=region,
        endpoint_url=require_loopback_url(endpoint) if endpoint else None,
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        config=_config(_RETRIES),
    )
