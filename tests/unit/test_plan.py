"""Plans: summaries, JSON shape, and settling the unknowns of a Pulumi preview."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from provisioner.cli.plan_view import render_plan
from provisioner.cloud.pulumi_cloud import settle_unknowns
from provisioner.cloud.stack_exports import spec_output_changes
from provisioner.graph import compile_source
from provisioner.plan import (
    Action,
    Plan,
    PlanFormatError,
    PropertyChange,
    ResourceChange,
    SoftwareChange,
    TaskChange,
    TaskOutlook,
)
from provisioner.plan.model import KNOWN_AFTER_APPLY
from provisioner.spec import resolve_environment
from provisioner.spec.addresses import ResourceAddress

ENVIRONMENTS = Path(__file__).resolve().parent / "two_tier" / "environments"  # a fixture
GRAPH = compile_source(resolve_environment("dev", ENVIRONMENTS)).graph
UNKNOWN = KNOWN_AFTER_APPLY


def change(address: str, action: Action, *diff: PropertyChange) -> ResourceChange:
    return ResourceChange(ResourceAddress.parse(address), action, tuple(diff))


def test_summary_counts_every_action_and_json_has_the_documented_keys() -> None:
    plan = Plan(
        "dev",
        (
            change("network.main", Action.NO_OP),
            change("sg.web", Action.UPDATE, PropertyChange("ingress", [1], [2])),
            change("vm.web[0]", Action.CREATE),
        ),
    )
    assert plan.summary() == {"create": 1, "update": 1, "replace": 0, "delete": 0, "no-op": 1}
    assert plan.has_changes
    data = plan.to_json()
    assert set(data) >= {"environment", "changes", "summary"}
    assert set(data["changes"][1]) == {"address", "kind", "action", "diff"}


def test_a_plan_read_back_from_its_json_is_the_same_plan() -> None:
    plan = Plan(
        "dev",
        (
            change("sg.web", Action.UPDATE, PropertyChange("ingress", [{"port": 80}], UNKNOWN)),
            change("vm.web[0]", Action.REPLACE, PropertyChange("image", "a", "b", True)),
        ),
        (
            SoftwareChange(
                "software.web@vm.web[0]",
                "web-0",
                Action.UPDATE,
                (
                    TaskChange("template", TaskOutlook.CHANGE, diff="-a\n+b\n"),
                    TaskChange("command", TaskOutlook.UNKNOWN, note="check mode cannot run it"),
                ),
            ),
        ),
        gone=(ResourceAddress.parse("vm.web[1]"),),
        outputs=(PropertyChange("outputs.url", "http://a", "http://b"),),
    )
    assert Plan.from_json(plan.to_json()) == plan
    assert Plan.from_json(json.loads(json.dumps(plan.to_json()))).to_json() == plan.to_json()


@pytest.mark.parametrize("broken", [{}, {"environment": "dev", "changes": [{"address": "x"}]}, []])
def test_json_that_is_not_a_plan_is_refused(broken: object) -> None:
    with pytest.raises(PlanFormatError, match="not a plan"):
        Plan.from_json(broken)


@pytest.mark.parametrize(
    ("upstream", "dependent", "expected"),
    [
        # sg.web is updated in place: its id stays, so sg.db's unknown ingress is no change.
        (
            change("sg.web", Action.UPDATE, PropertyChange("ingress", [80], [8080])),
            change("sg.db", Action.UPDATE, PropertyChange("ingress", [{"g": "sg-1"}], UNKNOWN)),
            Action.NO_OP,
        ),
        # The web group is replaced: its id changes, so sg.db really changes.
        (
            change("sg.web", Action.REPLACE, PropertyChange("name", "a", "b", True)),
            change("sg.db", Action.UPDATE, PropertyChange("ingress", [{"g": "sg-1"}], UNKNOWN)),
            Action.UPDATE,
        ),
        # An unknown subnet id forces a replacement only if the subnet is renewed.
        (
            change("subnet.private-a", Action.UPDATE, PropertyChange("tags.x", "1", "2")),
            change("vm.db[0]", Action.REPLACE, PropertyChange("subnet_id", "s-1", UNKNOWN, True)),
            Action.NO_OP,
        ),
        (
            change(
                "subnet.private-a", Action.REPLACE, PropertyChange("cidr_block", "a", "b", True)
            ),
            change("vm.db[0]", Action.REPLACE, PropertyChange("subnet_id", "s-1", UNKNOWN, True)),
            Action.REPLACE,
        ),
        # A known change stays, next to an unknown that settles.
        (
            change("sg.web", Action.UPDATE, PropertyChange("ingress", [80], [8080])),
            change(
                "sg.db",
                Action.UPDATE,
                PropertyChange("ingress", [{"g": "sg-1"}], [{"g": UNKNOWN}]),
                PropertyChange("tags.Name", "x", "y"),
            ),
            Action.UPDATE,
        ),
    ],
)
def test_unknowns_settle_only_when_upstream_keeps_its_identity(
    upstream: ResourceChange, dependent: ResourceChange, expected: Action
) -> None:
    plan = settle_unknowns(Plan("dev", (upstream, dependent)), GRAPH)
    assert {c.address: c.action for c in plan.changes}[dependent.address] is expected


def test_a_network_part_settles_after_its_siblings() -> None:
    plan = Plan(
        "dev",
        (
            change("network.main", Action.UPDATE, PropertyChange("tags.Name", "a", "b")),
            change(
                "network.main/internet-gateway",
                Action.REPLACE,
                PropertyChange("vpc_id", "vpc-1", UNKNOWN, True),
            ),
            change(
                "network.main/public-routes",
                Action.REPLACE,
                PropertyChange("vpc_id", "vpc-1", UNKNOWN, True),
                PropertyChange("gateway_id", "igw-1", UNKNOWN),
            ),
            change("sg.web", Action.REPLACE, PropertyChange("vpc_id", "vpc-1", UNKNOWN, True)),
        ),
    )
    settled = {str(c.address): c.action for c in settle_unknowns(plan, GRAPH).changes}
    assert settled == {
        "network.main": Action.UPDATE,
        "network.main/internet-gateway": Action.NO_OP,
        "network.main/public-routes": Action.NO_OP,
        "sg.web": Action.NO_OP,
    }


PREVIEW_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # Pulumi's placeholder in previews


def vm_outputs(roles: list[str], private_ip: str = "10.20.1.4") -> dict[str, object]:
    return {"id": "i-1", "private_ip": private_ip, "roles": roles, "hostname": "web-0"}


def test_output_changes_list_spec_outputs_and_vm_roles_leaf_by_leaf() -> None:
    recorded = {
        "outputs": {"url": "http://a/", "same": "x"},
        "vms": {"vm.web[0]": vm_outputs(["base"]), "vm.web[1]": vm_outputs(["base"])},
    }
    previewed = {
        "outputs": {"url": "http://b/", "same": "x", "new": "y"},
        "vms": {"vm.web[0]": vm_outputs(["base", "web"])},  # vm.web[1] leaves: not an output diff
    }
    changes = spec_output_changes(recorded, previewed)
    assert [(c.path, c.before, c.after) for c in changes] == [
        ("outputs.new", None, "y"),
        ("outputs.url", "http://a/", "http://b/"),
        ("vms.vm.web[0].roles", ["base"], ["base", "web"]),
    ]
    plan = Plan("dev", outputs=changes)
    assert plan.has_changes and plan.has_output_changes and not plan.has_cloud_changes
    assert plan.to_json()["outputs"][2]["path"] == "vms.vm.web[0].roles"


def test_outputs_not_known_before_apply_or_given_by_the_cloud_are_not_output_changes() -> None:
    recorded = {"outputs": {"db": "10.20.2.4"}, "vms": {"vm.db[0]": vm_outputs(["db"])}}
    previewed = {
        "outputs": {"db": PREVIEW_UNKNOWN},  # its VM is replaced: the apply renews it anyway
        "vms": {"vm.db[0]": vm_outputs(["db"], private_ip=PREVIEW_UNKNOWN)},
    }
    assert spec_output_changes(recorded, previewed) == ()


def test_a_plan_names_the_resources_the_cloud_lost_and_the_outputs_that_change() -> None:
    plan = Plan(
        "dev",
        (change("network.main", Action.CREATE),),
        gone=("network.main",),
        outputs=(PropertyChange("vms.vm.web[0].roles", ["base"], ["base", "web"]),),
    )
    console = Console(record=True, width=200)
    render_plan(plan, console)
    text = console.export_text()
    assert "1 resources that the state records no longer exist in the cloud" in text
    assert "network.main. `up` creates them again." in text
    assert '~ vms.vm.web[0].roles: ["base"] -> ["base", "web"]' in text
    assert "1 outputs change." in text
    assert plan.to_json()["gone"] == ["network.main"]
