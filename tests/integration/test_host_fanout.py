"""Host fan-out on the real parts: a role on several VMs runs as one ansible-playbook run.

Three namespace hosts run a role whose playbook fails on purpose on one of them,
then a second role ordered after it. The failing host fails only its own node.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.projects import Project

pytestmark = pytest.mark.integration

SPEC = """\
name: fan
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.61.0.0/16}
subnets:
  hosts: {network: main, cidr: 10.61.1.0/24}
security_groups:
  ssh:
    network: main
    ingress: [{protocol: tcp, ports: 22, cidr: 10.61.0.0/16}]
key_pairs:
  deploy: {type: ed25519}
roles:
  fan: {playbook: fan.yml}
  tail: {playbook: tail.yml}
vms:
  node: {count: 3, instance_type: t3.micro, image: ami-12c6146b, subnet: hosts,
         security_groups: [ssh], key_pair: deploy, roles: [fan, tail]}
"""
FAN = """\
- name: fan
  hosts: all
  gather_facts: false
  tasks:
    - name: a marker
      ansible.builtin.copy: {dest: /srv/fan, content: "{{ inventory_hostname }}\\n"}
    - name: one host fails
      ansible.builtin.fail: {msg: injected on node-1}
      when: inventory_hostname == 'node-1'
"""
TAIL = """\
- name: tail
  hosts: all
  gather_facts: false
  tasks:
    - name: another marker
      ansible.builtin.copy: {dest: /srv/tail, content: "done\\n"}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("fanout"))
    project.write_spec("fan", SPEC)
    (project.root / "playbooks" / "fan.yml").write_text(FAN)
    (project.root / "playbooks" / "tail.yml").write_text(TAIL)
    yield project
    project.teardown("fan")


@pytest.fixture(scope="module")
def failed_up(project: Project) -> tuple[str, Path]:
    """The stderr of the `up` that fails on node-1, and its run folder."""
    result = project.run("up", "fan", "--yes", expect=1)
    [run] = (project.state / "runs" / "fan").iterdir()
    return result.stderr, run


def events(run: Path, kind: str) -> list[dict[str, Any]]:
    lines = (run / "events.jsonl").read_text().splitlines()
    return [event for event in map(json.loads, lines) if event["type"] == kind]


def test_a_role_on_several_hosts_runs_as_one_ansible_playbook(
    failed_up: tuple[str, Path],
) -> None:
    _, run = failed_up
    playbook_runs = sorted(path.name for path in (run / "ansible").iterdir())
    # One run for fan on all three hosts, one for tail on the two that got through.
    assert [name.split("-", 1)[1] for name in playbook_runs] == ["fan-3-hosts", "tail-2-hosts"]
    for folder in (run / "ansible").iterdir():
        assert len(list((folder / "artifacts").iterdir())) == 1  # one ansible-playbook


def test_one_hosts_failure_fails_only_its_own_node_and_dependents(
    failed_up: tuple[str, Path],
) -> None:
    stderr, run = failed_up
    assert "software.fan@vm.node[1] failed: task 'one host fails' failed: injected" in stderr
    statuses = {e["address"]: e["status"] for e in events(run, "ConfigureFinished")}
    assert statuses == {
        "software.fan@vm.node[0]": "done",
        "software.fan@vm.node[1]": "failed",
        "software.fan@vm.node[2]": "done",
        "software.tail@vm.node[0]": "done",
        "software.tail@vm.node[1]": "skipped",
        "software.tail@vm.node[2]": "done",
    }
    started = {e["address"] for e in events(run, "ConfigureStarted")}
    assert started == {a for a, s in statuses.items() if s != "skipped"}
    tasks = {
        (e["address"], e["host"], e["task"]): e["status"] for e in events(run, "HostTaskFinished")
    }
    assert tasks[("software.fan@vm.node[1]", "node-1", "one host fails")] == "failed"
    assert tasks[("software.fan@vm.node[0]", "node-0", "one host fails")] == "skipped"
    assert tasks[("software.tail@vm.node[2]", "node-2", "another marker")] == "changed"
    assert not [key for key in tasks if key[0].endswith("@vm.node[1]") and key[1] != "node-1"]


def test_no_private_key_is_left_in_the_shared_run(failed_up: tuple[str, Path]) -> None:
    _, run = failed_up
    assert list(run.rglob("ssh_private_key")) == []
    for path in run.rglob("*"):
        if path.is_file():
            assert "PRIVATE KEY" not in path.read_text(errors="replace"), path
