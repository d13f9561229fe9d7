"""What the cloud layer knows of a resource kind: the providers that make it, its outputs.

A provider module declares one `CloudKind` per kind it serves: its providers
in the order their resources are made (a network's VPC, then its internet
gateway and route table; a database's subnet group, then its instance), and
which output of the main resource (the one references read) each readable
attribute is. Drift reads every provider in bulk, and the orphan sweep deletes
kinds dependents first (by the kinds' ranks), each kind's resources in the
reverse order of their making.

A kind may refuse, at plan time, a change the cloud would refuse (`refusals`):
the plan then fails with the spec field to change.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from provisioner.cloud.aws.base import AwsProvider
from provisioner.declarations import collect
from provisioner.plan import ResourceChange
from provisioner.spec.addresses import ResourceKind
from provisioner.spec.diagnostics import FieldPath

# The spec fields (and why) that make a planned change of a node's resources impossible.
Refusals = Callable[[Any, ResourceChange], Iterator[tuple[FieldPath, str]]]


@dataclass(frozen=True)
class CloudKind:
    """One resource kind in the cloud.

    `attributes` maps each readable attribute that the cloud makes to the output of
    the main resource that holds it (attributes the spec itself gives, such as a
    VM's host name, are the stack program's).
    """

    kind: ResourceKind
    providers: tuple[type[AwsProvider], ...]
    attributes: Mapping[str, str]
    refusals: Refusals | None = None


@functools.cache
def cloud_kinds() -> tuple[CloudKind, ...]:
    """Every cloud kind, each after the kinds it may depend on (found in this package)."""
    found = collect(__package__ or "provisioner.cloud.aws", CloudKind, lambda cloud: cloud.kind)
    return tuple(sorted(found.values(), key=lambda cloud: (cloud.kind.rank, cloud.kind.value)))


def providers() -> tuple[type[AwsProvider], ...]:
    """Every provider of every cloud kind."""
    return tuple(provider for kind in cloud_kinds() for provider in kind.providers)


def cloud_kind(kind: ResourceKind) -> CloudKind:
    """The cloud declaration of `kind`."""
    for found in cloud_kinds():
        if found.kind is kind:
            return found
    raise KeyError(kind)
