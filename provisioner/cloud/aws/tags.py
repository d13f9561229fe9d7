"""Tag conversions shared by the providers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def to_aws(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """{"k": "v"} -> [{"Key": "k", "Value": "v"}], sorted for stable requests."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def from_aws(tags: list[dict[str, Any]] | None) -> dict[str, str]:
    """[{"Key": "k", "Value": "v"}] -> {"k": "v"}."""
    return {str(tag["Key"]): str(tag["Value"]) for tag in tags or []}


def sync(ec2: Any, resource_id: str, old: Mapping[str, str], new: Mapping[str, str]) -> None:
    """Make the tags of `resource_id` go from `old` to `new` in place."""
    removed = sorted(set(old) - set(new))
    changed = {key: value for key, value in new.items() if old.get(key) != value}
    if removed:
        ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": key} for key in removed])
    if changed:
        ec2.create_tags(Resources=[resource_id], Tags=to_aws(changed))
