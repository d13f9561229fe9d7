"""The generic parallel walker: order, parallelism, external nodes, skip on failure, batches."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from provisioner.dag.walk import Batching, Outcome, Walker, WalkTimeoutError

DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}


def test_each_node_runs_after_its_dependencies() -> None:
    order: list[str] = []
    lock = threading.Lock()

    def run(node: str) -> None:
        with lock:
            order.append(node)

    walker = Walker(DIAMOND, run)
    walker.start()
    assert walker.wait(5) == dict.fromkeys("abcd", Outcome.DONE)
    assert order[0] == "a" and order[-1] == "d"


def test_independent_nodes_run_at_the_same_time() -> None:
    barrier = threading.Barrier(2, timeout=5)
    walker = Walker({"b": [], "c": []}, lambda _node: barrier.wait(), workers=2)
    walker.start()
    assert walker.wait(10) == {"b": Outcome.DONE, "c": Outcome.DONE}


def test_a_failure_skips_its_dependents_but_not_independent_nodes() -> None:
    skipped: list[str] = []

    def run(node: str) -> None:
        if node == "b":
            raise RuntimeError("boom")

    walker = Walker(DIAMOND, run, on_skip=skipped.append)
    walker.start()
    outcomes = walker.wait(5)
    assert outcomes == {
        "a": Outcome.DONE,
        "b": Outcome.FAILED,
        "c": Outcome.DONE,
        "d": Outcome.SKIPPED,
    }
    assert skipped == ["d"]
    assert str(walker.errors["b"]) == "boom"


def test_external_nodes_gate_their_dependents_until_completed() -> None:
    ran: list[str] = []
    walker = Walker({"vm": [], "app": ["vm"]}, ran.append, external=["vm"])
    walker.start()
    time.sleep(0.1)
    assert ran == []
    walker.complete("vm", ok=True)
    assert walker.wait(5) == {"vm": Outcome.DONE, "app": Outcome.DONE}
    assert ran == ["app"]


def test_a_failed_external_node_skips_what_depends_on_it() -> None:
    walker = Walker({"vm": [], "app": ["vm"], "other": []}, lambda _n: None, external=["vm"])
    walker.start()
    walker.complete("vm", ok=False)
    assert walker.wait(5) == {
        "vm": Outcome.FAILED,
        "app": Outcome.SKIPPED,
        "other": Outcome.DONE,
    }


def test_instant_nodes_in_a_long_chain_finish_without_deadlock() -> None:
    # Work that finishes before its callback is attached runs the callback in the
    # submitting thread; the walker must not hold its lock there.
    chain = {f"n{i}": ([f"n{i - 1}"] if i else []) for i in range(300)}
    fan = {f"f{i}": ["n0"] for i in range(300)}
    walker = Walker({**chain, **fan}, lambda _n: None, workers=4)
    walker.start()
    outcomes = walker.wait(30)
    assert set(outcomes.values()) == {Outcome.DONE}
    assert len(outcomes) == 600


def test_wait_names_the_pending_nodes_when_time_runs_out() -> None:
    walker = Walker({"vm": [], "app": ["vm"]}, lambda _n: None, external=["vm"])
    walker.start()
    with pytest.raises(WalkTimeoutError, match="app, vm"):
        walker.wait(0.2)


class BatchRecorder:
    """Records each batch it runs; nodes in `fail` fail."""

    def __init__(self, fail: tuple[str, ...] = ()) -> None:
        self.fail = fail
        self.batches: list[list[str]] = []
        self.lock = threading.Lock()

    def run(self, nodes: Sequence[str]) -> dict[str, BaseException]:
        with self.lock:
            self.batches.append(sorted(nodes))
        return {node: RuntimeError(f"{node} broke") for node in nodes if node in self.fail}

    def sets(self) -> list[list[str]]:
        with self.lock:
            return sorted(self.batches)


def by_letter(node: str) -> str:
    return node.rstrip("0123456789")


FAN = {
    "vm1": [],
    "vm2": [],
    "vm3": [],
    "app1": ["vm1"],
    "app2": ["vm2"],
    "app3": ["vm3"],
    "web1": ["app1"],
    "web2": ["app2"],
    "web3": ["app3"],
}
VMS = ["vm1", "vm2", "vm3"]


def batching(recorder: BatchRecorder, *, settle: float = 0.3, size: int | None = None) -> Any:
    return Batching(key=by_letter, run=recorder.run, settle=settle, cap=1.0, size=size)


@pytest.mark.parametrize(
    ("fail", "outcomes", "batches"),
    [
        (
            (),
            {**dict.fromkeys(FAN, Outcome.DONE)},
            [["app1", "app2", "app3"], ["web1", "web2", "web3"]],
        ),
        (
            ("app2",),
            {**dict.fromkeys(FAN, Outcome.DONE), "app2": Outcome.FAILED, "web2": Outcome.SKIPPED},
            [["app1", "app2", "app3"], ["web1", "web3"]],
        ),
    ],
    ids=["all-succeed", "one-member-fails"],
)
def test_nodes_ready_together_run_as_one_batch_and_a_failed_member_skips_only_its_dependents(
    fail: tuple[str, ...], outcomes: dict[str, Outcome], batches: list[list[str]]
) -> None:
    recorder = BatchRecorder(fail)
    skipped: list[str] = []
    walker = Walker(FAN, external=VMS, batching=batching(recorder), on_skip=skipped.append)
    walker.start()
    for vm in VMS:
        walker.complete(vm, ok=True)
    assert walker.wait(10) == outcomes
    assert recorder.sets() == batches
    assert skipped == [n for n, o in outcomes.items() if o is Outcome.SKIPPED]
    assert {n: str(e) for n, e in walker.errors.items()} == {n: f"{n} broke" for n in fail}


def test_nodes_ready_within_the_settle_window_join_the_batch_and_later_ones_run_apart() -> None:
    recorder = BatchRecorder()
    walker = Walker(FAN, external=VMS, batching=batching(recorder, settle=0.4))
    walker.start()
    walker.complete("vm1", ok=True)
    time.sleep(0.1)
    walker.complete("vm2", ok=True)  # within the window: same batch
    time.sleep(1.2)  # the window closed: app1 and app2 ran
    walker.complete("vm3", ok=True)  # the last app node: runs at once, alone
    assert set(walker.wait(10).values()) == {Outcome.DONE}
    apps = [batch for batch in recorder.sets() if batch[0].startswith("app")]
    assert apps == [["app1", "app2"], ["app3"]]


def test_a_group_runs_at_once_when_every_node_of_its_key_is_ready() -> None:
    recorder = BatchRecorder()
    walker = Walker({"a1": [], "a2": []}, batching=batching(recorder, settle=30))
    started = time.monotonic()
    walker.start()
    assert walker.wait(10) == {"a1": Outcome.DONE, "a2": Outcome.DONE}
    assert time.monotonic() - started < 5
    assert recorder.sets() == [["a1", "a2"]]


@pytest.mark.parametrize(
    "graph",
    [
        {"a1": [], "a2": ["a1"]},
        {"a1": [], "b1": ["a1"], "a2": ["b1"]},
    ],
    ids=["directly", "through-another-node"],
)
def test_a_group_runs_at_once_when_the_rest_of_its_key_waits_on_it(
    graph: dict[str, list[str]],
) -> None:
    recorder = BatchRecorder()
    waits = Batching(key=by_letter, run=recorder.run, settle=30, cap=30)
    walker = Walker(graph, batching=waits)
    started = time.monotonic()
    walker.start()
    assert set(walker.wait(20).values()) == {Outcome.DONE}
    assert time.monotonic() - started < 10  # not the 30 s window (twice)
    assert ["a1"] in recorder.sets() and ["a2"] in recorder.sets()


def test_a_group_waits_for_a_node_of_its_key_that_can_become_ready_without_it() -> None:
    recorder = BatchRecorder()
    graph = {"vm1": [], "vm2": [], "app1": ["vm1"], "app2": ["vm2"], "app3": ["app1"]}
    walker = Walker(graph, external=["vm1", "vm2"], batching=batching(recorder, settle=1.0))
    walker.start()
    walker.complete("vm1", ok=True)
    time.sleep(0.1)
    walker.complete("vm2", ok=True)  # app2 could join, so app1 waited for it
    assert set(walker.wait(10).values()) == {Outcome.DONE}
    assert recorder.sets() == [["app1", "app2"], ["app3"]]


@pytest.mark.parametrize(
    ("workers", "size", "largest"),
    [(8, None, 5), (8, 2, 2), (3, None, 3), (1, None, 1)],
    ids=["unbounded", "size-2", "three-workers", "one-worker"],
)
def test_batches_hold_no_more_nodes_than_the_size_and_the_workers_allow(
    workers: int, size: int | None, largest: int
) -> None:
    recorder = BatchRecorder()
    nodes = {f"n{i}": [] for i in range(5)}
    walker = Walker(nodes, workers=workers, batching=batching(recorder, size=size))
    walker.start()
    assert set(walker.wait(10).values()) == {Outcome.DONE}
    assert max(len(batch) for batch in recorder.batches) == largest
    assert sorted(n for batch in recorder.batches for n in batch) == sorted(nodes)


def test_a_batch_that_raises_fails_every_member() -> None:
    def explode(nodes: Sequence[str]) -> dict[str, BaseException]:
        raise RuntimeError("no runner")

    walker = Walker(
        {"a1": [], "a2": [], "b1": ["a1"]},
        batching=Batching(key=by_letter, run=explode),
    )
    walker.start()
    assert walker.wait(10) == {"a1": Outcome.FAILED, "a2": Outcome.FAILED, "b1": Outcome.SKIPPED}
    assert str(walker.errors["a2"]) == "no runner"
