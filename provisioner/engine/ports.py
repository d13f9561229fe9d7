"""The small protocols the engine drives; backends implement them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from provisioner.engine.events import EventSink
from provisioner.plan import Plan


@dataclass(frozen=True)
class VmOutput:
    """What the cloud reports about one VM."""

    address: str
    id: str
    private_ip: str
    public_ip: str
    subnet: str
    roles: tuple[str, ...]
    hostname: str
    key_pair: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "private_ip": self.private_ip,
            "public_ip": self.public_ip,
            "subnet": self.subnet,
            "roles": list(self.roles),
            "hostname": self.hostname,
            "key_pair": self.key_pair,
        }


@dataclass(frozen=True)
class EnvironmentOutputs:
    """The environment's outputs after an apply. Private keys are kept apart, never rendered."""

    environment: str
    vms: Mapping[str, VmOutput] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)
    private_keys: Mapping[str, str] = field(default_factory=dict, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "vms": {address: vm.to_json() for address, vm in self.vms.items()},
            "outputs": dict(self.values),
        }


class CloudBackend(Protocol):
    """Creates, changes and deletes an environment's cloud resources."""

    def preview(self, sink: EventSink) -> Plan:
        """The changes an apply would make, against the live cloud."""
        ...

    def preview_destroy(self, sink: EventSink) -> Plan:
        """What a destroy would delete."""
        ...

    def apply(self, sink: EventSink) -> EnvironmentOutputs:
        """Make the cloud match the spec; events report each resource as it goes."""
        ...

    def destroy(self, sink: EventSink) -> None:
        """Delete every resource of the environment, dependents first."""
        ...

    def outputs(self) -> EnvironmentOutputs:
        """The outputs recorded by the last apply."""
        ...
