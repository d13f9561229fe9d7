"""The small protocols the engine drives; backends implement them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from provisioner.engine.events import EventSink
from provisioner.errors import HostError
from provisioner.graph.kinds.software import SoftwareNode
from provisioner.graph.kinds.vm import VmNode
from provisioner.jsonable import dump
from provisioner.plan import Action, Plan, TaskChange
from provisioner.spec.addresses import Address, AddressText, ResourceAddress
from provisioner.spec.references import EnvironmentReference


@dataclass(frozen=True)
class VmOutput:
    """What the cloud reports about one VM."""

    address: AddressText
    id: str
    private_ip: str
    public_ip: str
    subnet: str  # `subnet.public-a`, or another environment's: `${env.network.subnet....}`
    roles: tuple[str, ...]
    hostname: str
    key_pair: AddressText | None

    def to_json(self) -> dict[str, Any]:
        """Its fields but the address (the key it is listed under)."""
        return {key: value for key, value in dump(self).items() if key != "address"}


@dataclass(frozen=True)
class EnvironmentOutputs:
    """The environment's outputs after an apply. Private keys are kept apart, never rendered."""

    environment: str
    vms: Mapping[Address, VmOutput] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)
    private_keys: Mapping[str, str] = field(default_factory=dict, repr=False)

    def find_vm(self, name: str) -> VmOutput:
        """A VM by address (`vm.web[0]`) or host name (`web-0`); HostError if there is none."""
        for vm in self.vms.values():
            if name in (str(vm.address), vm.hostname):
                return vm
        known = ", ".join(f"{vm.address} ({vm.hostname})" for vm in self.vms.values()) or "none"
        raise HostError(f"no VM '{name}' in {self.environment}", hint=f"VMs: {known}")

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "vms": {str(address): vm.to_json() for address, vm in self.vms.items()},
            "outputs": dict(self.values),
        }


@dataclass(frozen=True)
class ReadyResource:
    """A cloud node whose resource exists, with the attributes `${...}` references read.

    A key pair also carries its private key, and a database its secret attributes
    (`secrets`: its password), which are never rendered.
    """

    address: Address
    attributes: Mapping[str, Any]
    private_key: str | None = field(default=None, repr=False)
    secrets: Mapping[str, Any] = field(default_factory=dict, repr=False)


OnReady = Callable[[ReadyResource], None]


@dataclass(frozen=True)
class UpstreamValues:
    """What another environment (one this one uses) exports for it to read: its spec's
    outputs, its resources' attributes by address, and their secret ones, never rendered."""

    outputs: Mapping[str, Any] = field(default_factory=dict)
    resources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    secrets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class UpstreamPlan:
    """What a plan knows of an environment this one uses, before that one is applied.

    `applied` is False when it never was: nothing of it can be read yet. Otherwise
    `renewed` holds its resources whose plan creates or replaces them: their values
    are known only after it is applied. A value read from either is shown as
    `known after apply of NAME` in this environment's plan, never guessed.
    """

    environment: str
    applied: bool = True
    renewed: frozenset[Address] = frozenset()

    @classmethod
    def of(cls, environment: str, plan: Plan) -> UpstreamPlan:
        """From that environment's own plan (made just before this one)."""
        renewed = {
            change.address.node
            for change in plan.changes
            if change.action in (Action.CREATE, Action.REPLACE)
        }
        return cls(environment, applied=True, renewed=frozenset(renewed))

    def unknown(self, read: EnvironmentReference) -> bool:
        """True if what `read` reads of this environment is known only after its apply."""
        if not self.applied:
            return True
        if read.resource is None:  # an output: it may read any renewed resource
            return bool(self.renewed)
        return read.resource.target in self.renewed


UpstreamPlans = Mapping[str, UpstreamPlan]


class CloudBackend(Protocol):
    """Creates, changes and deletes an environment's cloud resources."""

    def preview(self, sink: EventSink, upstreams: UpstreamPlans | None = None) -> Plan:
        """The changes an apply would make, against the live cloud; what the environment
        reads of others that `upstreams` has not applied yet is shown as unknown."""
        ...

    def preview_destroy(self, sink: EventSink) -> Plan:
        """What a destroy would delete."""
        ...

    def apply(self, sink: EventSink, on_ready: OnReady | None = None) -> EnvironmentOutputs:
        """Make the cloud match the spec; events report each resource as it goes.

        `on_ready` is called, from another thread, as soon as each cloud node's
        resource exists, so that work on it can start before the apply ends.
        """
        ...

    def destroy(self, sink: EventSink) -> None:
        """Delete every resource of the environment, dependents first."""
        ...

    def destroy_only(self, addresses: list[ResourceAddress], sink: EventSink) -> None:
        """Delete these resources (a failed run's creations), dependents first."""
        ...

    def drift(self, sink: EventSink) -> Plan:
        """Managed properties whose live value differs from the recorded one, or gone."""
        ...

    def fingerprint(self) -> str:
        """A digest of the recorded state; it changes whenever the state does."""
        ...

    def recover(self) -> list[str]:
        """Clear what an interrupted run left pending; returns the addresses concerned."""
        ...

    def cancel(self) -> None:
        """Stop an operation still running after an interrupt, letting it record its steps."""
        ...

    def recorded_addresses(self) -> set[ResourceAddress]:
        """The addresses of the resources the state records now."""
        ...

    def outputs(self) -> EnvironmentOutputs:
        """The outputs recorded by the last apply."""
        ...

    def ready_resources(self) -> list[ReadyResource]:
        """Every cloud node as recorded by the last apply."""
        ...

    def upstream_values(self, environment: str) -> UpstreamValues:
        """What `environment` (one this one uses, same state backend) exports, as recorded."""
        ...


@dataclass(frozen=True)
class SshRoute:
    """How to reach one host over SSH.

    `host_key_alias` pins host keys per instance rather than per address, so a
    replaced VM that reuses an address is not mistaken for an attack.
    """

    address: str
    host_key_alias: str
    proxy_command: str | None = None
    python_interpreter: str | None = None  # None: let Ansible discover it


class HostReach(Protocol):
    """Finds the SSH route to a VM, or refuses one that may not be reached."""

    def route(self, instance_id: str, address: str, *, timeout: float) -> SshRoute:
        """The route to instance `instance_id` at `address`, once its sshd answers."""
        ...

    def wait_gone(self, instance_ids: list[str], *, timeout: float) -> None:
        """Return once the hosts of these deleted instances no longer exist."""
        ...


# How a host target's variables hold a secret: a placeholder naming it, never its value.
_SECRET_PLACEHOLDER = re.compile(r"\(\(secret ([A-Z][A-Z0-9_]*)\)\)")


def secret_placeholder(name: str) -> str:
    """The text that stands for secret `name` in a host target's variables."""
    return f"((secret {name}))"


def replace_secret_placeholders(text: str, by: Callable[[str], str]) -> str:
    """`text` with each secret placeholder replaced by `by(name)`."""
    return _SECRET_PLACEHOLDER.sub(lambda match: by(match.group(1)), text)


@dataclass(frozen=True)
class HostTarget:
    """Everything needed to configure one software node on its VM.

    `variables` hold secrets as placeholders (`secret_placeholder`); `secrets` gives
    their values by name, for the host backend to hand over at run time only.
    """

    node: SoftwareNode
    vm: VmNode
    instance_id: str
    private_ip: str
    variables: Mapping[str, Any]
    private_key: str | None = field(default=None, repr=False)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class ConfigureResult:
    """How one role went on one host: task counts, and whether it failed."""

    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: bool = False
    error: str | None = None
    # Failed only because another host of the same run failed it (a timeout stops them all).
    collateral: bool = False

    @property
    def succeeded(self) -> bool:
        return not self.failed and not self.unreachable and self.error is None

    def to_json(self) -> dict[str, Any]:
        return {**dump(self), "succeeded": self.succeeded}


@dataclass(frozen=True)
class ApplyResult:
    """What `up` leaves: the outputs, and how each software node's configuration went."""

    outputs: EnvironmentOutputs
    configured: Mapping[str, ConfigureResult] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            **self.outputs.to_json(),
            "configured": {address: r.to_json() for address, r in self.configured.items()},
        }


class HostBackend(Protocol):
    """Configures software on hosts.

    `configure` and `check` take targets that run the same role (the same
    playbook), so that a backend can serve them with one run; they answer one
    result per target, in the targets' order, and one host's failure is its own.
    """

    def configure(self, targets: Sequence[HostTarget], sink: EventSink) -> list[ConfigureResult]:
        """Run the nodes' role on their VMs; task events go to `sink` as they happen."""
        ...

    def check(self, targets: Sequence[HostTarget], sink: EventSink) -> list[tuple[TaskChange, ...]]:
        """What running the nodes' role would change on each VM, task by task."""
        ...

    def release(self, instance_ids: list[str]) -> None:
        """Forget deleted VMs: wait until their hosts are gone, drop their pinned host keys."""
        ...
