"""The hosts backend's pure parts: inventory, SSH options, key files, Ansible event translation."""

from __future__ import annotations

import json
import shlex
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest

from provisioner.engine.events import NullSink, TaskStatus
from provisioner.engine.ports import HostTarget, SshRoute
from provisioner.graph.kinds.software import SoftwareNode, software_address
from provisioner.graph.kinds.vm import VmNode, vm_address
from provisioner.hosts.ansible import (
    MASK,
    PlaybookOutcome,
    TaskResult,
    completed_hosts,
    scrub_recorded_environments,
    task_result,
    task_started,
)
from provisioner.hosts.ansible_env import shared_connections_dir
from provisioner.hosts.ansible_hosts import AnsibleHosts, AnsibleSettings, host_summary
from provisioner.hosts.inventory import extra_vars, inventory_for, merged_inventory
from provisioner.hosts.ssh import private_key_file, ssh_command, ssh_options

ROUTE = SshRoute(
    address="10.20.1.4",
    host_key_alias="i-0abc",
    proxy_command="ip netns exec pabc-vpc-1 nc %h %p",
    python_interpreter="/usr/bin/python3",
)
VM = VmNode(vm_address("web-tier", 0), roles=("base", "web"), key_pair=None)
NODE = SoftwareNode(software_address("web", VM.address), role="web", playbook="web.yml")
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


def test_one_inventory_holds_several_hosts_each_with_its_own_route_and_key() -> None:
    other_vm = VmNode(vm_address("web-tier", 1), roles=("base", "web"), key_pair=None)
    other = HostTarget(
        node=SoftwareNode(software_address("web", other_vm.address), role="web"),
        vm=other_vm,
        instance_id="i-0def",
        private_ip="10.20.1.5",
        variables={},
        private_key="KEY",
    )
    other_route = SshRoute("10.20.1.5", "i-0def", proxy_command="ip netns exec v nc %h %p")
    known = Path("/state/known_hosts")
    inventory = merged_inventory(
        [
            inventory_for(TARGET, ROUTE, known, Path("/run/keys/web-tier-0/key")),
            inventory_for(other, other_route, known, Path("/run/keys/web-tier-1/key")),
        ]
    )
    hosts = inventory["all"]["hosts"]
    assert hosts["web-tier-0"]["ansible_ssh_private_key_file"] == "/run/keys/web-tier-0/key"
    assert hosts["web-tier-1"]["ansible_ssh_private_key_file"] == "/run/keys/web-tier-1/key"
    assert "HostKeyAlias=i-0def" in hosts["web-tier-1"]["ansible_ssh_common_args"]
    assert "HostKeyAlias=i-0abc" in hosts["web-tier-0"]["ansible_ssh_common_args"]
    assert inventory["all"]["children"]["role_web"] == {
        "hosts": {"web-tier-0": {}, "web-tier-1": {}}
    }


def test_final_stats_name_the_hosts_that_went_through_the_play() -> None:
    stats = {
        "event": "playbook_on_stats",
        "event_data": {
            "processed": {"a": 1, "b": 1, "c": 1},
            "failures": {"b": 1},
            "dark": {"c": 1},
        },
    }
    assert completed_hosts(stats) == {"a"}
    assert completed_hosts({"event": "runner_on_ok", "event_data": {"host": "a"}}) == set()


@pytest.mark.parametrize(
    ("host", "succeeded", "changed", "error"),
    [
        ("a", True, 1, None),
        ("b", False, 0, "task 'T2' failed: boom"),
        ("c", False, 0, "task 'T1' failed: no route"),
        ("d", False, 0, "ansible-playbook ended failed (rc 2): fatal"),
    ],
    ids=["went-well", "failed-task", "unreachable", "never-finished"],
)
def test_a_shared_run_is_summed_up_per_host(
    host: str, succeeded: bool, changed: int, error: str | None
) -> None:
    outcome = PlaybookOutcome(
        status="failed",
        rc=2,
        tasks=(
            TaskResult("a", "T1", TaskStatus.CHANGED),
            TaskResult("b", "T1", TaskStatus.OK),
            TaskResult("c", "T1", TaskStatus.UNREACHABLE, message="no route"),
            TaskResult("a", "T2", TaskStatus.OK),
            TaskResult("b", "T2", TaskStatus.FAILED, message="boom"),
        ),
        output_tail="fatal",
        completed=frozenset({"a"}),
    )
    result = host_summary(outcome, host)
    assert (result.succeeded, result.changed, result.error) == (succeeded, changed, error)


def test_a_started_task_is_known_until_it_ends() -> None:
    started = {"event": "runner_on_start", "event_data": {"host": "web-1", "task": "Hang"}}
    assert task_started(started) == ("web-1", "Hang")
    assert task_started({"event": "runner_on_ok", "event_data": {"host": "web-1"}}) is None


def target_on(index: int) -> HostTarget:
    vm = VmNode(vm_address("web", index), roles=("hang",), key_pair=None)
    node = SoftwareNode(software_address("hang", vm.address), role="hang", playbook="hang.yml")
    return HostTarget(node, vm, f"i-{index}", f"10.20.1.{index + 4}", {})


def test_a_run_that_times_out_names_the_hanging_host_and_stops_the_others_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = AnsibleSettings("dev", tmp_path, tmp_path, tmp_path, tmp_path / "kh", timeout=8)
    hosts = AnsibleHosts(settings, reach=None)  # type: ignore[arg-type]
    timed_out = PlaybookOutcome("timeout", 254, (), "", unfinished={"web-1": "Hang here"})
    monkeypatch.setattr(hosts, "_run", lambda targets, sink, check: [timed_out, timed_out])
    stopped, hung = hosts.configure([target_on(0), target_on(1)], NullSink())
    assert hung.error == ("timed out after 8s (the spec's timeouts.software) in task 'Hang here'")
    assert not hung.collateral
    assert stopped.collateral and stopped.error is not None
    assert stopped.error.startswith("stopped after 8s (the spec's timeouts.software)")
    assert "shared with software.hang@vm.web[1]" in stopped.error


def test_shared_connections_live_in_the_temp_folder_unless_its_path_is_too_long_for_a_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", "/var/tmp")
    assert shared_connections_dir("r1") == Path("/var/tmp/provision-ssh-r1")
    deep = "/tmp/" + "/".join(["a-rather-long-folder-name"] * 4)
    monkeypatch.setattr(tempfile, "tempdir", deep)
    assert shared_connections_dir("r1") == Path("/tmp/provision-ssh-r1")


def test_a_killed_runs_recorded_environment_loses_its_secrets_by_name(tmp_path: Path) -> None:
    command = tmp_path / "ansible" / "001-web" / "artifacts" / "abc" / "command"
    command.parent.mkdir(parents=True)
    env = {"PATH": "/usr/bin", "PROVISION_SECRET_0A1B2C": "hunter2-long-password"}
    command.write_text(json.dumps({"command": ["ansible-playbook"], "cwd": "/", "env": env}))

    assert scrub_recorded_environments(tmp_path) == 1
    recorded = json.loads(command.read_text())
    assert recorded["env"] == {"PATH": "/usr/bin", "PROVISION_SECRET_0A1B2C": MASK}
    assert "hunter2" not in command.read_text()
    assert scrub_recorded_environments(tmp_path) == 0  # nothing left to mask
