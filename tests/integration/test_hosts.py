"""The local cloud's hosts and Ansible: real namespace hosts, sshd, ansible-runner over SSH.

The tests run in order on one environment with the repository's playbooks
(base, db, web: a web page on two VMs with a live answer from a key-value
service on a third), in a project of its own with its own state folder (and so
its own local cloud).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.local.image import built_image
from tests.integration.projects import Project

pytestmark = pytest.mark.integration

ENV = "stack"
SPEC = """\
name: stack
cloud: local
region: us-east-1
tags: {project: provision}
networks:
  main: {cidr: 10.20.0.0/16}
subnets:
  public-a: {network: main, cidr: 10.20.1.0/24, public: true}
  private-a: {network: main, cidr: 10.20.2.0/24}
security_groups:
  web:
    network: main
    ingress:
      - {protocol: tcp, ports: 8080, cidr: 0.0.0.0/0}
      - {protocol: tcp, ports: 22, cidr: 10.20.0.0/16}
  db:
    network: main
    ingress:
      - {protocol: tcp, ports: 5432, group: web}
      - {protocol: tcp, ports: 22, cidr: 10.20.0.0/16}
key_pairs:
  deploy: {type: ed25519}
roles:
  base: {playbook: base.yml}
  db: {playbook: kvdb.yml, vars: {db_port: 5432, db_data_dir: /var/lib/kvdb}}
  web:
    playbook: kvweb.yml
    after: [db]
    vars: {db_host: "${vm.db[0].private_ip}", db_port: 5432}
vms:
  web: {count: 2, instance_type: t3.micro, image: ami-12c6146b, subnet: public-a,
        security_groups: [web], key_pair: deploy, roles: [base, web]}
  db: {count: 1, instance_type: t3.small, image: ami-12c6146b, subnet: private-a,
       security_groups: [db], key_pair: deploy, roles: [base, db]}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("hosts"))
    project.write_spec(ENV, SPEC)
    yield project
    project.teardown(ENV)


@pytest.fixture(scope="module")
def applied(project: Project) -> dict[str, Any]:
    """The JSON report of the first `up`."""
    return project.run_json("up", ENV, "--yes")


def ssh(project: Project, host: str, script: str) -> str:
    """Run a shell script on a host (one SSH login for several checks)."""
    return project.ssh(ENV, host, "sh", "-c", script)


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
        url = f"http://{vms[target]['private_ip']}:8080/"
        page = ssh(project, source, f"curl -sf {url}; cat /etc/webapp.conf")
        assert "<p>environment: stack</p>" in page
        assert f"<p>host: {vms[target]['hostname']}</p>" in page
        assert "db db-0 says hit" in page, page
        assert f"db_url = http://{db_ip}:5432" in page
    stored = json.loads(ssh(project, "db-0", "cat /var/lib/kvdb/data.json"))
    assert stored["web-0"] >= 1 and stored["web-1"] >= 1


def test_hosts_have_their_own_name_address_and_files(
    project: Project, applied: dict[str, Any]
) -> None:
    own = ssh(project, "web-0", "echo mine > /srv/only-on-web-0; echo x > /etc/web-0-etc; hostname")
    assert own.strip() == "web-0"
    seen = ssh(project, "web-1", "hostname; ls /srv /etc; ip -4 addr show eth0; cat /etc/motd")
    assert seen.splitlines()[0] == "web-1"
    assert "only-on-web-0" not in seen and "web-0-etc" not in seen
    assert not Path("/etc/web-0-etc").exists()
    assert applied["vms"]["vm.web[1]"]["private_ip"] in seen
    assert "stack / web-1" in seen
    # Root's home is the base image's, not this machine's.
    home = ssh(project, "web-1", "cat /root/.bashrc")
    assert home == (built_image().root / "root" / ".bashrc").read_text()


def test_the_main_namespace_has_no_route_to_any_host(applied: dict[str, Any]) -> None:
    # The main namespace holds no VPC address or route: hosts live behind their VPC namespace.
    # (test_local_cloud_lifecycle.py counts packets on the way out, too.)
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
    runs = project.state / "runs" / ENV
    assert list(runs.rglob("ssh_private_key")) == []
    for path in [*runs.rglob("*"), *(project.state / "ssh").rglob("*")]:
        if path.is_file():
            assert "PRIVATE KEY" not in path.read_text(errors="replace"), path
    assert "PRIVATE KEY" not in json.dumps(applied)
    for vm in applied["vms"].values():  # pinned per instance, not per address
        assert any("ssh-ed25519" in line for line in project.pinned(ENV, vm["id"]))


def test_a_second_up_changes_nothing_on_the_hosts(
    project: Project, applied: dict[str, Any]
) -> None:
    again = project.run_json("up", ENV, "--yes")
    assert again["plan"]["has_changes"] is False
    assert {a: r["changed"] for a, r in again["configured"].items()} == dict.fromkeys(
        applied["configured"], 0
    )


def test_drift_reports_an_out_of_band_rule_and_a_host_edit(
    project: Project, applied: dict[str, Any]
) -> None:
    ec2 = project.ec2()
    [group] = ec2.describe_security_groups(
        Filters=[
            {"Name": "tag:provision:env", "Values": [ENV]},
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
    ssh(project, "web-1", "echo edited by hand >> /etc/provision.conf")

    report = project.run_json("drift", ENV, expect=2)
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
    # The text report names it too (the cloud part is enough for that).
    assert "sg.web" in project.run("drift", ENV, "--no-hosts", expect=2).stdout


NEW_DB_IMAGE = SPEC.replace("t3.small, image: ami-12c6146b", "t3.small, image: ami-1e749f67")


def test_a_playbook_change_and_a_new_db_image_show_in_plan_beside_the_drift(
    project: Project, applied: dict[str, Any]
) -> None:
    # The drift of the test before is still there: the plan shows it beside the changes.
    playbook = project.root / "playbooks" / "kvweb.yml"
    line = "          db_url = http://{{ db_host }}:{{ db_port }}\n"
    assert line in playbook.read_text()
    playbook.write_text(playbook.read_text().replace(line, line + "          motto = ship it\n"))
    project.write_spec(ENV, NEW_DB_IMAGE)

    plan = project.run_json("plan", ENV, "--detailed-exitcode", expect=2)
    assert {c["address"]: c["action"] for c in plan["changes"] if c["action"] != "no-op"} == {
        "sg.web": "update",  # the drifted rule goes back
        "vm.db[0]": "replace",  # the image cannot change in place
    }
    software = {change["address"]: change for change in plan["software"]}
    assert plan["software_summary"] == {"configure": 2, "change": 3, "no-op": 1}
    for address in ("software.base@vm.db[0]", "software.db@vm.db[0]"):
        assert software[address]["action"] == "create"  # a new host: every task runs
    for address in ("software.web@vm.web[0]", "software.web@vm.web[1]"):
        change = software[address]
        assert change["action"] == "update"
        [task] = [t for t in change["tasks"] if t["outlook"] == "change"]
        assert task["task"] == "Service configuration names the database"
        assert "+motto = ship it" in task["diff"]
        unknown = {t["task"] for t in change["tasks"] if t["outlook"] == "unknown"}
        assert "webapp is running" in unknown  # check mode cannot run a shell task
    assert software["software.base@vm.web[1]"]["action"] == "update"  # the host edit
    assert software["software.base@vm.web[0]"]["action"] == "no-op"


def test_one_up_applies_the_playbook_change_replaces_the_db_and_clears_the_drift(
    project: Project, applied: dict[str, Any]
) -> None:
    before = applied["vms"]
    after = project.run_json("up", ENV, "--yes")
    config = ssh(project, "web-1", "cat /etc/webapp.conf /etc/provision.conf")
    assert "motto = ship it" in config and "edited by hand" not in config
    [group] = project.ec2().describe_security_groups(
        Filters=[
            {"Name": "tag:provision:env", "Values": [ENV]},
            {"Name": "tag:provision:address", "Values": ["sg.web"]},
        ]
    )["SecurityGroups"]
    assert sorted(p["FromPort"] for p in group["IpPermissions"]) == [22, 8080]

    db = after["vms"]["vm.db[0]"]
    assert db["id"] != before["vm.db[0]"]["id"]
    instances = project.instances(ENV)
    assert sorted(instances) == ["vm.db[0]", "vm.web[0]", "vm.web[1]"]  # the old db is gone
    assert (instances["vm.db[0]"]["InstanceId"], instances["vm.db[0]"]["ImageId"]) == (
        db["id"],
        "ami-1e749f67",
    )
    # The web VMs now name the new db, and its fresh data answers them.
    page = ssh(project, "web-0", "cat /etc/webapp.conf; curl -sf http://127.0.0.1:8080/")
    assert f"db_url = http://{db['private_ip']}:5432" in page
    assert "db db-0 says hit 1 for web-0" in page
    assert project.pinned(ENV, before["vm.db[0]"]["id"]) == []  # the old host key is unpinned


def test_after_the_up_plan_and_drift_find_nothing(project: Project) -> None:
    # Converged: check mode predicts nothing on any host and the cloud matches the spec;
    # and the cloud no longer drifts from its record (on the hosts, drift's check is the
    # check mode the plan just ran).
    assert project.run("plan", ENV, "--detailed-exitcode").returncode == 0
    assert project.run("drift", ENV, "--no-hosts").returncode == 0


def test_ssh_refuses_an_unknown_host_with_a_clear_error(project: Project) -> None:
    result = project.run("ssh", ENV, "web-9", "--", "true", expect=1)
    assert "no VM 'web-9' in stack" in result.stderr
    assert "Traceback" not in result.stderr


def test_down_leaves_no_namespace_mount_sshd_or_app_process(
    project: Project, applied: dict[str, Any]
) -> None:
    hosts = project.farm()
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

    project.run("down", ENV, "--yes")
    assert hosts.records() == {}
    namespaces = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    assert hosts.networks.prefix not in namespaces
    assert hosts.networks.prefix not in Path("/proc/self/mountinfo").read_text()  # /run/netns binds
    assert [pid for pid in pids if running(pid)] == []


def running(pid: int) -> bool:
    """Alive and not a zombie (a zombie is dead; reaping it is its parent's business)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def test_no_secret_appears_in_any_output_log_plan_or_history_file(project: Project) -> None:
    passphrase = (project.state / "secrets" / "workspace.passphrase").read_text().strip()
    assert len(passphrase) >= 16
    skipped = {project.state / "secrets" / "workspace.passphrase"}
    scanned = 0
    for path in project.state.rglob("*"):
        if not path.is_file() or path in skipped or path.stat().st_size > 5_000_000:
            continue
        text = path.read_text(errors="replace")
        assert "PRIVATE KEY-----" not in text, path
        assert passphrase not in text, path
        scanned += 1
    assert scanned > 50
