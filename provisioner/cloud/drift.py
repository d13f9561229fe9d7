"""Drift: the managed properties whose live value differs from the recorded one, or gone.

One state export gives every resource's recorded inputs and outputs; the live
cloud is read in bulk (`aws.live`), one describe per resource type and chunk of
ids, rather than one provider call per resource as a Pulumi refresh makes.

Only managed properties count: the inputs recorded for a resource (not Pulumi's
own, not operational settings, not unset), compared as recorded outputs against
live outputs. Secrets are masked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from provisioner.cloud.aws.base import Outputs
from provisioner.cloud.aws.live import Recorded, provider_of, read_live
from provisioner.cloud.errors import boto_errors
from provisioner.cloud.pulumi.state import (
    address_of,
    is_cloud_resource,
    is_secret,
    managed_keys,
    masked,
    resource_address_of,
)
from provisioner.errors import CloudError
from provisioner.plan import Action, Plan, PropertyChange, ResourceChange

State = Mapping[str, Any]  # one resource of an exported deployment


def detect_drift(
    environment: str,
    states: Iterable[State],
    client_for: Callable[[str, str], Any],
    region: str,
) -> Plan:
    """Drift of the resources in `states`, read live with `client_for(service, region)` clients.

    `region` is the one for resources that do not record their own.
    """
    resources = {str(state["urn"]): state for state in states if _readable(state)}
    recorded = [_recorded(urn, state, region) for urn, state in resources.items()]
    with boto_errors("reading the live cloud"):
        live = read_live(recorded, client_for)
    return Plan(environment, tuple(drift_changes(resources, live)))


def drift_changes(
    resources: Mapping[str, State], live: Mapping[str, Outputs | None]
) -> list[ResourceChange]:
    """Changes by address: UPDATE with the drifted managed properties, DELETE when gone.

    `resources` and `live` are keyed by URN; a resource missing from `live` is gone.
    """
    changes: list[ResourceChange] = []
    for urn, state in resources.items():
        address = resource_address_of(urn)
        now = live.get(urn)
        if now is None:
            changes.append(ResourceChange(address, Action.DELETE))
            continue
        diff = property_drift(state.get("inputs") or {}, state.get("outputs") or {}, now)
        if diff:
            changes.append(ResourceChange(address, Action.UPDATE, diff))
    return sorted(changes, key=lambda change: change.address)


def property_drift(
    inputs: Mapping[str, Any], recorded: Mapping[str, Any], live: Mapping[str, Any]
) -> tuple[PropertyChange, ...]:
    """Each managed property whose live value differs from its recorded output, masked.

    A property the read does not return keeps its recorded value, as in a refresh;
    one recorded as a secret is encrypted in the export, and a refresh preview shows
    it only as a secret on both sides, so it is not compared.
    """
    after = {**recorded, **live}
    return tuple(
        PropertyChange(key, masked(key, recorded.get(key)), masked(key, after.get(key)))
        for key in managed_keys(inputs)
        if recorded.get(key) != after.get(key) and not is_secret(recorded.get(key))
    )


def _readable(state: State) -> bool:
    # A `delete` entry is an old copy that a replacement left for deletion: not managed.
    return is_cloud_resource(state) and bool(state.get("id")) and not state.get("delete")


def _recorded(urn: str, state: State, region: str) -> Recorded:
    resource_id = str(state["id"])
    outputs: Mapping[str, Any] = state.get("outputs") or {}
    provider = provider_of(resource_id, outputs)
    if provider is None:
        raise CloudError(
            f"cannot read {address_of(urn)} ({resource_id}) back: "
            f"no provider of ours records that id (type {state.get('type')})"
        )
    inputs: Mapping[str, Any] = state.get("inputs") or {}
    own_region = outputs.get("region") or inputs.get("region") or region
    return Recorded(urn, resource_id, provider, str(own_region), outputs)
