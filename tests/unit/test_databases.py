"""Databases without a cloud: the spec's checks, the graph, the planned changes, the secret path."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from provisioner.cloud.aws import clients
from provisioner.cloud.aws.database import (
    ALLOW_MAJOR,
    DbInstanceProvider,
    modification,
    refusals,
    wait_available,
)
from provisioner.cloud.aws.exactly_once import ADDRESS_TAG
from provisioner.cloud.aws.instance import OP_TIMEOUT
from provisioner.engine.configure import host_target
from provisioner.engine.ports import ReadyResource
from provisioner.errors import CloudError
from provisioner.graph import CompiledEnvironment, compile_source
from provisioner.graph.kinds.database import DatabaseNode
from provisioner.graph.kinds.software import SoftwareNode
from provisioner.graph.kinds.vm import VmNode
from provisioner.graph.resource_graph import EdgeReason
from provisioner.hosts.ansible import MASK, mask_secrets, task_result
from provisioner.hosts.inventory import extra_vars
from provisioner.plan import Action, PropertyChange, ResourceChange
from provisioner.spec import SpecError, resolve_environment
from provisioner.spec.addresses import Address, ResourceAddress
from provisioner.spec.diagnostics import Diagnostic, format_path
from provisioner.spec.kinds.database import DATABASE
from provisioner.spec.kinds.software import SOFTWARE
from provisioner.spec.kinds.vm import VM

PASSWORD = "s3cr3t-Pa55word-value"
SPEC = """\
name: shop
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.0.0.0/16}
  other: {cidr: 10.9.0.0/16}
subnets:
  app: {network: main, cidr: 10.0.1.0/24, availability_zone: us-east-1a}
  private-a: {network: main, cidr: 10.0.2.0/24, availability_zone: us-east-1a}
  private-b: {network: main, cidr: 10.0.3.0/24, availability_zone: us-east-1b}
  far: {network: other, cidr: 10.9.1.0/24, availability_zone: us-east-1b}
security_groups:
  db: {network: main}
  elsewhere: {network: other}
key_pairs:
  deploy: {type: ed25519}
roles:
  app:
    playbook: app.yml
    vars:
      url: "postgres://${db.main.username}@${db.main.address}:${db.main.port}/${db.main.name}"
      password: "${db.main.password}"
databases:
  main:
    engine_version: "15.4"
    subnets: [private-a, private-b]
    security_groups: [db]
    name: app
    username: app
vms:
  app: {count: 1, instance_type: t3.micro, image: ami-12c6146b, subnet: app,
        key_pair: deploy, roles: [app]}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "environments").mkdir()
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "app.yml").write_text("")
    return tmp_path


def compiled(project: Path, text: str = SPEC) -> CompiledEnvironment:
    (project / "environments" / "shop.yaml").write_text(textwrap.dedent(text))
    return compile_source(resolve_environment("shop", project / "environments"))


def problems(project: Path, text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        compiled(project, text)
    found: list[Diagnostic] = caught.value.diagnostics
    return [f"{d.location.line} {format_path(d.path)}: {d.message}" for d in found]


def test_a_database_uses_its_subnets_and_groups_and_a_role_waits_for_it(project: Path) -> None:
    graph = compiled(project).graph
    database = graph.node(Address(DATABASE, "main"))
    assert isinstance(database, DatabaseNode)
    assert (database.engine, database.engine_version, database.allocated_storage) == (
        "postgres",
        "15.4",
        20,
    )
    edges = {(str(e.source), e.reason) for e in graph.edges() if e.target == database.address}
    assert edges == {
        ("subnet.private-a", EdgeReason.USES),
        ("subnet.private-b", EdgeReason.USES),
        ("sg.db", EdgeReason.USES),
    }
    [role] = graph.of_kind(SOFTWARE)
    assert database.address in graph.dependencies(role.address)


def test_a_subnet_group_in_one_zone_is_refused_at_its_subnets(project: Path) -> None:
    text = SPEC.replace("[private-a, private-b]", "[private-a, app]")
    assert problems(project, text) == [
        "26 databases.main.subnets: a DB subnet group needs subnets in at least two "
        "availability zones; these are all in us-east-1a"
    ]


def test_subnets_of_two_networks_and_a_group_of_another_network_are_refused(
    project: Path,
) -> None:
    assert problems(project, SPEC.replace("[private-a, private-b]", "[private-a, far]")) == [
        "26 databases.main.subnets: the subnets are in several networks (main, other); "
        "a DB subnet group is in one"
    ]
    assert problems(
        project, SPEC.replace("security_groups: [db]", "security_groups: [elsewhere]")
    ) == [
        "27 databases.main.security_groups[0]: security group 'elsewhere' is in network "
        "'other', but the subnets are in 'main'"
    ]


def test_a_bad_version_name_or_reserved_user_is_refused(project: Path) -> None:
    text = SPEC.replace('"15.4"', '"fifteen"').replace("name: app\n", "name: 9app\n")
    found = problems(project, text.replace("username: app", "username: rdsadmin"))
    assert [line.split(":")[0] for line in found] == [
        "25 databases.main.engine_version",
        "28 databases.main.name",
        "29 databases.main.username",
    ]


def test_a_secret_may_be_read_by_roles_but_not_by_the_spec_outputs(project: Path) -> None:
    text = SPEC + "outputs:\n  leaked: ${db.main.password}\n"
    [problem] = problems(project, text)
    assert problem.startswith("34 outputs.leaked: ${db.main.password} is a secret")


def change(before: str, after: str) -> ResourceChange:
    diff = (PropertyChange("engine_version", before, after),)
    return ResourceChange(ResourceAddress(Address(DATABASE, "main")), Action.UPDATE, diff)


def test_a_major_upgrade_is_refused_at_plan_time_unless_the_spec_allows_it(
    project: Path,
) -> None:
    database = compiled(project).graph.node(Address(DATABASE, "main"))
    assert isinstance(database, DatabaseNode)
    assert list(refusals(database, change("15.4", "15.5"))) == []
    [(path, message)] = refusals(database, change("15.4", "16.1"))
    assert path == ("databases", "main", "engine_version")
    assert "needs allow_major_version_upgrade: true" in message
    allowed = DatabaseNode(database.address, allow_major_version_upgrade=True)
    assert list(refusals(allowed, change("15.4", "16.1"))) == []


OLDS: dict[str, Any] = {
    "engine_version": "15.4",
    "instance_class": "db.t3.micro",
    "allocated_storage": 20.0,
    "security_group_ids": ["sg-1"],
    "deletion_protection": False,
    ALLOW_MAJOR: False,
}


def test_class_storage_and_minor_version_change_in_place_applied_at_once() -> None:
    news = {**OLDS, "instance_class": "db.t3.small", "allocated_storage": 30.0}
    assert modification(OLDS, {**news, "engine_version": "15.5"}) == {
        "DBInstanceClass": "db.t3.small",
        "AllocatedStorage": 30,
        "EngineVersion": "15.5",
        "ApplyImmediately": True,
    }
    assert modification(OLDS, dict(OLDS)) == {}


def test_a_major_version_change_needs_the_flag_and_then_says_so() -> None:
    with pytest.raises(CloudError, match="major version upgrade"):
        modification(OLDS, {**OLDS, "engine_version": "16.1"})
    allowed = modification(OLDS, {**OLDS, "engine_version": "16.1", ALLOW_MAJOR: True})
    assert allowed["AllowMajorVersionUpgrade"] is True


def test_a_secret_reaches_a_role_as_an_environment_lookup_never_as_its_value(
    project: Path,
) -> None:
    graph = compiled(project).graph
    [role] = graph.of_kind(SOFTWARE)
    assert isinstance(role, SoftwareNode)
    vm = graph.node(role.host)
    assert isinstance(vm, VmNode)
    ready = {
        vm.address: ReadyResource(vm.address, {"id": "i-1", "private_ip": "10.0.1.4"}),
        Address(DATABASE, "main"): ReadyResource(
            Address(DATABASE, "main"),
            {"address": "shop-main.rds", "port": 5432, "name": "app", "username": "app"},
            secrets={"password": PASSWORD},
        ),
    }
    target = host_target(role, vm, ready)
    [(name, value)] = target.secrets.items()
    assert value == PASSWORD
    variables = extra_vars("shop", target)
    assert variables["url"] == "postgres://app@shop-main.rds:5432/app"
    assert variables["password"] == f"{{{{ lookup('ansible.builtin.env', '{name}') }}}}"
    assert PASSWORD not in repr(target)
    assert PASSWORD not in str(variables)
    assert vm.address.kind is VM


def test_events_are_masked_in_place_diffs_and_messages_too() -> None:
    event: dict[str, Any] = {
        "event": "runner_on_ok",
        "stdout": f"changed: password={PASSWORD}",
        "event_data": {
            "host": "app-0",
            "task": "settings",
            "res": {"changed": True, "diff": [{"before": "", "after": f"password={PASSWORD}\n"}]},
        },
    }
    mask_secrets(event, [PASSWORD])
    assert PASSWORD not in str(event)
    result = task_result(event, check=True)
    assert result is not None and result.diff is not None
    assert f"+password={MASK}" in result.diff


class CreatingForever:
    """An RDS client whose instance never leaves `creating`."""

    def describe_db_instances(self, DBInstanceIdentifier: str) -> dict[str, Any]:  # noqa: N803
        return {
            "DBInstances": [
                {"DBInstanceIdentifier": DBInstanceIdentifier, "DBInstanceStatus": "creating"}
            ]
        }


def test_a_database_not_available_within_its_timeout_fails_naming_it() -> None:
    props = {OP_TIMEOUT: 1, "tags": {ADDRESS_TAG: "db.main"}}
    with pytest.raises(CloudError) as caught:
        wait_available(CreatingForever(), "shop-main", props)
    assert str(caught.value) == (
        "database db.main (shop-main) was not available after 1s (timeouts.database); "
        "its status is creating"
    )


class FakeRds:
    """An RDS that may lose the answer to its first create (the instance is made anyway)."""

    def __init__(self, *, lose_first_answer: bool = False) -> None:
        self.instances: dict[str, dict[str, Any]] = {}
        self.passwords: list[str] = []
        self.lose = lose_first_answer

    def create_db_instance(self, **request: Any) -> dict[str, Any]:
        name = request["DBInstanceIdentifier"]
        self.passwords.append(request["MasterUserPassword"])
        self.instances[name] = {
            "DBInstanceIdentifier": name,
            "DBInstanceArn": f"arn:aws:rds:us-east-1:1:db:{name}",
            "DBInstanceStatus": "available",
            "Endpoint": {"Address": f"{name}.rds", "Port": 5432},
            "TagList": request["Tags"],
        }
        if self.lose:
            self.lose = False
            raise EndpointConnectionError(endpoint_url="http://rds")
        return {"DBInstance": self.instances[name]}

    def describe_db_instances(self, DBInstanceIdentifier: str) -> dict[str, Any]:  # noqa: N803
        if DBInstanceIdentifier not in self.instances:
            error = {"Error": {"Code": "DBInstanceNotFound"}}
            raise ClientError(error, "DescribeDBInstances")  # type: ignore[arg-type]
        return {"DBInstances": [self.instances[DBInstanceIdentifier]]}


DB_PROPS: dict[str, Any] = {
    "identifier": "shop-main",
    "engine": "postgres",
    "engine_version": "15.4",
    "instance_class": "db.t3.micro",
    "allocated_storage": 20.0,
    "db_name": "app",
    "username": "app",
    "subnet_group_name": "shop-main",
    "security_group_ids": [],
    "deletion_protection": False,
    "tags": {"provision:env": "shop", ADDRESS_TAG: "db.main"},
    "region": "us-east-1",
    OP_TIMEOUT: 5,
    ALLOW_MAJOR: False,
}


def on(fake: FakeRds, monkeypatch: pytest.MonkeyPatch) -> DbInstanceProvider:
    monkeypatch.setattr(clients, "_shared", lambda service, region, retrying: fake)
    monkeypatch.setenv("PROVISION_RUN_ID", "run-1")
    return DbInstanceProvider()


def test_a_create_whose_answer_is_lost_adopts_the_instance_with_the_password_it_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeRds(lose_first_answer=True)
    created = on(fake, monkeypatch).create(dict(DB_PROPS))
    assert len(fake.passwords) == 1  # sent once: the lookup by name and token found it
    assert created.outs is not None
    assert created.outs["password"] == fake.passwords[0]
    assert (created.outs["address"], created.outs["port"]) == ("shop-main.rds", 5432)


def test_an_instance_of_the_name_that_this_create_did_not_make_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeRds()
    fake.instances["shop-main"] = {"DBInstanceIdentifier": "shop-main", "TagList": []}
    with pytest.raises(CloudError, match="exists already"):
        on(fake, monkeypatch).create(dict(DB_PROPS))
    assert fake.passwords == []
