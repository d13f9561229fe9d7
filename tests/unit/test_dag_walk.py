"""The generic parallel walker: order, parallelism, external nodes, skip on failure."""

from __future__ import annotations

import threading
import time

import pytest

from provisioner.dag.walk import Outcome, Walker, WalkTimeoutError

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
