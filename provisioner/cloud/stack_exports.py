"""What a stack exports, written by the program and read back by PulumiCloud, in one place.

The program exports six outputs: each cloud node's readable attributes
(those `${...}` reads), each VM's facts, the spec's outputs, the environments it
uses, and two Pulumi secrets: the key pairs' private keys, and the secret
attributes (a database's password) that `${...}` reads too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.cloud.pulumi.state import USES_OUTPUT, is_secret, is_unknown
from provisioner.engine.ports import EnvironmentOutputs, ReadyResource, VmOutput
from provisioner.plan import PropertyChange
from provisioner.spec.addresses import Address

# The names of the stack's outputs.
RESOURCES = "resources"
VMS = "vms"
SPEC_OUTPUTS = "outputs"
PRIVATE_KEYS = "ssh_private_keys"
SECRET_ATTRIBUTES = "secret_attributes"  # noqa: S105 - an output name, not a secret
USES = USES_OUTPUT  # the environments it uses: found from state when its spec is gone
# Per VM, the facts the spec gives (the rest of a VM's facts come from the cloud).
VM_SPEC_FACTS = ("roles", "hostname", "subnet", "key_pair")


def _as_is(value: Any) -> Any:
    return value


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class StackExports:
    """A stack's exports. In a program, values may be Pulumi outputs still to resolve.

    `resources`: attributes by node address; `vms`: facts (id, private_ip,
    public_ip, subnet, roles, hostname, key_pair) by VM address; `outputs`: the
    spec's outputs by name (in a program, one Pulumi output of that mapping);
    `private_keys`: by key pair address, and `secrets`: secret attributes by node
    address, never shown.
    """

    resources: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    vms: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    outputs: Any = field(default_factory=dict)
    private_keys: Mapping[str, Any] = field(default_factory=dict, repr=False)
    secrets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)
    uses: tuple[str, ...] = ()

    def encode(self, secret: Callable[[Any], Any] = _as_is) -> dict[str, Any]:
        """The outputs to export, by name; `secret` wraps the private keys and the secret
        attributes (a program passes `pulumi.Output.secret`)."""
        return {
            RESOURCES: self.resources,
            VMS: self.vms,
            SPEC_OUTPUTS: self.outputs,
            PRIVATE_KEYS: secret(self.private_keys),
            SECRET_ATTRIBUTES: secret(self.secrets),
            USES: list(self.uses),
        }

    @classmethod
    def decode(cls, exported: Mapping[str, Any]) -> StackExports:
        """The exports as a stack's outputs hold them (an output missing reads as empty)."""
        return cls(
            resources=_mapping(exported.get(RESOURCES)),
            vms=_mapping(exported.get(VMS)),
            # In a preview, the spec's outputs may be one unknown value, or a secret.
            outputs=exported.get(SPEC_OUTPUTS) or {},
            private_keys=_mapping(exported.get(PRIVATE_KEYS)),
            secrets=_mapping(exported.get(SECRET_ATTRIBUTES)),
            uses=tuple(str(used) for used in exported.get(USES) or () if isinstance(used, str)),
        )

    def environment_outputs(self, environment: str) -> EnvironmentOutputs:
        """The exports as the engine's typed outputs."""
        vms = {
            Address.parse(address): VmOutput(
                address=Address.parse(address),
                id=str(vm.get("id") or ""),
                private_ip=str(vm.get("private_ip") or ""),
                public_ip=str(vm.get("public_ip") or ""),
                subnet=str(vm["subnet"]),
                roles=tuple(vm.get("roles") or ()),
                hostname=str(vm.get("hostname") or ""),
                key_pair=Address.parse(vm["key_pair"]) if vm.get("key_pair") else None,
            )
            for address, vm in sorted(self.vms.items())
        }
        return EnvironmentOutputs(
            environment=environment,
            vms=vms,
            values=dict(self.outputs),
            private_keys=dict(self.private_keys),
        )

    def ready_resources(self) -> list[ReadyResource]:
        """Each cloud node recorded, with key pairs' private keys and secret attributes."""
        return [
            ReadyResource(
                Address.parse(address),
                dict(attributes),
                private_key=self.private_keys.get(address),
                secrets=dict(self.secrets.get(address) or {}),
            )
            for address, attributes in sorted(self.resources.items())
        ]


def spec_output_changes(
    recorded: Mapping[str, Any], previewed: Mapping[str, Any]
) -> tuple[PropertyChange, ...]:
    """What changes in the outputs a spec defines, leaf by leaf, for people to read.

    Its `outputs`, and each VM's spec-given facts (roles, host name, subnet, key
    pair) of VMs that exist and stay. Values not known yet (of resources the plan
    changes) are left out: the apply renews them anyway.
    """
    old, new = StackExports.decode(recorded), StackExports.decode(previewed)
    changes = [
        PropertyChange(f"{SPEC_OUTPUTS}.{path}", before, after)
        for path, before, after in _leaves(old.outputs, new.outputs)
    ]
    for address in sorted(set(old.vms) & set(new.vms)):
        for fact in VM_SPEC_FACTS:
            before, after = old.vms[address].get(fact), new.vms[address].get(fact)
            if before != after:
                changes.append(PropertyChange(f"{VMS}.{address}.{fact}", before, after))
    return tuple(c for c in changes if not is_unknown(c.after) and not is_secret(c.after))


def _leaves(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """(path, before, after) of each leaf that differs between two nested mappings."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            path = f"{prefix}.{key}" if prefix else str(key)
            found += _leaves(old.get(key), new.get(key), path)
        return found
    return [] if old == new else [(prefix, old, new)]
