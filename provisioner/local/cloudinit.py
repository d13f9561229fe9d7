"""The part of cloud-init the local cloud applies: hostname and SSH authorized keys."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import yaml


@dataclass(frozen=True)
class CloudConfig:
    hostname: str | None
    authorized_keys: tuple[str, ...]


@functools.lru_cache(maxsize=256)
def parse_user_data(text: str) -> CloudConfig:
    """Read `#cloud-config` user data; anything else configures nothing.

    Cached: the data plane reads every instance's user data on each pass, and
    parsing YAML was a quarter of an idle pass's time.
    """
    if not text.startswith("#cloud-config"):
        return CloudConfig(None, ())
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return CloudConfig(None, ())
    if not isinstance(data, dict):
        return CloudConfig(None, ())
    keys = data.get("ssh_authorized_keys") or []
    hostname = data.get("hostname")
    return CloudConfig(
        hostname=str(hostname) if hostname else None,
        authorized_keys=tuple(str(key).strip() for key in keys if key),
    )
