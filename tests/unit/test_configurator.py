"""Pipelined configuration, with an in-process host backend: order, gating, failure, variables."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from provisioner.engine.configure import Configurator, plan_software
from provisioner.engine.events import (
    ConfigureFinished,
    ConfigureStarted,
    Event,
    ListSink,
    Status,
)
from provisioner.engine.ports import (
    ConfigureResult,
    HostTarget,
    ReadyResource,
    UpstreamValues,
    secret_placeholder,
)
from provisioner.engine.variables import resolve
from provisioner.errors import HostError
from provisioner.graph import CompiledEnvironment, compile_source
from provisioner.plan import Action, Plan, ResourceChange, TaskChange, TaskOutlook
from provisioner.spec import resolve_environment
from provisioner.spec.addresses import Address, ResourceAddress
from provisioner.spec.kinds.key_pair import KEY_PAIR
from provisioner.spec.kinds.software import SOFTWARE
from provisioner.spec.kinds.vm import VM

ENVIRONMENTS = Path(__file__).resolve().parent / "two_tier" / "environments"  # a fixture
IPS = {"vm.db[0]": "10.20.2.10", "vm.web[0]": "10.20.1.10", "vm.web[1]": "10.20.1.11"}


@pytest.fixture(scope="module")
def dev() -> CompiledEnvironment:
    return compile_source(resolve_environment("dev", ENVIRONMENTS))


class RecordingHosts:
    """Records what it configured; `fail` names software nodes that fail."""

    def __init__(self, fail: tuple[str, ...] = ()) -> None:
        self.fail = fail
        self.configured: list[HostTarget] = []
        self.calls: list[list[str]] = []  # the addresses of each configure or check call
        self.lock = threading.Lock()
        self.first_started = threading.Event()

    def configure(self, targets: Sequence[HostTarget], sink: Any) -> list[ConfigureResult]:
        with self.lock:
            self.configured.extend(targets)
            self.calls.append(sorted(str(t.node.address) for t in targets))
        self.first_started.set()
        return [
            ConfigureResult(failed=1, error="task 'x' failed: boom")
            if str(target.node.address) in self.fail
            else ConfigureResult(ok=2, changed=1)
            for target in targets
        ]

    def check(self, targets: Sequence[HostTarget], sink: Any) -> list[tuple[TaskChange, ...]]:
        with self.lock:
            self.calls.append(sorted(str(t.node.address) for t in targets))
        predicted = []
        for target in targets:
            outlook = TaskOutlook.CHANGE if target.node.role == "web" else TaskOutlook.NO_CHANGE
            diff = "+x" if outlook is TaskOutlook.CHANGE else None
            predicted.append((TaskChange("a task", outlook, diff=diff),))
        return predicted

    def release(self, instance_ids: list[str]) -> None:
        return None

    def addresses(self) -> list[str]:
        return [str(t.node.address) for t in self.configured]


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def ready(address: str) -> ReadyResource:
    parsed = Address.parse(address)
    if parsed.kind is VM:
        attributes = {"id": f"i-{parsed.name}{parsed.index}", "private_ip": IPS[address]}
        return ReadyResource(parsed, attributes)
    if parsed.kind is KEY_PAIR:
        return ReadyResource(parsed, {"name": "dev-deploy"}, private_key="KEY MATERIAL")
    return ReadyResource(parsed, {"id": f"id-{parsed.name}"})


def cloud_nodes(dev: CompiledEnvironment) -> list[str]:
    return [str(a) for a in dev.graph.addresses() if a.kind is not SOFTWARE]


def test_a_vms_roles_start_as_soon_as_it_is_ready_before_other_vms_are(
    dev: CompiledEnvironment,
) -> None:
    hosts = RecordingHosts()
    configurator = Configurator("dev", dev.graph, hosts, ListSink())
    configurator.start()
    for address in cloud_nodes(dev):
        if address not in ("vm.web[0]", "vm.web[1]"):
            configurator.resource_ready(ready(address))
    # Both of the db VM's roles run while the web VMs are not ready yet.
    assert wait_until(lambda: len(hosts.addresses()) == 2, timeout=5)
    assert hosts.addresses() == ["software.base@vm.db[0]", "software.db@vm.db[0]"]
    configurator.resource_ready(ready("vm.web[0]"))
    configurator.resource_ready(ready("vm.web[1]"))
    results = configurator.finish()
    order = hosts.addresses()
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
    cloud_plan = Plan("dev", (ResourceChange(ResourceAddress.parse("vm.web[1]"), Action.CREATE),))
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


def test_a_role_on_vms_ready_together_is_configured_in_one_call_with_events_per_node(
    dev: CompiledEnvironment,
) -> None:
    hosts = RecordingHosts(fail=("software.base@vm.web[1]",))
    sink = ListSink()
    configurator = Configurator("dev", dev.graph, hosts, sink)
    configurator.start()
    for address in cloud_nodes(dev):
        configurator.resource_ready(ready(address))
    with pytest.raises(HostError, match=r"software.base@vm.web\[1\] failed: .*boom; 1 skipped"):
        configurator.finish()
    assert hosts.calls[0] == [
        "software.base@vm.db[0]",
        "software.base@vm.web[0]",
        "software.base@vm.web[1]",
    ]
    # The failed member skips only its own dependents: web on web[0] still runs.
    assert "software.web@vm.web[0]" in hosts.addresses()
    assert "software.web@vm.web[1]" not in hosts.addresses()
    started = {e.address for e in sink.events if isinstance(e, ConfigureStarted)}
    statuses = {e.address: e.status for e in finished(sink.events)}
    assert started == {a for a, s in statuses.items() if s is not Status.SKIPPED}
    assert statuses["software.base@vm.web[1]"] is Status.FAILED
    assert statuses["software.base@vm.web[0]"] is Status.DONE
    assert statuses["software.web@vm.web[1]"] is Status.SKIPPED


def test_vms_ready_apart_are_configured_in_separate_calls(dev: CompiledEnvironment) -> None:
    hosts = RecordingHosts()
    configurator = Configurator("dev", dev.graph, hosts, ListSink(), settle=0.1, cap=0.2)
    configurator.start()
    for address in cloud_nodes(dev):
        if address != "vm.web[1]":
            configurator.resource_ready(ready(address))
    assert hosts.first_started.wait(5)
    configurator.resource_ready(ready("vm.web[1]"))
    configurator.finish()
    assert hosts.calls[0] == ["software.base@vm.db[0]", "software.base@vm.web[0]"]
    assert ["software.base@vm.web[1]"] in hosts.calls


def test_plan_checks_each_role_on_its_hosts_in_one_call(dev: CompiledEnvironment) -> None:
    hosts = RecordingHosts()
    recorded = [ready(a) for a in cloud_nodes(dev)]
    plan_software(dev.graph, Plan("dev"), recorded, hosts, ListSink())
    assert sorted(hosts.calls) == [
        ["software.base@vm.db[0]", "software.base@vm.web[0]", "software.base@vm.web[1]"],
        ["software.db@vm.db[0]"],
        ["software.web@vm.web[0]", "software.web@vm.web[1]"],
    ]


def test_plan_checks_at_most_parallelism_hosts_in_one_call(dev: CompiledEnvironment) -> None:
    hosts = RecordingHosts()
    recorded = [ready(a) for a in cloud_nodes(dev)]
    plan_software(dev.graph, Plan("dev"), recorded, hosts, ListSink(), parallelism=2)
    assert max(len(call) for call in hosts.calls) == 2
    assert sum(len(call) for call in hosts.calls) == 6


def finished(events: list[Event]) -> list[ConfigureFinished]:
    return [e for e in events if isinstance(e, ConfigureFinished)]


def test_the_error_names_a_node_that_failed_on_its_own_before_one_its_batch_stopped(
    dev: CompiledEnvironment,
) -> None:
    class TimingOut(RecordingHosts):
        def configure(self, targets: Sequence[HostTarget], sink: Any) -> list[ConfigureResult]:
            super().configure(targets, sink)
            return [
                ConfigureResult(error="timed out in task 'x'")
                if str(target.node.address) == "software.base@vm.web[1]"
                else ConfigureResult(error="stopped with its batch", collateral=True)
                for target in targets
            ]

    configurator = Configurator("dev", dev.graph, TimingOut(), ListSink(), settle=5.0, cap=5.0)
    configurator.start()
    for address in cloud_nodes(dev):
        configurator.resource_ready(ready(address))
    with pytest.raises(HostError) as failure:
        configurator.finish()
    assert str(failure.value).startswith("software.base@vm.web[1] failed: timed out in task 'x'")


def test_hosts_variables_read_another_environments_exports_and_hide_its_secrets() -> None:
    secrets: dict[str, str] = {}
    network = UpstreamValues(
        outputs={"vpc_id": "vpc-1"},
        resources={"subnet.a": {"id": "subnet-2", "cidr": "10.0.1.0/24"}},
        secrets={"db.main": {"password": "s3cret"}},
    )
    values = resolve(
        {
            "vpc": "${env.network.outputs.vpc_id}",
            "where": "in ${env.network.subnet.a.cidr}",
            "password": "${env.network.db.main.password}",
        },
        {},
        secrets,
        {"network": network},
    )
    assert values["vpc"] == "vpc-1" and values["where"] == "in 10.0.1.0/24"
    assert "s3cret" not in str(values) and list(secrets.values()) == ["s3cret"]
    assert values["password"] == secret_placeholder(next(iter(secrets)))
