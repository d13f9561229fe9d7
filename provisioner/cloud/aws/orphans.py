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
"""

from __future__ import annotations

from collections.abc import Callable
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


def sweep(client_for: Callable[[str], Any], environment: str, known_ids: set[str]) -> list[str]:
    """Delete every resource of `environment` not in `known_ids`; returns what was deleted.

    `client_for(service)` gives the client of a service in the environment's region.
    """
    deleted: list[str] = []
    for provider in teardown_order():
        client = client_for(provider.service)
        found = provider.orphans(client, environment, known_ids)
        if found:
            provider.remove_orphans(client, found)
            deleted += [provider.id_of(described) for described in found]
    return deleted
