"""PF1 to PF7, and PF10: each benchmark, as paired runs that yield one ratio each."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench import specs
from bench.harness import BenchError, BenchProject, Figure, Run, event_times
from bench.web_view import pf10_web
from provisioner.cli.wiring import LOCAL_ENDPOINT_ENV
from provisioner.graph import compile_source
from provisioner.local.control import LocalCloud
from provisioner.local.faultproxy import FaultProxy, Faults
from provisioner.spec import resolve_environment
from provisioner.spec.kinds.software import SOFTWARE

# PF2 and PF6 compare two runs of a few seconds each, where one slow moment moves a
# ratio by 20 %; they are cheap, so they take twice the paired runs of the others.
CHEAP_FIGURE_RUNS = 2

# The EC2 calls that create something: PF1 holds each of them back by the same latency.
CREATE_CALLS = frozenset(
    {
        "CreateVpc",
        "CreateInternetGateway",
        "CreateRouteTable",
        "CreateSubnet",
        "CreateSecurityGroup",
        "CreateKeyPair",
        "RunInstances",
    }
)
PF1_LATENCY = 2.0  # seconds added to every create call
PF3_STAGGER = 5.0  # seconds between one VM's readiness and the next
PF3_VMS = 4
PF4_HOSTS = 20


@contextmanager
def proxied(project: BenchProject, faults: Faults) -> Iterator[FaultProxy]:
    """Route the project's cloud calls through a fault-injecting proxy while inside."""
    endpoint = LocalCloud(project.state / "local").start().endpoint
    assert endpoint is not None
    with FaultProxy(endpoint, faults) as proxy:
        project.extra_env[LOCAL_ENDPOINT_ENV] = proxy.endpoint
        try:
            yield proxy
        finally:
            project.extra_env.pop(LOCAL_ENDPOINT_ENV, None)


def cloud_nodes(project: BenchProject, environment: str) -> tuple[int, int]:
    """ENV's cloud node count, and how many of them its longest dependency chain holds."""
    path = project.root / "environments" / f"{environment}.yaml"
    graph = compile_source(resolve_environment(str(path), path.parent)).graph
    cloud = [a for a in graph.addresses() if a.kind is not SOFTWARE]
    chain = sum(1 for wave in graph.waves() if any(a.kind is not SOFTWARE for a in wave))
    return len(cloud), chain


def pf1_scheduling(project: BenchProject, runs: int) -> list[Figure]:
    """40 VMs with a fixed latency on every create call: wall time ÷ the critical-path bound."""
    env = "pf1"
    project.write_spec(env, specs.scheduling(env))
    nodes, chain = cloud_nodes(project, env)
    figure = Figure(
        "PF1",
        "scheduling: 40 VMs, latency on each create call",
        "up wall ÷ (fixed cost + latency x longest chain)",
        "≤ 1.15",
        lambda value: value <= 1.15,
        extra={"latency_s": PF1_LATENCY, "longest_chain": chain, "cloud_nodes": nodes},
    )
    serial = Figure(
        "PF1s",
        "scheduling: same, ratio to parallelism 1",
        "up wall ÷ up wall with --parallelism 1",
        "(shown)",
        lambda value: True,
    )
    for index in range(runs):
        order = ["parallel", "serial"] if index % 2 == 0 else ["serial", "parallel"]
        walls: dict[str, float] = {}
        for mode in order:
            args = ("up", env, "--yes") + (("--parallelism", "1") if mode == "serial" else ())
            with proxied(project, Faults(latency=PF1_LATENCY, latency_actions=CREATE_CALLS)) as p:
                run = project.provision(*args)
                delayed = list(p.counts.delayed)
            project.provision("down", env, "--yes")
            if len(delayed) != nodes:
                held = len(delayed)
                raise BenchError(f"PF1 expected {nodes} create calls; the proxy held {held}")
            walls[mode] = run.wall
            if mode == "parallel":
                start_up = min(d.arrived for d in delayed) - run.started
                wind_down = run.ended - max(d.answered for d in delayed)
                bound = start_up + wind_down + PF1_LATENCY * chain
                figure.add(
                    run.wall / bound,
                    wall_s=run.wall,
                    bound_s=bound,
                    start_up_s=start_up,
                    wind_down_s=wind_down,
                    critical_path_latency_s=PF1_LATENCY * chain,
                    cloud_phase_s=run.phase("cloud"),
                    **_step_times(run),
                )
        serial.add(
            walls["parallel"] / walls["serial"],
            parallel_wall_s=walls["parallel"],
            serial_wall_s=walls["serial"],
        )
    return [figure, serial]


def _step_times(run: Run) -> dict[str, float]:
    """How long each kind of step on the chain took (each holds one 2 s create call)."""
    finished = run.of_type("ResourceFinished")

    def elapsed(prefix: str) -> list[float]:
        return [float(e["elapsed"]) for e in finished if e["address"].startswith(prefix)]

    vms = elapsed("vm.")
    return {
        "network_step_s": max(elapsed("network.")),
        "subnet_step_max_s": max(elapsed("subnet.")),
        "vm_step_median_s": statistics.median(vms),
        "vm_step_max_s": max(vms),
    }


def pf2_overhead(project: BenchProject, runs: int) -> list[Figure]:
    """The cloud phase of `provision up` ÷ a bare Automation API `up` of the same program."""
    env = "pf2"
    project.write_spec(env, specs.overhead(env))
    figure = Figure(
        "PF2",
        f"overhead: cloud part of up, {cloud_nodes(project, env)[0]} nodes",
        "cloud phase of up ÷ bare Automation API up",
        "≤ 1.10",
        lambda value: value <= 1.10,
    )
    # One unmeasured pair first: the first calls after the local cloud starts are slow.
    project.provision("up", env, "--yes")
    project.provision("down", env, "--yes")
    project.bare("up", env)
    project.bare("destroy", env)
    for index in range(runs * CHEAP_FIGURE_RUNS):
        times: dict[str, float] = {}
        ours_wall = 0.0
        for who in ["ours", "bare"] if index % 2 == 0 else ["bare", "ours"]:
            if who == "ours":
                run = project.provision("up", env, "--yes")
                times[who], ours_wall = run.phase("cloud"), run.wall
                project.provision("down", env, "--yes")
            else:
                times[who] = float(project.bare("up", env).result["seconds"])
                project.bare("destroy", env)
        figure.add(
            times["ours"] / times["bare"],
            cloud_phase_s=times["ours"],
            bare_up_s=times["bare"],
            up_command_wall_s=ours_wall,
        )
    return [figure]


def pf3_pipelining(project: BenchProject, runs: int) -> list[Figure]:
    """VMs ready one after another: configured ÷ (last VM ready + one host's configuration)."""
    env = "pf3"
    project.write_spec(env, specs.hosts(env, count=PF3_VMS, cidr_octet=43))
    figure = Figure(
        "PF3",
        f"pipelining: {PF3_VMS} VMs ready {PF3_STAGGER:.0f} s apart",
        "configured ÷ (last VM ready + one host's configuration)",
        "≤ 1.20",
        lambda value: value <= 1.20,
        extra={"stagger_s": PF3_STAGGER},
    )
    for _ in range(runs):
        stagger = Faults(latency_step=PF3_STAGGER, latency_actions=frozenset({"RunInstances"}))
        with proxied(project, stagger):
            run = project.provision("up", env, "--yes")
        project.provision("down", env, "--yes")
        ready = [t - run.started for t in event_times(run, "ResourceFinished", "vm.")]
        configured = [t - run.started for t in event_times(run, "ConfigureFinished")]
        one_host = statistics.median(float(e["elapsed"]) for e in run.of_type("ConfigureFinished"))
        if len(ready) != PF3_VMS or len(configured) != PF3_VMS:
            raise BenchError(f"PF3 saw {len(ready)} VMs and {len(configured)} configured hosts")
        figure.add(
            max(configured) / (max(ready) + one_host),
            configured_s=max(configured),
            last_vm_ready_s=max(ready),
            first_vm_ready_s=min(ready),
            one_host_s=one_host,
        )
    return [figure]


def pf4_fan_out(project: BenchProject, runs: int) -> list[Figure]:
    """The same playbook on 20 hosts ÷ on 1 host (first configuration of fresh VMs)."""
    one, many = "pf4-one", "pf4-many"
    project.write_spec(one, specs.hosts(one, count=1, cidr_octet=44))
    project.write_spec(many, specs.hosts(many, count=PF4_HOSTS, cidr_octet=45))
    figure = Figure(
        "PF4",
        f"host fan-out: {PF4_HOSTS} hosts vs 1",
        f"configure {PF4_HOSTS} hosts ÷ configure 1 host",
        "≤ 2.0",
        lambda value: value <= 2.0,
    )
    for index in range(runs):
        spans: dict[str, float] = {}
        busy: dict[str, float] = {}
        for env in [one, many] if index % 2 == 0 else [many, one]:
            run = project.provision("up", env, "--yes")
            project.provision("down", env, "--yes")
            spans[env] = _configuration_span(run)
            first = min(event_times(run, "ConfigureStarted"))
            assert run.cpu is not None
            busy[env] = run.cpu.busy(first, first + spans[env])
        figure.add(
            spans[many] / spans[one],
            hosts_20_s=spans[many],
            host_1_s=spans[one],
            cpu_busy_20=busy[many],
            cpu_busy_1=busy[one],
        )
    return [figure]


def _configuration_span(run: Run) -> float:
    """From the first role's start to the last role's end."""
    started = event_times(run, "ConfigureStarted")
    finished = event_times(run, "ConfigureFinished")
    if not started or len(finished) != len(started):
        raise BenchError(f"{' '.join(run.args)} configured {len(finished)} of {len(started)}")
    return max(finished) - min(started)


def pf5_drift(project: BenchProject, runs: int) -> list[Figure]:
    """`provision drift` on 500 cloud resources ÷ `pulumi refresh --preview-only`."""
    env = "pf5"
    project.write_spec(env, specs.many_resources(env))
    nodes = cloud_nodes(project, env)[0]
    created = project.provision("up", env, "--yes")
    figure = Figure(
        "PF5",
        f"drift: {nodes} cloud resources",
        "drift --no-hosts ÷ bare refresh --preview-only",
        "≤ 0.10",
        lambda value: value <= 0.10,
        extra={"resources": nodes, "up_wall_s": created.wall},
    )
    try:
        for index in range(runs):
            times: dict[str, float] = {}
            for who in ["ours", "bare"] if index % 2 == 0 else ["bare", "ours"]:
                if who == "ours":
                    times[who] = project.provision("drift", env, "--no-hosts").wall
                else:
                    times[who] = project.bare("refresh-preview", env).wall
            figure.add(
                times["ours"] / times["bare"], drift_s=times["ours"], refresh_s=times["bare"]
            )
    finally:
        project.provision("down", env, "--yes")
    return [figure]


def pf6_plan(project: BenchProject, runs: int) -> list[Figure]:
    """A no-change `provision plan --no-hosts` ÷ a bare preview of the same stack."""
    env = "pf6"
    project.write_spec(env, specs.overhead(env).replace("10.41.", "10.46."))
    project.provision("up", env, "--yes")
    figure = Figure(
        "PF6",
        "no-change plan, 24 resources",
        "plan --no-hosts ÷ bare preview --refresh (both commands, end to end)",
        "≤ 1.10",
        lambda value: value <= 1.10,
    )
    try:
        for index in range(runs * CHEAP_FIGURE_RUNS):
            times: dict[str, float] = {}
            for who in ["ours", "bare", "plain"] if index % 2 == 0 else ["plain", "bare", "ours"]:
                if who == "ours":
                    run = project.provision("plan", env, "--no-hosts")
                    if run.result.get("has_changes"):
                        raise BenchError("PF6's plan found changes on an unchanged environment")
                    times[who] = run.wall
                elif who == "bare":
                    times[who] = project.bare("preview-refresh", env).wall
                else:
                    times[who] = project.bare("preview", env).wall
            figure.add(
                times["ours"] / times["bare"],
                plan_s=times["ours"],
                bare_preview_refresh_s=times["bare"],
                bare_preview_no_refresh_s=times["plain"],
            )
    finally:
        project.provision("down", env, "--yes")
    return [figure]


def pf7_compile(_project: BenchProject, runs: int) -> list[Figure]:
    """Load, validate and compile a generated 10,000-resource spec in a fresh process."""
    script = Path(__file__).with_name("compile_spec.py")
    done = subprocess.run(
        [sys.executable, str(script), "--json", "--runs", str(max(3, runs))],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    figure = Figure(
        "PF7",
        f"compile: {result['nodes']} resources, {result['edges']} edges",
        "seconds to load + validate + compile (peak RSS beside)",
        "< 1 s, < 300 MB",
        lambda value: value < 1.0 and result["peak_rss_mb_median"] < 300,
        extra={"peak_rss_mb": result["peak_rss_mb_median"], "unit": "s"},
    )
    for sample in result["runs"]:
        figure.add(sample["compile_seconds"], peak_rss_mb=sample["peak_rss_mb"])
    return [figure]


ALL = {
    "PF1": pf1_scheduling,
    "PF2": pf2_overhead,
    "PF3": pf3_pipelining,
    "PF4": pf4_fan_out,
    "PF5": pf5_drift,
    "PF6": pf6_plan,
    "PF7": pf7_compile,
    "PF10": pf10_web,
}
