"""What every boto3-backed dynamic provider shares: diffs, bulk reads, tags, retries, creates.

A provider class declares its `inputs` and which of them force a replacement;
`diff` then compares exactly those, so output-only properties (ids, addresses)
never show up as changes.

Reading is done in bulk: a provider declares how its type is listed by id (a
`Listing`) and maps one described object to its live outputs (`live`).
`read_many` reads any number of resources with one filtered describe per `CHUNK`
ids; Pulumi's per-resource `read` is `read_many` of one id, so both go through
the same mapping.

Creating and deleting go through exactly_once.py: a provider declares its
`resource_type` (for TagSpecifications), whether its create API takes a
`ClientToken`, and which errors of a re-sent create mean that an earlier attempt
made the resource; the lookup by create token and the check that a deleted
resource is gone use its `listing`.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from botocore.exceptions import ClientError
from pulumi.dynamic import DiffResult, ReadResult, ResourceProvider

from provisioner.cloud.aws import clients, tags
from provisioner.cloud.aws.exactly_once import (
    create_exactly_once,
    creation_token,
    current_run_id,
    delete_confirmed,
    settle,
)

T = TypeVar("T")

# Errors AWS returns while a dependency is still going away (an ENI of a terminated
# instance, a detaching gateway): retry them for a while before giving up.
_DEPENDENCY_CODES = frozenset({"DependencyViolation", "InvalidGroup.InUse", "ResourceInUse"})
# Ids per describe request: EC2 takes at most 200 values in one filter.
CHUNK = 200

Described = dict[str, Any]  # one object of a describe response, as boto3 returns it
Outputs = dict[str, Any]


@dataclass(frozen=True)
class Listing:
    """How a resource type is listed by id: `operation` with a filter on `id_filter`.

    The response holds the objects under `items`, each with its id in `id_field`.
    """

    operation: str  # describe_vpcs
    id_filter: str  # vpc-id
    items: str  # Vpcs
    id_field: str  # VpcId


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
    listing: ClassVar[Listing]
    # The output that holds the resource's own id (`vpc_id`): it tells, in a state
    # export, which provider made a resource.
    id_output: ClassVar[str] = ""
    # Its type in a create's TagSpecifications (`vpc`).
    resource_type: ClassVar[str] = ""
    # True if its create API takes an idempotency token (`ClientToken`).
    takes_client_token: ClassVar[bool] = False
    # Errors a re-sent create meets when an earlier attempt did make the resource
    # (a name or CIDR already taken): the lookup by token then adopts it.
    create_landed: ClassVar[frozenset[str]] = frozenset()

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in self.inputs if olds.get(key) != news.get(key)]
        replaces = [key for key in changed if key in self.replace_on]
        return DiffResult(
            changes=bool(changed),
            replaces=replaces,
            stables=[key for key in self.inputs if key not in changed] + list(self.stable_outputs),
            delete_before_replace=self.delete_before_replace,
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        live = self.read_many(self.ec2(props), {id_: props}).get(id_)
        if live is None:
            return self.missing()
        return ReadResult(id_=id_, outs={**props, **live})

    @classmethod
    def read_many(cls, ec2: Any, recorded: Mapping[str, Mapping[str, Any]]) -> dict[str, Outputs]:
        """The live outputs of each resource in `recorded` (id -> recorded outputs).

        Resources that no longer exist are absent. One describe per `CHUNK` ids.
        """
        found: dict[str, Outputs] = {}
        for described in cls.described(ec2, list(recorded)):
            id_ = described[cls.listing.id_field]
            if id_ in recorded:
                live = cls.live(described, recorded[id_])
                if live is not None:
                    found[id_] = live
        return found

    @classmethod
    def described(cls, ec2: Any, ids: Sequence[str]) -> Iterator[Described]:
        """The described objects of those of `ids` that exist."""
        for page in describe_pages(ec2, cls.listing.operation, cls.listing.id_filter, ids):
            yield from cls.items_of(page)

    @classmethod
    def items_of(cls, page: Mapping[str, Any]) -> list[Described]:
        """The described objects in one response page."""
        return list(page.get(cls.listing.items, []))

    @classmethod
    def tagged(cls, ec2: Any, key: str, value: str) -> list[Described]:
        """The live objects whose tag `key` is `value`.

        A filtered describe; the tag is checked again on what comes back, because
        the local cloud ignores some filters.
        """
        request = {"Filters": [{"Name": f"tag:{key}", "Values": [value]}]}
        return [
            described
            for page in _pages(ec2, cls.listing.operation, request)
            for described in cls.items_of(page)
            if tags.value_of(described.get("Tags"), key) == value
            and cls.live(described, {}) is not None
        ]

    @classmethod
    def still_there(cls, ec2: Any, id_: str) -> bool:
        """True while a filtered describe lists `id_` as live (never fails on a new id)."""
        return any(cls.live(described, {}) is not None for described in cls.described(ec2, [id_]))

    @classmethod
    def adopted_id(cls, described: Described) -> str:
        """The id of a described object that an earlier attempt of a create made."""
        return str(described[cls.listing.id_field])

    def create_once(
        self,
        props: dict[str, Any],
        send: Callable[[Any, dict[str, Any]], T],
        adopt: Callable[[Described], T | None],
    ) -> T:
        """Make the resource exactly once: `send(client, request)` is one attempt.

        `request` holds the create's TagSpecifications (the resource's tags plus its
        create token) and, if the API takes one, its ClientToken; `client` makes a
        single attempt. What an earlier attempt made is found by the token and given
        to `adopt` (which returns what `send` would have, or None to send again).
        """
        ec2 = self.ec2(props)
        token = creation_token(props["tags"], current_run_id())
        marked = {**props["tags"], tags.TOKEN_TAG: token}
        request: dict[str, Any] = {"TagSpecifications": tag_spec(self.resource_type, marked)}
        if self.takes_client_token:
            request["ClientToken"] = token
        once = clients.ec2_once(props["region"])

        def find() -> T | None:
            for described in self.tagged(ec2, tags.TOKEN_TAG, token):
                return adopt(described)
            return None

        return create_exactly_once(lambda: send(once, request), find, landed=self.create_landed)

    @classmethod
    def remove(cls, ec2: Any, id_: str, props: Mapping[str, Any]) -> None:
        """Delete `id_` with `ec2` (what `delete` does with the process's client).

        `props` are the recorded outputs; the orphan sweep passes only what it knows.
        """
        raise NotImplementedError

    @classmethod
    def delete_once(cls, ec2: Any, id_: str, call: Callable[[], object]) -> None:
        """Delete with `call`, waiting out dependencies; a NotFound is believed once unlisted."""
        delete_confirmed(
            lambda: until_dependencies_clear(call),
            lambda: cls.still_there(ec2, id_),
            cls.not_found,
        )

    @staticmethod
    def live(described: Described, recorded: Mapping[str, Any]) -> Outputs | None:
        """The live outputs of one described object (None: it is as good as gone).

        `recorded` is the resource's recorded outputs, for values read in their terms.
        """
        raise NotImplementedError

    @staticmethod
    def ec2(props: dict[str, Any]) -> Any:
        return clients.ec2(props["region"])

    def missing(self) -> ReadResult:
        """The read result for a resource that no longer exists: refresh drops it."""
        return ReadResult(id_="", outs={})

    @staticmethod
    def sync_tags(ec2: Any, resource_id: str, olds: dict[str, Any], news: dict[str, Any]) -> None:
        settle(lambda: tags.sync(ec2, resource_id, olds.get("tags") or {}, news.get("tags") or {}))


def describe_pages(
    ec2: Any, operation: str, id_filter: str, ids: Sequence[str], *, chunk: int = CHUNK
) -> Iterator[dict[str, Any]]:
    """Response pages of `operation` for `ids`, `chunk` ids a request.

    Ids go in a filter, not as ids, so one that no longer exists is simply not
    listed instead of failing the whole request.
    """
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), chunk):
        request = {"Filters": [{"Name": id_filter, "Values": wanted[start : start + chunk]}]}
        yield from _pages(ec2, operation, request)


def _pages(ec2: Any, operation: str, request: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    if ec2.can_paginate(operation):
        yield from ec2.get_paginator(operation).paginate(**request)
    else:
        yield getattr(ec2, operation)(**request)


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
