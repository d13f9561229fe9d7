"""The local cloud's reconcile loop, with an in-process farm: which host to start, stop, remove."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from provisioner.local.dataplane import DataPlane
from provisioner.local.hosts import HostRecord, HostSpec, HostState, PowerState
from provisioner.local.reconciler import DesiredHost, HostReconciler

SPEC = HostSpec(
    instance_id="i-0123456789abcdef0",
    vpc_id="vpc-1",
    vpc_cidr="10.9.0.0/16",
    subnet_id="subnet-1",
    subnet_cidr="10.9.1.0/24",
    private_ip="10.9.1.5",
    hostname="app-0",
    authorized_keys=("ssh-ed25519 AAAA deploy",),
    instance_type="t3.micro",
)


class FakeFarm:
    """Records what the reconciler asks; keeps host records as the real farm does on disk."""

    def __init__(self, *records: HostRecord) -> None:
        self.hosts = {record.spec.instance_id: record for record in records}
        self.calls: list[tuple[str, str]] = []

    def records(self) -> dict[str, HostRecord]:
        return dict(self.hosts)

    def record(self, instance_id: str) -> HostRecord | None:
        return self.hosts.get(instance_id)

    def create(self, spec: HostSpec) -> None:
        self.calls.append(("create", spec.instance_id))
        self.hosts[spec.instance_id] = HostRecord(spec, HostState.READY)

    def stop(self, spec: HostSpec) -> None:
        self.calls.append(("stop", spec.instance_id))
        self.hosts[spec.instance_id] = HostRecord(spec, HostState.STOPPED)

    def remove(self, spec: HostSpec) -> None:
        self.calls.append(("remove", spec.instance_id))
        self.hosts.pop(spec.instance_id, None)

    def resize(self, spec: HostSpec) -> None:
        self.calls.append(("resize", spec.instance_id))
        self.hosts[spec.instance_id] = HostRecord(spec, HostState.READY)


def step(farm: FakeFarm, *desired: DesiredHost) -> list[tuple[str, str]]:
    HostReconciler(farm, lambda: list(desired)).step()  # type: ignore[arg-type]
    return farm.calls


def test_a_new_running_instance_gets_a_host() -> None:
    farm = FakeFarm()
    assert step(farm, DesiredHost(SPEC, PowerState.RUNNING)) == [("create", SPEC.instance_id)]


def test_a_stopped_instance_keeps_its_host_powered_off_not_removed() -> None:
    farm = FakeFarm(HostRecord(SPEC, HostState.READY))
    assert step(farm, DesiredHost(SPEC, PowerState.STOPPED)) == [("stop", SPEC.instance_id)]
    assert farm.hosts[SPEC.instance_id].state is HostState.STOPPED
    assert step(farm, DesiredHost(SPEC, PowerState.STOPPED)) == [("stop", SPEC.instance_id)]


def test_a_stopped_instance_that_starts_again_boots_the_same_host() -> None:
    farm = FakeFarm(HostRecord(SPEC, HostState.STOPPED))
    assert step(farm, DesiredHost(SPEC, PowerState.RUNNING)) == [("create", SPEC.instance_id)]


def test_a_terminated_instance_loses_its_host() -> None:
    farm = FakeFarm(HostRecord(SPEC, HostState.READY))
    assert step(farm) == [("remove", SPEC.instance_id)]


def test_a_running_host_whose_instance_changed_is_booted_again() -> None:
    farm = FakeFarm(HostRecord(SPEC, HostState.READY))
    changed = replace(SPEC, authorized_keys=("ssh-ed25519 BBBB other",))
    calls = step(farm, DesiredHost(changed, PowerState.RUNNING))
    assert calls == [("stop", SPEC.instance_id), ("create", SPEC.instance_id)]
    assert farm.hosts[SPEC.instance_id].spec == changed


def test_a_running_host_whose_type_alone_changed_is_resized_in_place() -> None:
    farm = FakeFarm(HostRecord(SPEC, HostState.READY))
    larger = replace(SPEC, instance_type="t3.small")
    assert step(farm, DesiredHost(larger, PowerState.RUNNING)) == [("resize", SPEC.instance_id)]
    assert farm.hosts[SPEC.instance_id].spec == larger


def test_a_boot_left_unfinished_is_started_over() -> None:
    farm = FakeFarm(HostRecord(SPEC, HostState.BOOTING))
    calls = step(farm, DesiredHost(SPEC, PowerState.RUNNING))
    assert calls == [("stop", SPEC.instance_id), ("create", SPEC.instance_id)]


def test_a_ready_host_of_a_running_instance_is_left_alone() -> None:
    farm = FakeFarm(HostRecord(SPEC, HostState.READY))
    assert step(farm, DesiredHost(SPEC, PowerState.RUNNING)) == []


class FakeNetworks:
    """VPC namespaces as a set; records which ones the data plane removes."""

    def __init__(self, *namespaces: str) -> None:
        self.existing = set(namespaces)
        self.removed: list[str] = []

    def vpc_namespace(self, vpc_id: str) -> str:
        return f"ns-{vpc_id}"

    def vpc_namespaces(self) -> set[str]:
        return set(self.existing)

    def remove_vpc_namespace(self, name: str) -> None:
        self.removed.append(name)
        self.existing.discard(name)


class FixedRealizer:
    name = "fixed"

    def __init__(self, *vpcs: str) -> None:
        self.vpcs = set(vpcs)

    def step(self) -> None:
        return None

    def vpcs_in_use(self) -> set[str]:
        return set(self.vpcs)

    def teardown(self) -> None:
        self.vpcs = set()


def test_a_vpc_namespace_stays_while_any_realizer_uses_it() -> None:
    networks = FakeNetworks("ns-vpc-a", "ns-vpc-b", "ns-vpc-c")
    plane = DataPlane([FixedRealizer("vpc-a"), FixedRealizer("vpc-b")], networks)  # type: ignore[arg-type]
    plane.step()
    assert networks.removed == ["ns-vpc-c"]


def test_teardown_removes_every_vpc_namespace_after_the_realizers() -> None:
    networks = FakeNetworks("ns-vpc-a")
    realizer = FixedRealizer("vpc-a")
    DataPlane([realizer], networks).teardown()  # type: ignore[arg-type]
    assert realizer.vpcs == set()
    assert networks.removed == ["ns-vpc-a"]


class CountingRealizer(FixedRealizer):
    """Counts passes; the third one stops the loop."""

    def __init__(self, stop: threading.Event, wake: threading.Event) -> None:
        super().__init__()
        self.passes = 0
        self.stop, self.wake = stop, wake

    def step(self) -> None:
        self.passes += 1
        if self.passes == 3:
            self.stop.set()
            self.wake.set()


def test_a_pass_runs_as_soon_as_it_is_woken_and_not_only_each_interval() -> None:
    stop, wake = threading.Event(), threading.Event()
    realizer = CountingRealizer(stop, wake)
    plane = DataPlane([realizer], FakeNetworks())  # type: ignore[arg-type]
    loop = threading.Thread(target=plane.run, args=(stop, wake), kwargs={"interval": 3600})
    loop.start()
    for expected in (1, 2):
        while realizer.passes < expected:  # the pass before this wake has run
            time.sleep(0.01)
        wake.set()
    loop.join(timeout=10)
    assert not loop.is_alive() and realizer.passes == 3
