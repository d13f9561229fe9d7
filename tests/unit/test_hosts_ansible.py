"""The hosts backend's pure parts: inventory, SSH options, key files, Ansible event translation."""

from __future__ import annotations

import shlex
import stat
from pathlib import Path
from typing import Any

import pytest

from provisioner.engine.events import TaskStatus
from provisioner.engine.ports import HostTarget, SshRoute
from provisioner.graph.nodes import SoftwareNode, VmNode
from provisioner.hosts.ansible import task_result
from provisioner.hosts.inventory import extra_vars, inventory_for
from provisioner.hosts.ssh import private_key_file, ssh_command, ssh_options
from provisioner.spec.addresses import Address

ROUTE = SshRoute(
    address="10.20.1.4",
    host_key_alias="i-0abc",
    proxy_command="ip netns exec pabc-vpc-1 nc %h %p",
    remote_temp="/run/provision-host/ansible-tmp",
    python_interpreter="/usr/bin/python3",
)
VM = VmNode(Address.vm("web-tier", 0), roles=("base", "web"), key_pair=None)
NODE = SoftwareNode(Address.software("web", VM.address), role="web", playbook="web.yml")
TARGET = HostTarget(
    node=NODE,
    vm=VM,
    instance_id="i-0abc",
    private_ip="10.20.1.4",
    variables={"db_host": "10.20.2.4"},
    private_key="-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n",
)


def test_inventory_groups_the_host_by_role_and_vm_group() -> None:
    inventory = inventory_for(TARGET, ROUTE, Path("/state/known_hosts"))
    assert inventory["all"]["children"] == {
        "role_base": {"hosts": {"web-tier-0": {}}},
        "role_web": {"hosts": {"web-tier-0": {}}},
        "vms_web_tier": {"hosts": {"web-tier-0": {}}},
    }
    host = inventory["all"]["hosts"]["web-tier-0"]
    assert host["ansible_host"] == "10.20.1.4"
    assert host["provision_address"] == "vm.web-tier[0]"
    assert host["ansible_remote_tmp"] == "/run/provision-host/ansible-tmp"
    assert host["ansible_python_interpreter"] == "/usr/bin/python3"
    assert "PRIVATE KEY" not in repr(inventory)


def test_ansible_ssh_args_enter_the_vpc_namespace_and_pin_the_instance_key() -> None:
    inventory = inventory_for(TARGET, ROUTE, Path("/state/known_hosts"))
    args = shlex.split(inventory["all"]["hosts"]["web-tier-0"]["ansible_ssh_common_args"])
    assert "ProxyCommand=ip netns exec pabc-vpc-1 nc %h %p" in args
    assert "HostKeyAlias=i-0abc" in args
    assert "StrictHostKeyChecking=accept-new" in args
    assert "UserKnownHostsFile=/state/known_hosts" in args


def test_a_direct_route_has_no_proxy() -> None:
    options = ssh_options(SshRoute("10.0.0.5", "i-1"), Path("/k"))
    assert not [o for o in options if o.startswith("ProxyCommand")]


def test_ssh_command_runs_the_command_as_one_remote_argument() -> None:
    argv = ssh_command(ROUTE, Path("/k"), Path("/key"), ["sh", "-c", "echo a b"])
    assert argv[-2:] == ["root@10.20.1.4", "sh -c 'echo a b'"]
    assert "-t" not in argv
    assert "-t" in ssh_command(ROUTE, Path("/k"), Path("/key"))


def test_extra_vars_carry_the_role_variables_and_the_environment() -> None:
    assert extra_vars("dev", TARGET) == {"db_host": "10.20.2.4", "provision_environment": "dev"}


def test_the_private_key_file_is_0600_and_removed_afterwards(tmp_path: Path) -> None:
    with private_key_file(tmp_path / "env", "KEY") as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert path.read_text() == "KEY\n"
    assert not path.exists()


def event(kind: str, res: dict[str, Any] | None = None, **data: Any) -> dict[str, Any]:
    return {
        "event": kind,
        "event_data": {"host": "web-0", "task": "T", **({"res": res} if res else {}), **data},
    }


@pytest.mark.parametrize(
    ("raw", "check", "status", "unpredictable"),
    [
        (event("runner_on_ok", {"changed": False}), False, TaskStatus.OK, False),
        (event("runner_on_ok", {"changed": True}), False, TaskStatus.CHANGED, False),
        (event("runner_on_failed", {"msg": "boom"}), False, TaskStatus.FAILED, False),
        (
            event("runner_on_failed", {"msg": "boom"}, ignore_errors=True),
            False,
            TaskStatus.OK,
            False,
        ),
        (event("runner_on_unreachable", {"msg": "no"}), False, TaskStatus.UNREACHABLE, False),
        (
            {
                "event": "runner_on_skipped",
                "event_data": {"host": "web-0", "task": "T"},
                "stdout": 'skipping: [web-0] => {"msg": "Command would have run if not in check '
                'mode"}',
            },
            True,
            TaskStatus.SKIPPED,
            True,
        ),
        (
            {
                "event": "runner_on_skipped",
                "event_data": {"host": "web-0", "task": "T"},
                "stdout": 'skipping: [web-0] => {"skip_reason": "Conditional result was False"}',
            },
            True,
            TaskStatus.SKIPPED,
            False,
        ),
    ],
    ids=["ok", "changed", "failed", "ignored", "unreachable", "check-blind", "conditional"],
)
def test_runner_events_becometask_results(
    raw: dict[str, Any], check: bool, status: TaskStatus, unpredictable: bool
) -> None:
    result = task_result(raw, check=check)
    assert result is not None
    assert (result.host, result.task, result.status) == ("web-0", "T", status)
    assert result.unpredictable is unpredictable
    if status in (TaskStatus.FAILED, TaskStatus.UNREACHABLE):
        assert result.message in ("boom", "no")


def test_check_mode_diffs_become_unified_text() -> None:
    raw = event(
        "runner_on_ok",
        {
            "changed": True,
            "diff": [{"before": "a\n", "after": "a\nb\n", "before_header": "/etc/x"}],
        },
    )
    result = task_result(raw, check=True)
    assert result is not None and result.diff is not None
    assert "--- /etc/x" in result.diff and "+b" in result.diff


def test_events_that_are_nottask_results_are_ignored() -> None:
    assert task_result({"event": "playbook_on_start", "event_data": {}}, check=False) is None
