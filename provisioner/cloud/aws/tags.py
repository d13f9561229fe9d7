"""Tag conversions shared by the providers, and the bookkeeping tag that is never shown."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The idempotency token of the create that made a resource (see exactly_once.py). It is
# bookkeeping, not a managed property: live tags are read without it, so it never
# shows in plans, drift or outputs, and an update (which syncs only managed tags)
# never removes it.
TOKEN_TAG = "provision:create-token"  # noqa: S105 - a tag name, not a secret


def to_aws(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """{"k": "v"} -> [{"Key": "k", "Value": "v"}], sorted for stable requests."""
    return [{"Key": key, "Value": value} for key, value in sorted(tags.items())]


def from_aws(tags: list[dict[str, Any]] | None) -> dict[str, str]:
    """[{"Key": "k", "Value": "v"}] -> {"k": "v"}, without the bookkeeping token tag."""
    return {str(tag["Key"]): str(tag["Value"]) for tag in tags or [] if tag["Key"] != TOKEN_TAG}


def value_of(tags: list[dict[str, Any]] | None, key: str) -> str | None:
    """The value of tag `key` in a described object's tags (the token tag too), if any."""
    for tag in tags or []:
        if tag["Key"] == key:
            return str(tag["Value"])
    return None


def sync(ec2: Any, resource_id: str, old: Mapping[str, str], new: Mapping[str, str]) -> None:
    """Make the tags of `resource_id` go from `old` to `new` in place.

    Both calls are idempotent, so a retry after a lost answer is harmless.
    """
    removed = sorted(set(old) - set(new) - {TOKEN_TAG})
    changed = {key: value for key, value in new.items() if old.get(key) != value}
    if removed:
        ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": key} for key in removed])
    if changed:
        ec2.create_tags(Resources=[resource_id], Tags=to_aws(changed))
