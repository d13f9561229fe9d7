"""`NodeReady`: a node of a run is ready once every node it depends on is done (in-process;
the events are fed as Pulumi and the configurator would report them)."""

from __future__ import annotations

from pathlib import Path

from provisioner.engine.events import (
    ConfigureFinished,
    ListSink,
    NodeReady,
    ResourceFinished,
    ResourceStarted,
    Status,
)
from provisioner.engine.history import RunRecorder
from provisioner.engine.readiness import ReadinessSink
from provisioner.engine.run_record import RunInfo, read_run
from provisioner.graph import compile_source
from provisioner.plan import Action
from provisioner.spec import resolve_environment
from provisioner.spec.addresses import Address, ResourceAddress

ENVIRONMENTS = Path(__file__).resolve().parent / "two_tier" / "environments"  # a fixture


def ready(sink: ListSink) -> list[str]:
    return [event.address for event in sink.events if isinstance(event, NodeReady)]


def done(address: str) -> ResourceFinished:
    return ResourceFinished(
        address=ResourceAddress.parse(address), action=Action.CREATE, status=Status.DONE, elapsed=1
    )


def test_a_node_is_ready_when_the_last_node_it_depends_on_is_done() -> None:
    graph = compile_source(resolve_environment("dev", ENVIRONMENTS)).graph
    changing = ["network.main", "network.main/internet-gateway", "subnet.public-a", "sg.web"]
    sink = ListSink()
    readiness = ReadinessSink(graph, [ResourceAddress.parse(a) for a in changing], sink)
    readiness.start()
    assert ready(sink) == ["network.main"]  # depends on nothing this run changes
    readiness.emit(done("network.main"))
    assert ready(sink) == ["network.main"]  # its gateway is not done yet
    readiness.emit(done("network.main/internet-gateway"))
    assert ready(sink) == ["network.main", "sg.web", "subnet.public-a"]
    readiness.emit(
        ResourceFinished(
            address=ResourceAddress.parse("sg.web"),
            action=Action.CREATE,
            status=Status.FAILED,
            elapsed=1,
        )
    )
    assert len(ready(sink)) == 3  # a failed node readies nothing
    assert len(sink.events) == 3 + 3  # every event is passed on


def test_a_role_is_ready_once_its_vm_and_the_roles_before_it_are_done() -> None:
    graph = compile_source(resolve_environment("dev", ENVIRONMENTS)).graph
    web = [Address.parse("software.base@vm.web[0]"), Address.parse("software.web@vm.web[0]")]
    sink = ListSink()
    readiness = ReadinessSink(graph, [ResourceAddress.parse("vm.web[0]"), *web], sink)
    readiness.start()
    assert ready(sink) == ["vm.web[0]"]
    readiness.emit(done("vm.web[0]"))
    assert ready(sink)[-1] == "software.base@vm.web[0]"
    readiness.emit(
        ConfigureFinished(address=str(web[0]), host="web-0", status=Status.DONE, elapsed=1)
    )
    assert ready(sink)[-1] == "software.web@vm.web[0]"


def test_the_run_record_keeps_when_each_node_was_ready_apart_from_when_it_started(
    tmp_path: Path,
) -> None:
    info = RunInfo.current("20261201T000000Z-abcdef", "dev", ("provision", "up"), tmp_path)
    recorder = RunRecorder(tmp_path / "run", info)
    with recorder.recording():
        recorder.emit(NodeReady(address="lb.web"))
        part = ResourceAddress.parse("lb.web/listener-80")
        recorder.emit(ResourceStarted(address=part, action=Action.CREATE))
        recorder.emit(
            ResourceFinished(address=part, action=Action.CREATE, status=Status.DONE, elapsed=1)
        )
    record = read_run(tmp_path / "run")
    assert record is not None
    node = record.nodes["lb.web/listener-80"]
    assert node.ready_at is not None and node.ready_at <= node.started_at
