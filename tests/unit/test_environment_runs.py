"""Runs over several environments: the order of `uses`, independent ones at once, what a
failure skips, and the plans each plan is given (in-process; each environment's run is a
callback here)."""

from __future__ import annotations

import threading
import time

from provisioner.dag.walk import Outcome
from provisioner.engine.environment_runs import plan_environments, run_environments
from provisioner.engine.ports import UpstreamPlan, UpstreamPlans
from provisioner.plan import Action, Plan, ResourceChange
from provisioner.spec.addresses import Address, ResourceAddress
from provisioner.spec.kinds.subnet import SUBNET
from provisioner.spec.references import parse_environment_reference

USES = {"network": [], "dns": ["network"], "dev": ["network", "dns"], "staging": ["network"]}


def test_what_is_used_runs_first_and_independent_environments_at_once() -> None:
    ran: list[str] = []
    together = threading.Barrier(2, timeout=5)

    def run(name: str) -> None:
        if name in ("dns", "staging"):
            together.wait()  # both run at the same time, or this times out
        ran.append(name)

    results = run_environments(USES, run)
    # dns and staging met at the barrier; dev may end before staging does.
    assert ran[0] == "network" and sorted(ran) == sorted(USES)
    assert ran.index("dns") < ran.index("dev")
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


def test_each_plan_is_given_the_plans_of_what_it_uses() -> None:
    """network's plan replaces its subnet: dev reads it as known after network's apply."""
    subnet = Address(SUBNET, "public-a")
    replaced = ResourceChange(ResourceAddress(subnet), Action.REPLACE)
    seen: dict[str, dict[str, UpstreamPlan]] = {}

    def plan_one(name: str, upstreams: UpstreamPlans) -> Plan:
        seen[name] = dict(upstreams)
        return Plan(name, (replaced,) if name == "network" else ())

    plans, results = plan_environments({"network": [], "dev": ["network"]}, plan_one)
    assert [r.environment for r in results] == ["network", "dev"]
    assert set(plans) == {"network", "dev"}
    assert seen == {
        "network": {},
        "dev": {"network": UpstreamPlan("network", renewed=frozenset({subnet}))},
    }
    later = seen["dev"]["network"]
    assert later.unknown(parse_environment_reference("env.network.subnet.public-a.id"))
    assert not later.unknown(parse_environment_reference("env.network.subnet.public-b.id"))
    assert later.unknown(parse_environment_reference("env.network.outputs.vpc_id"))
    never = UpstreamPlan("network", applied=False)
    assert never.unknown(parse_environment_reference("env.network.subnet.public-b.id"))
    assert not UpstreamPlan("network").unknown(
        parse_environment_reference("env.network.outputs.vpc_id")
    )
