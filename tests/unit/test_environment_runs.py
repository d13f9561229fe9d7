"""Runs over several environments: the order of `uses`, independent ones at once, and
what a failure skips (in-process; each environment's run is a callback here)."""

from __future__ import annotations

import threading
import time

from provisioner.dag.walk import Outcome
from provisioner.engine.environment_runs import run_environments

USES = {"network": [], "dns": ["network"], "dev": ["network", "dns"], "staging": ["network"]}


def test_what_is_used_runs_first_and_independent_environments_at_once() -> None:
    ran: list[str] = []
    together = threading.Barrier(2, timeout=5)

    def run(name: str) -> None:
        if name in ("dns", "staging"):
            together.wait()  # both run at the same time, or this times out
        ran.append(name)

    results = run_environments(USES, run)
    assert ran[0] == "network" and ran[-1] == "dev"
    assert set(ran[1:3]) == {"dns", "staging"}
    assert all(r.outcome is Outcome.DONE for r in results)


def test_a_failed_upstream_skips_and_names_what_uses_it() -> None:
    def run(name: str) -> None:
        if name == "dns":
            raise RuntimeError("dns broke")

    results = {r.environment: r for r in run_environments(USES, run)}
    assert results["dns"].outcome is Outcome.FAILED and results["dns"].detail == "dns broke"
    assert results["dev"].outcome is Outcome.SKIPPED
    assert results["dev"].detail == "skipped: dns, which it uses, did not succeed"
    assert results["staging"].outcome is Outcome.DONE


def test_teardown_runs_users_first_and_stops_below_a_failure() -> None:
    ran: list[str] = []

    def run(name: str) -> None:
        time.sleep(0.01)
        ran.append(name)
        if name == "staging":
            raise RuntimeError("staging refused")

    results = {r.environment: r for r in run_environments(USES, run, reverse=True)}
    assert ran.index("dev") < ran.index("dns")
    assert results["network"].outcome is Outcome.SKIPPED
    assert results["network"].detail == "skipped: staging, which uses it, did not succeed"
