"""Pipelined configuration, with an in-process host backend: order, gating, failure, variables."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from provisioner.engine.configure import Configurator, plan_software
from provisioner.engine.events import ConfigureFinished, Event, ListSink, Status
from provisioner.engine.ports import ConfigureResult, HostTarget, ReadyResource
from provisioner.errors import HostError
from provisioner.graph import CompiledEnvironment, compile_source
from provisioner.plan import Action, Plan, ResourceChange, TaskChange, TaskOutlook
from provisioner.spec import resolve_environment
from provisioner.spec.addresses import Address, ResourceKind

ENVIRONMENTS = Path(__file__).resolve().parents[2] / "environments"
IPS = {"vm.db[0]": "10.20.2.10", "vm.web[0]": "10.20.1.10", "vm.web[1]": "10.20.1.11"}


@pytest.fixture(scope="module")
def dev() -> CompiledEnvironment:
    return compile_source(resolve_environment("dev", ENVIRONMENTS))


class RecordingHosts:
    """Records what it configured; `fail` names software nodes that fail."""

    def __init__(self, fail: tuple[str, ...] = ()) -> None:
        self.fail = fail
        self.configured: list[HostTarget] = []
        self.lock = threading.Lock()
        self.first_started = threading.Event()

    def configure(self, target: HostTarget, sink: Any) -> ConfigureResult:
        with self.lock:
            self.configured.append(target)
        self.first_started.set()
        if str(target.node.address) in self.fail:
            return ConfigureResult(failed=1, error="task 'x' failed: boom")
        return ConfigureResult(ok=2, changed=1)

    def check(self, target: HostTarget, sink: Any) -> tuple[TaskChange, ...]:
        outlook = TaskOutlook.CHANGE if target.node.role == "web" else TaskOutlook.NO_CHANGE
        return (
            TaskChange("a task", outlook, diff="+x" if outlook is TaskOutlook.CHANGE else None),
        )

    def release(self, instance_ids: list[str]) -> None:
        return None

    def addresses(self) -> list[str]:
        return [str(t.node.address) for t in self.configured]


def ready(address: str) -> ReadyResource:
    parsed = Address.parse(address)
    if parsed.kind is ResourceKind.VM:
        attributes = {"id": f"i-{parsed.name}{parsed.index}", "private_ip": IPS[address]}
        return ReadyResource(parsed, attributes)
    if parsed.kind is ResourceKind.KEY_PAIR:
        return ReadyResource(parsed, {"name": "dev-deploy"}, private_key="KEY MATERIAL")
    return ReadyResource(parsed, {"id": f"id-{parsed.name}"})


def cloud_nodes(dev: CompiledEnvironment) -> list[str]:
    return [str(a) for a in dev.graph.addresses() if a.kind is not ResourceKind.SOFTWARE]


def test_a_vms_roles_start_as_soon_as_it_is_ready_before_other_vms_are(
    dev: CompiledEnvironment,
) -> None:
    hosts = RecordingHosts()
    configurator = Configurator("dev", dev.graph, hosts, ListSink())
    configurator.start()
    for address in cloud_nodes(dev):
        if address not in ("vm.web[0]", "vm.web[1]"):
            configurator.resource_ready(ready(address))
    assert hosts.first_started.wait(5)
    configurator.resource_ready(ready("vm.web[0]"))
    configurator.resource_ready(ready("vm.web[1]"))
    results = configurator.finish()
    order = hosts.addresses()
    assert order[:2] == ["software.base@vm.db[0]", "software.db@vm.db[0]"]
    # web waits for its own VM's base role and for every db role (after: [db]).
    for index in (0, 1):
        web = order.index(f"software.web@vm.web[{index}]")
        assert web > order.index(f"software.base@vm.web[{index}]")
        assert web > order.index("software.db@vm.db[0]")
    assert all(result.succeeded for result in results.values()) and len(results) == 6


def test_role_variables_have_their_references_resolved_and_the_key_passed(
    dev: CompiledEnvironment,
) -> None:
    hosts = RecordingHosts()
    configurator = Configurator("dev", dev.graph, hosts, ListSink())
    configurator.start()
    for address in cloud_nodes(dev):
        configurator.resource_ready(ready(address))
    configurator.finish()
    [web] = [t for t in hosts.configured if str(t.node.address) == "software.web@vm.web[1]"]
    assert web.variables["db_host"] == IPS["vm.db[0]"]
    assert (web.instance_id, web.private_ip) == ("i-web1", IPS["vm.web[1]"])
    assert web.private_key == "KEY MATERIAL"
    assert "KEY MATERIAL" not in repr(web)


def test_a_failed_role_skips_its_dependents_and_fails_the_run(dev: CompiledEnvironment) -> None:
    hosts = RecordingHosts(fail=("software.db@vm.db[0]",))
    sink = ListSink()
    configurator = Configurator("dev", dev.graph, hosts, sink)
    configurator.start()
    for address in cloud_nodes(dev):
        configurator.resource_ready(ready(address))
    with pytest.raises(HostError, match=r"software.db@vm.db\[0\] failed: .*boom; 2 skipped"):
        configurator.finish()
    assert "software.web@vm.web[0]" not in hosts.addresses()
    skipped = {e.address for e in finished(sink.events) if e.status is Status.SKIPPED}
    assert skipped == {"software.web@vm.web[0]", "software.web@vm.web[1]"}


def test_a_vm_the_cloud_never_made_skips_its_roles(dev: CompiledEnvironment) -> None:
    hosts = RecordingHosts()
    configurator = Configurator("dev", dev.graph, hosts, ListSink())
    configurator.start()
    for address in cloud_nodes(dev):
        if address != "vm.web[1]":
            configurator.resource_ready(ready(address))
    configurator.cloud_failed()
    with pytest.raises(HostError):
        configurator.finish()
    assert not [a for a in hosts.addresses() if a.endswith("@vm.web[1]")]
    assert "software.web@vm.web[0]" in hosts.addresses()


def test_plan_checks_existing_vms_and_configures_new_ones_from_scratch(
    dev: CompiledEnvironment,
) -> None:
    recorded = [ready(a) for a in cloud_nodes(dev) if a != "vm.web[1]"]
    cloud_plan = Plan("dev", (ResourceChange("vm.web[1]", "vm", Action.CREATE),))
    changes = plan_software(dev.graph, cloud_plan, recorded, RecordingHosts(), ListSink())
    actions = {change.address: change.action for change in changes}
    assert actions == {
        "software.base@vm.db[0]": Action.NO_OP,
        "software.base@vm.web[0]": Action.NO_OP,
        "software.base@vm.web[1]": Action.CREATE,
        "software.db@vm.db[0]": Action.NO_OP,
        "software.web@vm.web[0]": Action.UPDATE,
        "software.web@vm.web[1]": Action.CREATE,
    }
    plan = Plan("dev", (), changes)
    assert plan.has_changes and not plan.has_cloud_changes
    assert plan.software_summary() == {"configure": 2, "change": 1, "no-op": 3}


def finished(events: list[Event]) -> list[ConfigureFinished]:
    return [e for e in events if isinstance(e, ConfigureFinished)]
