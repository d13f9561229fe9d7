"""Ansible inventory and variables for software nodes, from the VMs' cloud outputs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from provisioner.engine.ports import HostTarget, SshRoute, replace_secret_placeholders
from provisioner.hosts.ssh import LOGIN_USER, ansible_ssh_args


def group_name(prefix: str, name: str) -> str:
    """An Ansible-safe group name (letters, digits, underscores)."""
    return f"{prefix}_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"


def inventory_for(
    target: HostTarget, route: SshRoute, known_hosts: Path, key_file: Path | None = None
) -> dict[str, Any]:
    """The VM as an inventory host: in a group per role and one for its VM group.

    Host variables say how to connect (with `key_file`, its own private key) and
    what the host is.
    """
    vm = target.vm
    hostvars: dict[str, Any] = {
        "ansible_host": route.address,
        "ansible_user": LOGIN_USER,
        "ansible_ssh_common_args": ansible_ssh_args(route, known_hosts),
        "provision_address": str(vm.address),
        "provision_instance_id": target.instance_id,
        "provision_roles": list(vm.roles),
    }
    if key_file is not None:
        hostvars["ansible_ssh_private_key_file"] = str(key_file)
    if route.python_interpreter:
        hostvars["ansible_python_interpreter"] = route.python_interpreter
    groups: dict[str, Any] = {
        group_name("role", role): {"hosts": {vm.hostname: {}}} for role in vm.roles
    }
    groups[group_name("vms", vm.address.name)] = {"hosts": {vm.hostname: {}}}
    return {"all": {"hosts": {vm.hostname: hostvars}, "children": groups}}


def merged_inventory(inventories: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One inventory holding the hosts (and group memberships) of several `inventory_for`s."""
    hosts: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    for inventory in inventories:
        hosts.update(inventory["all"]["hosts"])
        for name, group in inventory["all"]["children"].items():
            groups.setdefault(name, {"hosts": {}})["hosts"].update(group["hosts"])
    return {"all": {"hosts": hosts, "children": groups}}


def extra_vars(environment: str, target: HostTarget) -> Mapping[str, Any]:
    """The role's variables (references resolved), under the VM group's, plus the environment.

    They go in as extra vars so that they override the playbook's own defaults. A
    secret goes in as a lookup of the environment variable that holds it during
    the run (`HostTarget.secrets`): its value is on no command line and in no file.
    """
    variables = _secrets_looked_up(dict(target.variables))
    return {**variables, "provision_environment": environment}


def _secrets_looked_up(value: Any) -> Any:
    if isinstance(value, str):
        return replace_secret_placeholders(
            value, lambda name: f"{{{{ lookup('ansible.builtin.env', '{name}') }}}}"
        )
    if isinstance(value, dict):
        return {key: _secrets_looked_up(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_secrets_looked_up(item) for item in value]
    return value
