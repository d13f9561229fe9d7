"""What every boto3-backed dynamic provider shares: diffs over declared inputs, tags, retries.

A provider class declares its `inputs` and which of them force a replacement;
`diff` then compares exactly those, so output-only properties (ids, addresses)
never show up as changes.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, TypeVar

from botocore.exceptions import ClientError
from pulumi.dynamic import DiffResult, ReadResult, ResourceProvider

from provisioner.cloud.aws import clients, tags

T = TypeVar("T")

# Errors AWS returns while a dependency is still going away (an ENI of a terminated
# instance, a detaching gateway): retry them for a while before giving up.
_DEPENDENCY_CODES = frozenset({"DependencyViolation", "InvalidGroup.InUse", "ResourceInUse"})


class Ec2Provider(ResourceProvider):
    """Base of the EC2 providers."""

    inputs: ClassVar[tuple[str, ...]] = ()
    replace_on: ClassVar[tuple[str, ...]] = ()
    not_found: ClassVar[frozenset[str]] = frozenset()
    # Outputs an in-place update never changes (ids): declaring them stable keeps them
    # known in a preview, so dependents are not shown as changing when they are not.
    stable_outputs: ClassVar[tuple[str, ...]] = ()
    # Names that must be unique (key pairs) cannot exist twice during a replacement.
    delete_before_replace: ClassVar[bool] = False

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in self.inputs if olds.get(key) != news.get(key)]
        replaces = [key for key in changed if key in self.replace_on]
        return DiffResult(
            changes=bool(changed),
            replaces=replaces,
            stables=[key for key in self.inputs if key not in changed] + list(self.stable_outputs),
            delete_before_replace=self.delete_before_replace,
        )

    @staticmethod
    def ec2(props: dict[str, Any]) -> Any:
        return clients.ec2(props["region"])

    def gone(self, error: ClientError) -> bool:
        """True if `error` says the resource does not exist (any more)."""
        return error.response["Error"]["Code"] in self.not_found

    def missing(self) -> ReadResult:
        """The read result for a resource that no longer exists: refresh drops it."""
        return ReadResult(id_="", outs={})

    @staticmethod
    def sync_tags(ec2: Any, resource_id: str, olds: dict[str, Any], news: dict[str, Any]) -> None:
        tags.sync(ec2, resource_id, olds.get("tags") or {}, news.get("tags") or {})


def tag_spec(resource_type: str, values: dict[str, str]) -> list[dict[str, Any]]:
    """TagSpecifications for a create call."""
    return [{"ResourceType": resource_type, "Tags": tags.to_aws(values)}]


def until_dependencies_clear(action: Callable[[], T], *, timeout: float = 300.0) -> T:
    """Run `action`, retrying with backoff while AWS reports a dependency still in use."""
    deadline = time.monotonic() + timeout
    delay = 1.0
    while True:
        try:
            return action()
        except ClientError as error:
            code = error.response["Error"]["Code"]
            if code not in _DEPENDENCY_CODES or time.monotonic() > deadline:
                raise
        time.sleep(delay + random.uniform(0, delay / 2))  # noqa: S311 - jitter, not crypto
        delay = min(delay * 2, 15.0)


@contextlib.contextmanager
def undo_on_failure(undo: Callable[[], object]) -> Iterator[None]:
    """If the rest of a create fails, undo its first step, so no half-made resource is left.

    Pulumi records a resource only when create returns; anything made before a
    failure would otherwise be an orphan that no state knows about.
    """
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            undo()
        raise
