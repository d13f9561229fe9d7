"""The database realizer's decisions, with an in-process farm and cloud: start, report, remove."""

from __future__ import annotations

from dataclasses import replace

from provisioner.errors import LocalCloudError
from provisioner.local import databases
from provisioner.local.databases import DatabaseRealizer
from provisioner.local.dbfarm import DatabaseRecord, ProcessState, ServerState
from provisioner.local.postgres import ServerConfig
from provisioner.local.rdsmoto import DatabaseSpec, DesiredDatabase

SPEC = DatabaseSpec(
    identifier="main",
    arn="arn:aws:rds:us-east-1:123456789012:db:main",
    vpc_id="vpc-1",
    subnet_id="subnet-1",
    subnet_cidr="10.9.1.0/24",
    server=ServerConfig(
        major="15",
        address="10.9.1.20",
        port=5432,
        vpc_cidr="10.9.0.0/16",
        master_username="app",
        db_name="orders",
    ),
)


class FakeFarm:
    """Keeps records and processes as the real farm does, and records what it is asked."""

    def __init__(self) -> None:
        self.recorded: dict[str, DatabaseRecord] = {}
        self.processes: dict[str, ProcessState] = {}
        self.answering: set[str] = set()
        self.age = 0.0
        self.calls: list[tuple[str, ...]] = []

    def records(self) -> dict[str, DatabaseRecord]:
        return dict(self.recorded)

    def record(self, identifier: str) -> DatabaseRecord | None:
        return self.recorded.get(identifier)

    def process(self, identifier: str) -> ProcessState:
        return self.processes.get(identifier, ProcessState.NONE)

    def seconds_since_start(self, identifier: str) -> float:
        return self.age

    def start(self, spec: DatabaseSpec, password: str | None) -> None:
        self.calls.append(("start", spec.identifier))
        self.recorded[spec.identifier] = DatabaseRecord(spec, ServerState.STARTING)
        self.processes[spec.identifier] = ProcessState.RUNNING
        self.age = 0.0

    def accepts_connections(self, spec: DatabaseSpec) -> bool:
        return spec.identifier in self.answering

    def mark_ready(self, spec: DatabaseSpec) -> None:
        self.recorded[spec.identifier] = DatabaseRecord(spec, ServerState.READY)

    def change_password(self, spec: DatabaseSpec, current: str, new: str) -> None:
        self.calls.append(("password", spec.identifier, current, new))

    def power_off(self, spec: DatabaseSpec) -> None:
        self.calls.append(("power_off", spec.identifier))
        self.recorded.pop(spec.identifier, None)
        self.processes.pop(spec.identifier, None)

    def remove(self, spec: DatabaseSpec) -> None:
        self.calls.append(("remove", spec.identifier))
        self.recorded.pop(spec.identifier, None)
        self.processes.pop(spec.identifier, None)

    def remove_unrecorded(self, keep: set[str]) -> None:
        """This fake leaves nothing unrecorded behind."""


class FakeCloud:
    def __init__(self, *desired: DesiredDatabase) -> None:
        self.databases = list(desired)
        self.available: list[str] = []
        self.live: set[str] = set()

    def desired(self) -> list[DesiredDatabase]:
        return list(self.databases)

    def mark_available(self, arn: str) -> None:
        self.available.append(arn)

    def release_interfaces(self, live_arns: set[str]) -> None:
        self.live = live_arns


def realizer(*desired: DesiredDatabase) -> tuple[DatabaseRealizer, FakeFarm, FakeCloud]:
    farm, cloud = FakeFarm(), FakeCloud(*desired)
    return DatabaseRealizer(farm, cloud, start_timeout=60.0), farm, cloud  # type: ignore[arg-type]


def test_a_new_instance_is_available_only_once_its_server_accepts_connections() -> None:
    plane, farm, cloud = realizer(DesiredDatabase(SPEC, "pw-1", "creating"))
    plane.step()
    plane.step()
    assert farm.calls == [("start", "main")]
    assert cloud.available == []
    farm.answering.add("main")
    plane.step()
    assert cloud.available == [SPEC.arn]
    assert farm.recorded["main"].state is ServerState.READY
    assert plane.vpcs_in_use() == {"vpc-1"}
    assert cloud.live == {SPEC.arn}


def test_a_deleted_instance_loses_its_server_and_data() -> None:
    plane, farm, cloud = realizer(DesiredDatabase(SPEC, "pw-1", "available"))
    plane.step()
    cloud.databases = []
    plane.step()
    assert farm.calls[-1] == ("remove", "main")
    assert plane.vpcs_in_use() == set()
    assert cloud.live == set()


def test_a_stopped_instance_is_powered_off_with_its_data_kept() -> None:
    plane, farm, cloud = realizer(DesiredDatabase(SPEC, "pw-1", "available"))
    plane.step()
    cloud.databases = [DesiredDatabase(SPEC, "pw-1", "stopped")]
    plane.step()
    plane.step()
    assert farm.calls == [("start", "main"), ("power_off", "main")]
    assert plane.vpcs_in_use() == set()
    assert cloud.live == {SPEC.arn}  # its interface stays, as its data does


def test_a_changed_instance_is_started_again_on_the_same_data() -> None:
    plane, farm, cloud = realizer(DesiredDatabase(SPEC, "pw-1", "available"))
    plane.step()
    moved = replace(SPEC, server=replace(SPEC.server, port=5433))
    cloud.databases = [DesiredDatabase(moved, "pw-1", "available")]
    plane.step()
    assert farm.calls == [("start", "main"), ("power_off", "main"), ("start", "main")]
    assert farm.recorded["main"].spec == moved


def test_a_server_that_exited_is_started_again_after_a_pause() -> None:
    plane, farm, _cloud = realizer(DesiredDatabase(SPEC, "pw-1", "creating"))
    plane.step()
    farm.processes["main"] = ProcessState.EXITED
    farm.age = databases.RESTART_DELAY / 2
    plane.step()
    assert farm.calls == [("start", "main")]
    farm.age = databases.RESTART_DELAY + 1
    plane.step()
    assert farm.calls == [("start", "main"), ("start", "main")]


def test_a_server_that_never_answers_is_powered_off_and_started_again() -> None:
    plane, farm, cloud = realizer(DesiredDatabase(SPEC, "pw-1", "creating"))
    plane.step()
    farm.age = 61.0
    plane.step()
    assert farm.calls == [("start", "main"), ("power_off", "main")]
    plane.step()
    assert farm.calls[-1] == ("start", "main")
    assert cloud.available == []


def test_a_new_master_password_is_set_once_with_the_current_one() -> None:
    plane, farm, cloud = realizer(DesiredDatabase(SPEC, "pw-1", "creating"))
    farm.answering.add("main")
    plane.step()
    plane.step()
    cloud.databases = [DesiredDatabase(SPEC, "pw-2", "available")]
    plane.step()
    plane.step()
    assert [c for c in farm.calls if c[0] == "password"] == [("password", "main", "pw-1", "pw-2")]


def test_teardown_removes_every_database() -> None:
    plane, farm, _cloud = realizer(DesiredDatabase(SPEC, "pw-1", "creating"))
    plane.step()
    plane.teardown()
    assert farm.calls[-1] == ("remove", "main")
    assert farm.recorded == {} and plane.vpcs_in_use() == set()


def test_an_error_while_starting_powers_the_database_off() -> None:
    plane, farm, _cloud = realizer(DesiredDatabase(SPEC, None, "creating"))

    def no_password(spec: DatabaseSpec, password: str | None) -> None:
        raise LocalCloudError("the database main has no master password")

    farm.start = no_password  # type: ignore[method-assign]
    plane.step()
    assert farm.calls == [("power_off", "main")]
