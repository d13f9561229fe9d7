"""The call a request to the local cloud makes: its service, its action and its parameters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Service(StrEnum):
    """The services the proxy knows, by the name their requests are signed for."""

    EC2 = "ec2"
    ELBV2 = "elasticloadbalancing"
    RDS = "rds"
    S3 = "s3"
    ROUTE53 = "route53"


@dataclass(frozen=True)
class Request:
    """An HTTP request as the proxy received it. Header names are lower case."""

    method: str
    target: str  # path and query string, as sent
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Call:
    """One API call: its service, its action (the API's operation name) and what it names.

    `params` are the request's parameters: a Query call's form fields as sent
    (`Tags.member.1.Key`), a REST call's URI, query-string and body members by
    their API names, lists numbered from 1 (`Tagging.TagSet.1.Key`). `ids` are
    the resource ids and names it names, outside filters and tags.
    """

    service: Service
    action: str
    mutating: bool
    params: Mapping[str, str] = field(default_factory=dict)
    ids: tuple[str, ...] = ()

    @property
    def tags(self) -> dict[str, str]:
        """The tags it sets: every `...Key` with a `...Value` beside it under a tag parameter."""
        found: dict[str, str] = {}
        for key, value in self.params.items():
            parts = key.split(".")
            if parts[-1] != "Key" or not any("Tag" in part for part in parts[:-1]):
                continue
            prefix = key.removesuffix("Key")
            if prefix + "Value" in self.params:
                found[value] = self.params[prefix + "Value"]
        return found
