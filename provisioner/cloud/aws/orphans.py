"""Orphans: project-tagged cloud resources that the state does not know, removed.

A run killed between a cloud create and Pulumi's checkpoint leaves a resource
that exists, carries the environment's tags, and is in no state. The sweep finds
each provider's resources of the environment whose ids the state lacks
(`AwsProvider.orphans`) and deletes them with the providers' own deletes, so lost
answers and ids the API does not know yet are handled as in a `down`.

Orphans are in no state, so their order cannot come from the graph: it comes
from the kinds. Kinds that may depend on others go first (by rank, highest
first), and within a kind its parts before its main resource (a network's route
table and gateway before its VPC).

An orphan that its provider says must not be deleted (a bucket that holds
objects: `AwsProvider.delete_blocker`) is kept, and the sweep's result says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provisioner.cloud.aws.base import AwsProvider
from provisioner.cloud.aws.kind import cloud_kinds


def teardown_order() -> list[type[AwsProvider]]:
    """Every provider, in the order their resources may be deleted."""
    return [
        provider
        for kind in sorted(cloud_kinds(), key=lambda c: (c.kind.rank, c.kind.value), reverse=True)
        for provider in reversed(kind.providers)
    ]


@dataclass(frozen=True)
class Swept:
    """What a sweep deleted (ids), and what it kept (id -> why it may not be deleted)."""

    deleted: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)


def sweep(client_for: Callable[[str], Any], environment: str, known_ids: set[str]) -> Swept:
    """Delete every resource of `environment` not in `known_ids`, bar those that may not be.

    `client_for(service)` gives the client of a service in the environment's region.
    """
    swept = Swept()
    for provider in teardown_order():
        client = client_for(provider.service)
        found = []
        for described in provider.orphans(client, environment, known_ids):
            id_ = provider.id_of(described)
            why = provider.delete_blocker(client, id_, described)
            if why is None:
                found.append(described)
            else:
                swept.kept[id_] = why
        if found:
            provider.remove_orphans(client, found)
            swept.deleted.extend(provider.id_of(described) for described in found)
    return swept
