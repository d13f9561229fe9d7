"""Databases on the local cloud: made, read by a role, drifted, changed, protected, torn down.

One environment: two private subnets in two zones (the DB subnet group), a
database, and one VM whose role writes the database's address and master
password into a file from a template. The password is read for the test only
from the recorded state (secrets shown), then looked for everywhere it must
not be: the project's files (state, run records, Ansible's artifacts) and
every command's output, including a plan whose template diff holds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.hosts.ansible import MASK
from tests.integration.projects import Project

pytestmark = pytest.mark.integration

ENV = "dbs"
IDENTIFIER = "dbs-main"
SPEC = """\
name: dbs
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.71.0.0/16}
subnets:
  app: {network: main, cidr: 10.71.1.0/24, availability_zone: us-east-1a}
  private-a: {network: main, cidr: 10.71.2.0/24, availability_zone: us-east-1a}
  private-b: {network: main, cidr: 10.71.3.0/24, availability_zone: us-east-1b}
security_groups:
  app:
    network: main
    ingress: [{protocol: tcp, ports: 22, cidr: 10.71.0.0/16}]
  db:
    network: main
    ingress: [{protocol: tcp, ports: 5432, group: app}]
key_pairs:
  deploy: {type: ed25519}
roles:
  app:
    playbook: dbapp.yml
    vars:
      db_url: "postgres://${db.main.username}@${db.main.address}:${db.main.port}/${db.main.name}"
      db_password: "${db.main.password}"
databases:
  main:
    engine_version: "15.4"
    instance_class: db.t3.micro
    allocated_storage: 20
    subnets: [private-a, private-b]
    security_groups: [db]
    name: app
    username: app
    deletion_protection: false
vms:
  app: {count: 1, instance_type: t3.micro, image: ami-12c6146b, subnet: app,
        security_groups: [app], key_pair: deploy, roles: [app]}
"""
PLAYBOOK = """\
- name: app
  hosts: all
  gather_facts: false
  tasks:
    - name: The app's database settings
      ansible.builtin.template: {src: templates/dbapp.conf.j2, dest: /srv/dbapp.conf, mode: "0600"}
"""
TEMPLATE = "url={{ db_url }}\npassword={{ db_password }}\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("databases"))
    project.write_spec(ENV, SPEC)
    project.write_playbook("dbapp.yml", PLAYBOOK)
    (project.root / "playbooks" / "templates" / "dbapp.conf.j2").write_text(TEMPLATE)
    yield project
    with contextlib.suppress(Exception):  # a failed test may have left it protected
        rds(project).modify_db_instance(
            DBInstanceIdentifier=IDENTIFIER, DeletionProtection=False, ApplyImmediately=True
        )
    project.teardown(ENV)


@pytest.fixture(scope="module")
def said() -> list[str]:
    """Everything the commands of this module printed."""
    return []


def rds(project: Project) -> Any:
    return project.client("rds")


def run(project: Project, said: list[str], *args: str, expect: int = 0) -> str:
    result = project.run(*args, expect=expect)
    said.extend([result.stdout, result.stderr])
    return result.stdout + result.stderr


def recorded_password(project: Project) -> str:
    """The database's password as the state records it (read with `provision`'s own parts)."""
    from provisioner.cli.wiring import ProjectSetup

    saved = dict(os.environ)
    here = Path.cwd()
    os.environ["PROVISION_STATE_DIR"] = str(project.state)
    os.chdir(project.root)
    try:
        cloud = ProjectSetup.of(ENV).open("test-reads-the-password").cloud
        [database] = [r for r in cloud.ready_resources() if str(r.address) == "db.main"]
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved)
    return str(database.secrets["password"])


def spec_with(project: Project, **changes: object) -> None:
    spec = project.spec(ENV)
    spec["databases"]["main"].update(changes)
    project.write_spec(ENV, spec)


def instance(project: Project) -> dict[str, Any]:
    [found] = rds(project).describe_db_instances(DBInstanceIdentifier=IDENTIFIER)["DBInstances"]
    return dict(found)


def test_up_makes_the_subnet_group_and_the_instance_and_the_role_reads_the_password(
    project: Project, said: list[str]
) -> None:
    run(project, said, "up", ENV, "--yes")
    client = rds(project)
    [group] = client.describe_db_subnet_groups(DBSubnetGroupName=f"{IDENTIFIER}-subnets")[
        "DBSubnetGroups"
    ]
    assert len(group["Subnets"]) == 2
    ours = [
        found
        for found in client.describe_db_instances()["DBInstances"]
        if {"Key": "provision:env", "Value": ENV} in found.get("TagList", [])
    ]
    assert [found["DBInstanceIdentifier"] for found in ours] == [IDENTIFIER]
    assert ours[0]["DBInstanceStatus"] == "available"
    assert ours[0]["DBSubnetGroup"]["DBSubnetGroupName"] == f"{IDENTIFIER}-subnets"
    password = recorded_password(project)
    assert len(password) >= 24
    written = project.ssh(ENV, "app-0", "cat", "/srv/dbapp.conf")
    address = ours[0]["Endpoint"]["Address"]
    assert written == f"url=postgres://app@{address}:5432/app\npassword={password}\n"


def test_drift_a_masked_template_diff_a_minor_upgrade_and_a_refused_major_one(
    project: Project, said: list[str]
) -> None:
    rds(project).modify_db_instance(
        DBInstanceIdentifier=IDENTIFIER, DBInstanceClass="db.t3.small", ApplyImmediately=True
    )
    drifted = run(project, said, "drift", ENV, expect=2)
    assert "db.main" in drifted
    assert "db.t3.small" in drifted
    spec_with(project, engine_version="15.5", deletion_protection=True)
    template = project.root / "playbooks" / "templates" / "dbapp.conf.j2"
    template.write_text("# managed\n" + TEMPLATE)
    try:
        planned = project.run_json("plan", ENV)
    finally:
        template.write_text(TEMPLATE)
    said.append(json.dumps(planned))
    [change] = [c for c in planned["changes"] if c["address"] == "db.main"]
    assert change["action"] == "update"
    assert {p["path"] for p in change["diff"]} == {
        "engine_version",
        "instance_class",
        "deletion_protection",
    }
    [software] = planned["software"]
    [task] = software["tasks"]
    assert task["outlook"] == "change"
    assert f"password={MASK}" in task["diff"]

    spec_with(project, engine_version="16.1")
    refused = run(project, said, "plan", ENV, "--no-hosts", expect=1)
    line = next(
        number
        for number, text in enumerate((project.root / "environments" / f"{ENV}.yaml").open(), 1)
        if "engine_version" in text
    )
    assert re.search(rf"{ENV}\.yaml:{line}:\d+: databases\.main\.engine_version: ", refused)
    assert "allow_major_version_upgrade: true" in refused

    spec_with(project, engine_version="15.5")
    run(project, said, "up", ENV, "--yes")
    found = instance(project)
    assert (found["DBInstanceClass"], found["EngineVersion"]) == ("db.t3.micro", "15.5")
    assert found["DeletionProtection"] is True


def test_down_refuses_a_protected_database_naming_it_then_leaves_nothing(
    project: Project, said: list[str]
) -> None:
    refused = run(project, said, "down", ENV, "--yes", expect=1)
    assert "db.main" in refused
    assert "deletion_protection" in refused
    assert instance(project)["DBInstanceStatus"] == "available"
    assert len(project.instances(ENV)) == 1  # nothing at all was deleted
    password = recorded_password(project)
    spec_with(project, deletion_protection=False)
    run(project, said, "up", ENV, "--yes")
    scan_for(password, project, said)
    run(project, said, "down", ENV, "--yes")
    client = rds(project)
    assert client.describe_db_instances()["DBInstances"] == []
    assert client.describe_db_subnet_groups()["DBSubnetGroups"] == []
    assert project.leftovers(ENV)["tagged"] == set()


def scan_for(password: str, project: Project, said: list[str]) -> None:
    """The password is in no file of the project (state, records, artifacts) and no output."""
    scanned = 0
    hosts = project.state / "local" / "hosts"  # the hosts' own disks: the role put it there
    for path in project.root.rglob("*"):
        if not path.is_file() or path.stat().st_size > 5_000_000 or path.is_relative_to(hosts):
            continue
        assert password not in path.read_text(errors="replace"), path
        scanned += 1
    assert scanned > 50
    assert list(project.state.rglob("job_events/*.json"))  # Ansible's events were scanned
    for output in said:
        assert password not in output
