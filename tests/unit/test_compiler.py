"""The dev environment compiles into the graph its spec describes."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.graph import CompiledEnvironment, compile_source
from provisioner.graph.resource_graph import EdgeReason
from provisioner.spec import resolve_environment

ENVIRONMENTS = Path(__file__).resolve().parents[2] / "environments"
TWO_TIER = Path(__file__).resolve().parent / "two_tier" / "environments"  # a fixture


@pytest.fixture(scope="module")
def dev() -> CompiledEnvironment:
    return compile_source(resolve_environment("dev", TWO_TIER))


def edges(compiled: CompiledEnvironment, reason: EdgeReason) -> set[tuple[str, str]]:
    return {(str(e.source), str(e.target)) for e in compiled.graph.edges() if e.reason is reason}


def test_dev_has_one_node_per_resource_and_role_instance(dev: CompiledEnvironment) -> None:
    assert [str(a) for a in dev.graph.addresses()] == [
        "bucket.assets",
        "key.deploy",
        "network.main",
        "sg.db",
        "sg.web",
        "subnet.private-a",
        "subnet.public-a",
        "vm.db[0]",
        "vm.web[0]",
        "vm.web[1]",
        "dns.internal",
        "software.base@vm.db[0]",
        "software.base@vm.web[0]",
        "software.base@vm.web[1]",
        "software.db@vm.db[0]",
        "software.web@vm.web[0]",
        "software.web@vm.web[1]",
    ]


def test_dev_inherits_base_by_deep_merge(dev: CompiledEnvironment) -> None:
    env = dev.environment
    assert (env.name, env.cloud) == ("dev", "local")
    assert env.tags == {"project": "provision", "managed-by": "provision", "environment": "dev"}


def test_containment_and_use_edges(dev: CompiledEnvironment) -> None:
    assert ("network.main", "subnet.public-a") in edges(dev, EdgeReason.CONTAINS)
    assert ("vm.web[1]", "software.web@vm.web[1]") in edges(dev, EdgeReason.CONTAINS)
    assert edges(dev, EdgeReason.USES) >= {
        ("subnet.private-a", "vm.db[0]"),
        ("sg.db", "vm.db[0]"),
        ("key.deploy", "vm.web[0]"),
    }
    # The private zone names every VM of its groups.
    assert ("network.main", "dns.internal") in edges(dev, EdgeReason.CONTAINS)
    assert {(f"vm.{vm}", "dns.internal") for vm in ("web[0]", "web[1]", "db[0]")} <= edges(
        dev, EdgeReason.USES
    )


def test_the_db_group_waits_for_the_web_group_it_admits(dev: CompiledEnvironment) -> None:
    assert edges(dev, EdgeReason.PEER) == {("sg.web", "sg.db")}


def test_web_runs_after_db_and_after_base_on_its_own_vm(dev: CompiledEnvironment) -> None:
    assert edges(dev, EdgeReason.AFTER) == {
        ("software.db@vm.db[0]", "software.web@vm.web[0]"),
        ("software.db@vm.db[0]", "software.web@vm.web[1]"),
    }
    assert ("software.base@vm.web[0]", "software.web@vm.web[0]") in edges(dev, EdgeReason.ORDER)


def test_a_reference_to_the_db_address_is_an_edge_from_the_db_vm(
    dev: CompiledEnvironment,
) -> None:
    assert edges(dev, EdgeReason.REFERENCE) == {
        ("vm.db[0]", "software.web@vm.web[0]"),
        ("vm.db[0]", "software.web@vm.web[1]"),
    }


def test_every_environment_file_compiles() -> None:
    for name in ("base", "network", "dev", "staging", "prod"):
        compiled = compile_source(resolve_environment(name, ENVIRONMENTS))
        assert len(compiled.graph) > 0


def test_a_group_that_admits_itself_is_not_a_cycle(tmp_path: Path) -> None:
    (tmp_path / "playbooks").mkdir()
    spec = tmp_path / "self.yaml"
    spec.write_text(
        "region: us-east-1\n"
        "networks: {main: {cidr: 10.0.0.0/16}}\n"
        "security_groups:\n"
        "  cluster:\n"
        "    network: main\n"
        "    ingress: [{protocol: all, group: cluster}]\n"
    )
    compiled = compile_source(resolve_environment(str(spec), tmp_path))
    assert [str(e.source) for e in compiled.graph.edges()] == ["network.main"]


def test_the_three_tier_dev_orders_database_web_roles_smoke_checks_and_the_app_name() -> None:
    dev = compile_source(resolve_environment("dev", ENVIRONMENTS))
    references = edges(dev, EdgeReason.REFERENCE)
    assert ("db.main", "software.web@vm.web[0]") in references  # the address and the password
    assert {("lb.web", "dns.internal"), ("db.main", "dns.internal")} <= references
    after = edges(dev, EdgeReason.AFTER)
    assert ("software.web@vm.web[1]", "software.smoke@vm.web[0]") in after
    kinds = {address.kind for address in dev.graph.addresses()}
    assert {"lb", "db", "dns", "vm", "software"} <= {str(kind) for kind in kinds}
