"""A stack's exports are written and read by one dataclass: what the program exports reads back."""

from __future__ import annotations

from typing import Any

from provisioner.cloud.stack_exports import StackExports, spec_output_changes
from provisioner.spec.addresses import Address

PREVIEW_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # Pulumi's placeholder in previews
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n-----END OPENSSH PRIVATE KEY-----\n"
PASSWORD = "db-password-value"

EXPORTS = StackExports(
    resources={
        "key.admin": {"name": "dev-admin"},
        "vm.web[0]": {"id": "i-1"},
        "db.main": {"address": "dev-main.rds", "port": 5432, "name": "app", "username": "app"},
    },
    vms={
        "vm.web[0]": {
            "id": "i-1",
            "private_ip": "10.20.1.4",
            "public_ip": "",
            "subnet": "subnet.public-a",
            "roles": ["web"],
            "hostname": "web-0",
            "key_pair": "key.admin",
        }
    },
    outputs={"url": "http://10.20.1.4/"},
    private_keys={"key.admin": KEY},
    secrets={"db.main": {"password": PASSWORD}},
)


def test_what_a_program_exports_decodes_to_the_same_exports() -> None:
    assert StackExports.decode(EXPORTS.encode()) == EXPORTS


def test_the_private_keys_and_secret_attributes_are_the_exports_a_program_marks_secret() -> None:
    marked: list[Any] = []

    def secret(value: Any) -> str:
        marked.append(value)
        return "[secret]"

    encoded = EXPORTS.encode(secret=secret)
    assert marked == [{"key.admin": KEY}, {"db.main": {"password": PASSWORD}}]
    assert KEY not in str(encoded)
    assert PASSWORD not in str(encoded)


def test_private_keys_and_secret_attributes_never_show_in_the_exports_repr() -> None:
    assert "PRIVATE KEY" not in repr(EXPORTS)
    assert PASSWORD not in repr(EXPORTS)
    assert PASSWORD not in repr(EXPORTS.ready_resources())


def test_a_ready_resource_carries_its_secret_attributes_apart_from_the_others() -> None:
    [database] = [r for r in EXPORTS.ready_resources() if str(r.address) == "db.main"]
    assert database.secrets == {"password": PASSWORD}


def test_decoded_exports_give_typed_outputs_and_ready_resources() -> None:
    outputs = EXPORTS.environment_outputs("dev")
    vm = outputs.vms[Address.parse("vm.web[0]")]
    assert (vm.id, vm.roles, vm.hostname, str(vm.key_pair)) == (
        "i-1",
        ("web",),
        "web-0",
        "key.admin",
    )
    assert outputs.values == {"url": "http://10.20.1.4/"}
    assert outputs.private_keys == {"key.admin": KEY}
    ready = {str(r.address): r for r in EXPORTS.ready_resources()}
    assert ready["key.admin"].private_key == KEY
    assert ready["vm.web[0]"].address == Address.parse("vm.web[0]")
    assert ready["vm.web[0]"].private_key is None


def test_a_stack_that_exported_nothing_decodes_as_empty() -> None:
    empty = StackExports.decode({})
    assert empty.environment_outputs("dev").vms == {}
    assert empty.ready_resources() == []


def test_spec_outputs_unknown_as_a_whole_in_a_preview_are_no_output_change() -> None:
    recorded = EXPORTS.encode()
    previewed = {**recorded, "outputs": PREVIEW_UNKNOWN}
    assert spec_output_changes(recorded, previewed) == ()
