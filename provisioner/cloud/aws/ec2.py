"""The EC2 family of providers: resources listed by filtered describes and tagged at creation.

A provider declares how its type is listed by id (a `Listing`): `read_many`
then reads any number of resources with one filtered describe per `CHUNK` ids,
and the orphan sweep finds an environment's resources by tag.

Creating goes through exactly_once.py: a provider declares its `resource_type`
(for TagSpecifications), whether its create API takes a `ClientToken`, and which
errors of a re-sent create mean that an earlier attempt made the resource; the
lookup by create token and the check that a deleted resource is gone use its
`listing`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pulumi.dynamic import UpdateResult

from provisioner.cloud.aws import clients, tags
from provisioner.cloud.aws.base import AwsProvider, Described, Outputs, until_dependencies_clear
from provisioner.cloud.aws.exactly_once import (
    ENV_TAG,
    create_exactly_once,
    creation_token,
    current_run_id,
    delete_confirmed,
    settle,
)

T = TypeVar("T")

# Ids per describe request: EC2 takes at most 200 values in one filter.
CHUNK = 200


@dataclass(frozen=True)
class Listing:
    """How a resource type is listed by id: `operation` with a filter on `id_filter`.

    The response holds the objects under `items`, each with its id in `id_field`.
    """

    operation: str  # describe_vpcs
    id_filter: str  # vpc-id
    items: str  # Vpcs
    id_field: str  # VpcId


class Ec2Provider(AwsProvider):
    """Base of the EC2 providers."""

    service = "ec2"
    listing: ClassVar[Listing]
    # Its type in a create's TagSpecifications (`vpc`).
    resource_type: ClassVar[str] = ""
    # True if its create API takes an idempotency token (`ClientToken`).
    takes_client_token: ClassVar[bool] = False
    # Errors a re-sent create meets when an earlier attempt did make the resource
    # (a name or CIDR already taken): the lookup by token then adopts it.
    create_landed: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def read_many(
        cls, client: Any, recorded: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Outputs]:
        """One describe per `CHUNK` ids."""
        found: dict[str, Outputs] = {}
        for described in cls.described(client, list(recorded)):
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
    def orphans(cls, client: Any, environment: str, known_ids: set[str]) -> list[Described]:
        """Found by the environment's tag, which every create writes with the resource."""
        return [
            described
            for described in cls.tagged(client, ENV_TAG, environment)
            if cls.id_of(described) not in known_ids
        ]

    @classmethod
    def id_of(cls, described: Described) -> str:
        return str(described[cls.listing.id_field])

    @classmethod
    def still_there(cls, ec2: Any, id_: str) -> bool:
        """True while a filtered describe lists `id_` as live (never fails on a new id)."""
        return any(cls.live(described, {}) is not None for described in cls.described(ec2, [id_]))

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
        ec2 = self.client(props)
        token = creation_token(props["tags"], current_run_id())
        marked = {**props["tags"], tags.TOKEN_TAG: token}
        request: dict[str, Any] = {"TagSpecifications": tag_spec(self.resource_type, marked)}
        if self.takes_client_token:
            request["ClientToken"] = token
        once = clients.client_once(self.service, props["region"])

        def find() -> T | None:
            for described in self.tagged(ec2, tags.TOKEN_TAG, token):
                return adopt(described)
            return None

        return create_exactly_once(lambda: send(once, request), find, landed=self.create_landed)

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

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """What changes in place by default: the tags (everything else replaces)."""
        self.sync_tags(self.client(news), id_, olds, news)
        return UpdateResult(outs={**news, **self.kept(olds)})

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
