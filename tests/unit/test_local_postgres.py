"""The local cloud's PostgreSQL servers: which versions it serves, and the files it writes."""

from __future__ import annotations

from pathlib import Path

from provisioner.local.dbfarm import DatabaseRecord, ServerState
from provisioner.local.postgres import (
    ServerConfig,
    boot_script,
    major_of,
    render_conf,
    render_hba,
    render_setup_sql,
    scram_verifier,
    served_majors,
    version_refusal,
)
from provisioner.local.rdsmoto import DatabaseSpec, DesiredDatabase, create_refusal

CONFIG = ServerConfig(
    major="15",
    address="10.9.2.17",
    port=5432,
    vpc_cidr="10.9.0.0/16",
    master_username="app",
    db_name="orders",
)


def test_the_major_version_is_the_first_part_from_10_and_two_parts_before() -> None:
    versions = ("15.4", "15", "16.1", "9.6.24", "9.3.3")
    assert [major_of(v) for v in versions] == ["15", "15", "16", "9.6", "9.3"]


def test_a_served_major_is_accepted_in_any_minor_version_and_by_default() -> None:
    assert version_refusal("postgres", "15.4", ("15",)) is None
    assert version_refusal("postgres", "15", ("14", "15")) is None
    assert version_refusal("postgres", None, ("15",)) is None


def test_another_major_is_refused_naming_what_is_served_and_what_was_asked() -> None:
    refusal = version_refusal("postgres", "16.1", ("15",))
    assert refusal is not None
    assert "serves PostgreSQL 15 only" in refusal
    assert "/usr/lib/postgresql/15/bin" in refusal
    assert "engine version 16.1 is not available" in refusal


def test_nothing_installed_refuses_even_the_default_version() -> None:
    refusal = version_refusal("postgres", None, ())
    assert refusal is not None and "not available" in refusal


def test_an_engine_other_than_postgres_is_refused() -> None:
    refusal = version_refusal("mysql", "8.0.35", ("15",))
    assert refusal is not None and "engine mysql is not available" in refusal


def test_served_majors_are_the_installed_server_binaries_in_version_order(tmp_path: Path) -> None:
    for major, has_server in (("15", True), ("9.6", True), ("16", False), ("13", True)):
        (tmp_path / major / "bin").mkdir(parents=True)
        if has_server:
            (tmp_path / major / "bin" / "postgres").write_text("")
    assert served_majors(tmp_path) == ("9.6", "13", "15")
    assert served_majors(tmp_path / "absent") == ()


def test_the_server_listens_on_its_address_and_port_only_without_a_unix_socket() -> None:
    conf = render_conf(CONFIG)
    assert "listen_addresses = '10.9.2.17'" in conf
    assert "port = 5432" in conf
    assert "unix_socket_directories = ''" in conf
    assert "password_encryption = 'scram-sha-256'" in conf


def test_logins_need_a_password_and_come_from_the_vpc_only() -> None:
    rules = [line.split() for line in render_hba(CONFIG).splitlines() if not line.startswith("#")]
    assert rules == [["host", "all", "all", "10.9.0.0/16", "scram-sha-256"]]


def test_the_database_is_created_once_with_its_name_quoted() -> None:
    assert render_setup_sql(CONFIG) == 'CREATE DATABASE "orders"\n'
    odd = ServerConfig(**{**CONFIG.__dict__, "db_name": 'we"ird'})
    assert render_setup_sql(odd) == 'CREATE DATABASE "we""ird"\n'
    for none in (None, "", "postgres"):
        assert render_setup_sql(ServerConfig(**{**CONFIG.__dict__, "db_name": none})) == ""


def test_the_boot_script_never_holds_the_password_and_removes_its_file() -> None:
    script = boot_script(CONFIG, Path("/state/databases/main/server"))
    assert "--pwfile=/run/provision-db/pwfile" in script
    assert script.count("rm -f pwfile") >= 2  # after initdb, and when it fails
    assert '-U "$MASTER_USERNAME"' in script  # from the environment, never quoted into code
    assert "/usr/lib/postgresql/15/bin/postgres" in script
    assert script.rstrip().endswith("-c config_file=/run/provision-db/postgresql.conf")


SPEC = DatabaseSpec(
    identifier="main",
    arn="arn:aws:rds:us-east-1:123456789012:db:main",
    vpc_id="vpc-1",
    subnet_id="subnet-1",
    subnet_cidr="10.9.2.0/24",
    server=CONFIG,
)


def test_a_database_record_reads_back_what_was_saved(tmp_path: Path) -> None:
    DatabaseRecord(SPEC, ServerState.STARTING).save(tmp_path)
    assert DatabaseRecord.load(tmp_path) == DatabaseRecord(SPEC, ServerState.STARTING)
    (tmp_path / "database.json").write_text('{"spec": {"identifier": "x"}}')
    assert DatabaseRecord.load(tmp_path) is None


def test_the_master_password_is_never_in_a_record_or_a_repr(tmp_path: Path) -> None:
    desired = DesiredDatabase(SPEC, "pw-hunter2", "creating")
    DatabaseRecord(desired.spec, ServerState.READY).save(tmp_path)
    assert "pw-hunter2" not in repr(desired)
    assert "pw-hunter2" not in (tmp_path / "database.json").read_text()


def test_each_database_gets_its_own_link_name_on_the_subnet_bridge() -> None:
    other = DatabaseSpec(**{**SPEC.__dict__, "arn": SPEC.arn.replace(":main", ":other")})
    names = {SPEC.attachment.peer, other.attachment.peer}
    assert len(names) == 2 and all(len(name) <= 15 for name in names)
    assert SPEC.attachment.address == CONFIG.address


def test_a_new_password_is_sent_as_a_scram_verifier_never_in_clear() -> None:
    salt = bytes(range(16))
    verifier = scram_verifier("pw-hunter2", salt=salt)
    method, rest = verifier.split("$", 1)
    iterations_and_salt, keys = rest.split("$")
    assert method == "SCRAM-SHA-256"
    assert iterations_and_salt == "4096:AAECAwQFBgcICQoLDA0ODw=="
    assert len(keys.split(":")) == 2
    assert "pw-hunter2" not in verifier
    assert scram_verifier("pw-hunter2", salt=salt) == verifier
    assert scram_verifier("pw-hunter2") != scram_verifier("pw-hunter2")  # a fresh salt each time


CREATE = {
    "engine": "postgres",
    "engine_version": "15.4",
    "master_username": "app",
    "master_user_password": "pw-1",
    "db_subnet_group_name": "main-db",
}


def test_a_create_is_served_with_a_served_version_credentials_and_a_subnet_group() -> None:
    assert create_refusal(CREATE, ("15",)) is None
    assert create_refusal({**CREATE, "engine_version": None}, ("15",)) is None


def test_a_create_without_a_password_or_a_subnet_group_is_refused() -> None:
    no_password = create_refusal({**CREATE, "master_user_password": None}, ("15",))
    assert no_password == "the local cloud needs MasterUsername and MasterUserPassword"
    no_group = create_refusal({**CREATE, "db_subnet_group_name": None}, ("15",))
    assert no_group is not None and "needs DBSubnetGroupName" in no_group
    newer = create_refusal({**CREATE, "engine_version": "16.1"}, ("15",))
    assert newer is not None and "16.1 is not available" in newer
