"""What the cloud layer knows of a resource kind: the providers that make it, its outputs.

A provider module declares one `CloudKind` per kind it serves: its providers
(the main resource first, then the parts made after it, as a network's internet
gateway and route table), and which output of the main resource each readable
attribute is. Drift reads every provider in bulk, and the orphan sweep deletes
kinds dependents first (by the kinds' ranks), each kind's parts before its main
resource.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from provisioner.cloud.aws.base import AwsProvider
from provisioner.declarations import collect
from provisioner.spec.addresses import ResourceKind


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
