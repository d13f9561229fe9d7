"""The local cloud's hosts and Ansible: real namespace hosts, sshd, ansible-runner over SSH.

The tests run in order on the dev environment, in a project copied to a
temporary folder with its own state folder (and so its own local cloud).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.local.hosts import HostFarm
from provisioner.local.record import LocalPaths
from tests.integration.projects import Project

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("hosts"))
    yield project
    project.teardown("dev")


@pytest.fixture(scope="module")
def applied(project: Project) -> dict[str, Any]:
    """The JSON report of the first `up`."""
    report: dict[str, Any] = json.loads(project.run("up", "dev", "--yes", "--json").stdout)
    return report


def ssh(project: Project, host: str, *command: str) -> str:
    return project.run("ssh", "dev", host, "--", *command).stdout


def farm(project: Project) -> HostFarm:
    return HostFarm(LocalPaths(project.state / "local").hosts)


def test_up_configures_every_role_on_every_host(applied: dict[str, Any]) -> None:
    configured = applied["configured"]
    assert sorted(configured) == [
        "software.base@vm.db[0]",
        "software.base@vm.web[0]",
        "software.base@vm.web[1]",
        "software.db@vm.db[0]",
        "software.web@vm.web[0]",
        "software.web@vm.web[1]",
    ]
    assert all(result["succeeded"] and result["changed"] > 0 for result in configured.values())


def test_web_answers_on_both_vms_with_the_db_answer(
    project: Project, applied: dict[str, Any]
) -> None:
    vms = applied["vms"]
    db_ip = vms["vm.db[0]"]["private_ip"]
    for source, target in (("web-0", "vm.web[1]"), ("web-1", "vm.web[0]")):
        page = ssh(project, source, "curl", "-sf", f"http://{vms[target]['private_ip']}:8080/")
        assert "<p>environment: dev</p>" in page
        assert f"<p>host: {vms[target]['hostname']}</p>" in page
        assert "db db-0 says hit" in page, page
    config = ssh(project, "vm.web[0]", "cat", "/etc/webapp.conf")
    assert f"db_url = http://{db_ip}:5432" in config
    stored = json.loads(ssh(project, "db-0", "cat", "/var/lib/kvdb/data.json"))
    assert stored["web-0"] >= 1 and stored["web-1"] >= 1


def test_hosts_have_their_own_name_address_and_files(
    project: Project, applied: dict[str, Any]
) -> None:
    ssh(project, "web-0", "sh", "-c", "echo mine > /srv/only-on-web-0 && echo x > /etc/web-0-etc")
    assert ssh(project, "web-0", "hostname").strip() == "web-0"
    assert ssh(project, "web-1", "hostname").strip() == "web-1"
    listing = ssh(project, "web-1", "ls", "/srv", "/etc").split()
    assert "only-on-web-0" not in listing and "web-0-etc" not in listing
    assert not Path("/etc/web-0-etc").exists()
    address = applied["vms"]["vm.web[1]"]["private_ip"]
    assert address in ssh(project, "web-1", "ip", "-4", "addr", "show", "eth0")
    assert "dev / web-1" in ssh(project, "web-1", "cat", "/etc/motd")


def test_the_main_namespace_has_no_route_to_any_host(applied: dict[str, Any]) -> None:
    # The main namespace holds no VPC address or route: hosts live behind their VPC namespace.
    addresses = subprocess.run(
        ["ip", "-4", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    routes = subprocess.run(
        ["ip", "-4", "route", "show"], capture_output=True, text=True, check=True
    ).stdout
    for vm in applied["vms"].values():
        assert vm["private_ip"] not in addresses
    assert "10.20." not in routes


def test_no_private_key_is_left_on_disk_or_printed(
    project: Project, applied: dict[str, Any]
) -> None:
    runs = project.state / "runs" / "dev"
    assert list(runs.rglob("ssh_private_key")) == []
    for path in [*runs.rglob("*"), *(project.state / "ssh").rglob("*")]:
        if path.is_file():
            assert "PRIVATE KEY" not in path.read_text(errors="replace"), path
    assert "PRIVATE KEY" not in json.dumps(applied)
    known_hosts = project.state / "ssh" / "dev" / "known_hosts"
    for vm in applied["vms"].values():  # pinned per instance, not per address
        found = subprocess.run(
            ["ssh-keygen", "-F", vm["id"], "-f", str(known_hosts)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert "ssh-ed25519" in found.stdout


def test_a_second_up_changes_nothing_on_the_hosts(
    project: Project, applied: dict[str, Any]
) -> None:
    again = json.loads(project.run("up", "dev", "--yes", "--json").stdout)
    assert again["plan"]["has_changes"] is False
    assert {a: r["changed"] for a, r in again["configured"].items()} == dict.fromkeys(
        applied["configured"], 0
    )


def test_a_playbook_change_shows_in_plan_as_a_task_diff_and_up_applies_it(
    project: Project, applied: dict[str, Any]
) -> None:
    assert project.run("plan", "dev", "--detailed-exitcode").returncode == 0
    playbook = project.root / "playbooks" / "web.yml"
    line = "          db_url = http://{{ db_host }}:{{ db_port }}\n"
    assert line in playbook.read_text()
    playbook.write_text(playbook.read_text().replace(line, line + "          motto = ship it\n"))

    result = project.run("plan", "dev", "--json", "--detailed-exitcode", expect=2)
    plan = json.loads(result.stdout)
    software = {change["address"]: change for change in plan["software"]}
    assert plan["software_summary"] == {"configure": 0, "change": 2, "no-op": 4}
    for address in ("software.web@vm.web[0]", "software.web@vm.web[1]"):
        change = software[address]
        assert change["action"] == "update"
        [task] = [t for t in change["tasks"] if t["outlook"] == "change"]
        assert task["task"] == "Service configuration names the database"
        assert "+motto = ship it" in task["diff"]
        unknown = {t["task"] for t in change["tasks"] if t["outlook"] == "unknown"}
        assert "webapp is running" in unknown  # check mode cannot run a shell task
    assert software["software.db@vm.db[0]"]["action"] == "no-op"

    project.run("up", "dev", "--yes")
    assert "motto = ship it" in ssh(project, "web-1", "cat", "/etc/webapp.conf")
    assert project.run("plan", "dev", "--detailed-exitcode").returncode == 0


def test_drift_reports_an_out_of_band_rule_and_a_host_edit_and_up_clears_them(
    project: Project, applied: dict[str, Any]
) -> None:
    ec2 = project.ec2()
    [group] = ec2.describe_security_groups(
        Filters=[
            {"Name": "tag:provision:env", "Values": ["dev"]},
            {"Name": "tag:provision:address", "Values": ["sg.web"]},
        ]
    )["SecurityGroups"]
    ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"],
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 3306,
                "ToPort": 3306,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )
    ssh(project, "web-1", "sh", "-c", "echo edited by hand >> /etc/provision.conf")

    result = project.run("drift", "dev", "--json", expect=2)
    report = json.loads(result.stdout)
    assert report["drift"] is True
    [rule_drift] = [c for c in report["changes"] if c["address"] == "sg.web"]
    [ingress] = [p for p in rule_drift["diff"] if p["path"] == "ingress"]
    assert any(rule["from_port"] == 3306 for rule in ingress["after"])
    assert not any(rule["from_port"] == 3306 for rule in ingress["before"])
    assert {c["address"] for c in report["changes"]} == {"sg.web"}  # only what drifted
    [host_drift] = report["software"]
    assert host_drift["address"] == "software.base@vm.web[1]"
    [task] = [t for t in host_drift["tasks"] if t["outlook"] == "change"]
    assert "-edited by hand" in task["diff"]
    assert "sg.web" in project.run("drift", "dev", expect=2).stdout

    project.run("up", "dev", "--yes")
    assert project.run("drift", "dev").returncode == 0


def test_ssh_refuses_an_unknown_host_with_a_clear_error(project: Project) -> None:
    result = project.run("ssh", "dev", "web-9", "--", "true", expect=1)
    assert "no VM 'web-9' in dev" in result.stderr
    assert "Traceback" not in result.stderr


def test_down_leaves_no_namespace_mount_sshd_or_app_process(
    project: Project, applied: dict[str, Any]
) -> None:
    hosts = farm(project)
    records = hosts.records()
    assert len(records) == 3, "the hosts exist before down"
    pids = {
        int(pid)
        for instance_id in records
        for pid in subprocess.run(
            ["ip", "netns", "pids", hosts.host_namespace(instance_id)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
    }
    commands = {Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ") for pid in pids}
    assert any("sshd" in c for c in commands) and any("webapp.py" in c for c in commands)

    project.run("down", "dev", "--yes")
    assert hosts.records() == {}
    namespaces = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert hosts.prefix not in namespaces
    assert hosts.prefix not in Path("/proc/self/mountinfo").read_text()  # /run/netns binds
    assert [pid for pid in pids if running(pid)] == []


def running(pid: int) -> bool:
    """Alive and not a zombie (a zombie is dead; reaping it is its parent's business)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_a_failing_playbook_rolls_back_everything_the_run_created(project: Project) -> None:
    playbook = project.root / "playbooks" / "db.yml"
    playbook.write_text(
        playbook.read_text()
        + "\n    - name: Fail on purpose\n      ansible.builtin.fail:\n        msg: injected\n"
    )
    result = project.run("up", "dev", "--yes", expect=1)
    assert "software.db@vm.db[0] failed: task 'Fail on purpose' failed: injected" in result.stderr
    assert "rolled back the 11 resources it created" in result.stderr
    assert project.tagged_ids("dev") == set()
    assert farm(project).records() == {}
    namespaces = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert farm(project).prefix not in namespaces


def test_no_secret_appears_in_any_output_log_plan_or_history_file(project: Project) -> None:
    passphrase = (project.state / "secrets" / "dev.passphrase").read_text().strip()
    assert len(passphrase) >= 16
    skipped = {project.state / "secrets" / "dev.passphrase"}
    scanned = 0
    for path in project.state.rglob("*"):
        if not path.is_file() or path in skipped or path.stat().st_size > 5_000_000:
            continue
        text = path.read_text(errors="replace")
        assert "PRIVATE KEY-----" not in text, path
        assert passphrase not in text, path
        scanned += 1
    assert scanned > 50
