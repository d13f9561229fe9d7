"""What the ELBv2 providers share: listings, tags by ARN, and creates of named resources.

ELBv2 knows load balancers and target groups by a name unique in the region, and
every resource by its ARN. There is no filter by tag: an environment's resources
are listed whole and their tags read 20 ARNs a call (`describe_tags`). Reads
list every resource of a type (one paginated call) and keep the recorded ARNs,
so an ARN that is gone is simply absent (a describe by ARN would fail whole).

Creating a named resource (`NamedElbProvider.create_named`): a resource that has the name
already is adopted only if its tags carry this create's token; otherwise the
name is someone else's. A create carries its tags, token included, so whatever
has the name after an attempt whose answer was lost, with that token, is that
attempt's resource: it is adopted before any re-send (the local cloud would
make a second one of the same name).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from provisioner.cloud.aws import clients, tags
from provisioner.cloud.aws.base import AwsProvider, Described, Outputs
from provisioner.cloud.aws.exactly_once import (
    ENV_TAG,
    create_exactly_once,
    creation_token,
    current_run_id,
    error_code,
    settle,
)
from provisioner.errors import CloudError

SERVICE = "elbv2"
# DescribeTags takes at most 20 ARNs.
_TAGS_PER_CALL = 20
# What a tag read meets for an ARN deleted since it was listed.
_GONE = frozenset(
    {"LoadBalancerNotFound", "TargetGroupNotFound", "ListenerNotFound", "RuleNotFound"}
)


def listed(client: Any, operation: str, items: str, **request: Any) -> Iterator[Described]:
    """Every object `operation` lists (ELBv2's describes of many all paginate)."""
    for page in client.get_paginator(operation).paginate(**request):
        yield from page.get(items, [])


def tag_sets(client: Any, arns: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The tags of each ARN (token included), 20 a call; ARNs that are gone are absent."""
    wanted = sorted(set(arns))
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(wanted), _TAGS_PER_CALL):
        chunk = wanted[start : start + _TAGS_PER_CALL]
        try:
            described = client.describe_tags(ResourceArns=chunk)["TagDescriptions"]
        except ClientError as error:
            if error_code(error) not in _GONE:
                raise
            for arn in chunk if len(chunk) > 1 else ():  # one is gone: read them one by one
                found.update(tag_sets(client, [arn]))
            continue
        found.update({str(d["ResourceArn"]): list(d.get("Tags") or []) for d in described})
    return found


def of_environment(
    client: Any, objects: Iterable[Described], arn_key: str, environment: str
) -> list[Described]:
    """Those of `objects` tagged as `environment`'s, each with its `Tags`."""
    by_arn = {str(o[arn_key]): o for o in objects}
    sets = tag_sets(client, by_arn)
    return [
        {**by_arn[arn], "Tags": tag_set}
        for arn, tag_set in sets.items()
        if tags.value_of(tag_set, ENV_TAG) == environment
    ]


def sync_tags(client: Any, arn: str, old: Mapping[str, str], new: Mapping[str, str]) -> None:
    """Make the tags of `arn` go from `old` to `new` (each call is idempotent)."""
    removed = sorted(set(old) - set(new) - {tags.TOKEN_TAG})
    changed = {key: value for key, value in new.items() if old.get(key) != value}
    if removed:
        settle(lambda: client.remove_tags(ResourceArns=[arn], TagKeys=removed))
    if changed:
        settle(lambda: client.add_tags(ResourceArns=[arn], Tags=tags.to_aws(changed)))


class NamedElbProvider(AwsProvider):
    """A load balancer or a target group: listed whole by `operation`, known by its ARN."""

    service = SERVICE
    noun: ClassVar[str]  # load balancer
    operation: ClassVar[str]  # describe_load_balancers
    items: ClassVar[str]  # LoadBalancers
    arn_key: ClassVar[str]  # LoadBalancerArn
    create_operation: ClassVar[str]  # create_load_balancer
    # What a re-send meets when an earlier attempt made the object (AWS may instead
    # answer with that object; the local cloud makes a second one).
    duplicate_name: ClassVar[str]  # DuplicateLoadBalancerName

    def create_named(self, props: Mapping[str, Any], request: Mapping[str, Any]) -> Described:
        """Make the object `request` names once, and return it as described.

        One that has the name already is adopted if its tags carry this create's
        token, and refused otherwise (the name is someone else's).
        """
        name = request["Name"]
        client = self.client(props)
        token = creation_token(props["tags"], current_run_id())

        def ours() -> Described | None:
            for described in self.named(client, name):
                arn = described[self.arn_key]
                tag_set = tag_sets(client, [arn]).get(arn)
                if tag_set is not None and tags.value_of(tag_set, tags.TOKEN_TAG) == token:
                    return described
                if tag_set is not None:
                    raise CloudError(
                        f"{self.noun} '{name}' exists already and is not one this run made "
                        "(it has other tags): delete it first"
                    )
            return None

        earlier = ours()
        if earlier is not None:
            return earlier
        once = clients.client_once(SERVICE, props["region"])
        marked = tags.to_aws({**props["tags"], tags.TOKEN_TAG: token})

        def send() -> Described:
            answer = getattr(once, self.create_operation)(**request, Tags=marked)
            return dict(answer[self.items][0])

        return create_exactly_once(send, ours, landed={self.duplicate_name})

    @classmethod
    def live(cls, described: Described, tag_set: list[dict[str, Any]]) -> Outputs:
        """The live outputs of one described object with its tags."""
        raise NotImplementedError

    @classmethod
    def read_many(
        cls, client: Any, recorded: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Outputs]:
        """One listing of the region's objects, and their tags 20 a call."""
        found = {
            str(d[cls.arn_key]): d
            for d in listed(client, cls.operation, cls.items)
            if d[cls.arn_key] in recorded
        }
        sets = tag_sets(client, found)
        return {arn: cls.live(found[arn], tag_set) for arn, tag_set in sets.items()}

    @classmethod
    def still_there(cls, client: Any, arn: str) -> bool:
        return any(d[cls.arn_key] == arn for d in listed(client, cls.operation, cls.items))

    @classmethod
    def orphans(cls, client: Any, environment: str, known_ids: set[str]) -> list[Described]:
        objects = listed(client, cls.operation, cls.items)
        mine = of_environment(client, objects, cls.arn_key, environment)
        return [d for d in mine if d[cls.arn_key] not in known_ids]

    @classmethod
    def id_of(cls, described: Described) -> str:
        return str(described[cls.arn_key])

    @classmethod
    def named(cls, client: Any, name: str) -> list[Described]:
        """The objects called `name`."""
        try:
            return list(getattr(client, cls.operation)(Names=[name])[cls.items])
        except ClientError as error:
            if error_code(error) in cls.not_found:
                return []
            raise
