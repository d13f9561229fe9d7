"""The figures of `make bench`, each as paired runs that yield one ratio each: PF1, PF2, PF6
and PF7 here, the others in the modules named in `ALL`."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import specs
from bench.harness import BenchError, BenchProject, Figure, Run
from bench.host_figures import pf3_pipelining, pf4_fan_out
from bench.path_figures import pf9_three_tier, pf11_environments
from bench.proxy import cloud_nodes, proxied
from bench.scale_figures import pf5_drift, pf5_drift_large, pf8_apply_scale
from bench.web_view import pf10_web
from provisioner.local.faultproxy import Faults

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


def pf1_scheduling(project: BenchProject, runs: int) -> list[Figure]:
    """40 VMs with a fixed latency on every create call: wall time ÷ the critical-path bound."""
    env = "pf1"
    project.write_spec(env, specs.scheduling(env))
    nodes, chain = cloud_nodes(project, env)
    figure = Figure(
        "PF1",
        "scheduling: 40 VMs, latency on each create call",
        "up wall ÷ (fixed cost + latency x longest chain)",
        "≤ 1.10",
        lambda value: value <= 1.10,
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
    """Load, validate and compile generated 50,000- and 10,000-resource specs, fresh processes.

    The two sizes alternate, one fresh process each, so each pair is measured side by side.
    """
    large: list[dict[str, Any]] = []
    small: list[dict[str, Any]] = []
    for index in range(max(3, runs)):
        for size in (50_000, 10_000) if index % 2 == 0 else (10_000, 50_000):
            result = _compile(size)
            (large if size == 50_000 else small).append(result)
    peak = statistics.median(run["runs"][0]["peak_rss_mb"] for run in large)
    figure = Figure(
        "PF7",
        f"compile: {large[0]['nodes']} resources, {large[0]['edges']} edges",
        "seconds to load + validate + compile (peak RSS beside)",
        "< 4 s, < 1 GB",
        lambda value: value < 4.0 and peak < 1024,
        extra={"peak_rss_mb": peak, "unit": "s"},
    )
    growth = Figure(
        "PF7g",
        f"compile growth: {large[0]['nodes']} vs {small[0]['nodes']} resources",
        "compile seconds at 50,000 ÷ at 10,000 (alternating fresh processes)",
        "≤ 5.5",
        lambda value: value <= 5.5,
    )
    for at_large, at_small in zip(large, small, strict=True):
        big, little = at_large["runs"][0], at_small["runs"][0]
        figure.add(big["compile_seconds"], peak_rss_mb=big["peak_rss_mb"])
        growth.add(
            big["compile_seconds"] / little["compile_seconds"],
            large_s=big["compile_seconds"],
            small_s=little["compile_seconds"],
            small_peak_rss_mb=little["peak_rss_mb"],
        )
    return [figure, growth]


def _compile(resources: int) -> dict[str, Any]:
    """bench/compile_spec.py's result (one fresh process) for a spec of ~`resources` resources."""
    script = Path(__file__).with_name("compile_spec.py")
    argv = [sys.executable, str(script), "--json", "--resources", str(resources)]
    done = subprocess.run(
        [*argv, "--runs", "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


# The figures that come out of another's runs: `--only PF4a` runs PF4.
MEASURED_WITH = {"PF1s": "PF1", "PF4a": "PF4", "PF4b": "PF4", "PF5a": "PF5", "PF7g": "PF7"}

ALL = {
    "PF1": pf1_scheduling,
    "PF2": pf2_overhead,
    "PF3": pf3_pipelining,
    "PF4": pf4_fan_out,
    "PF5": pf5_drift,
    "PF5b": pf5_drift_large,
    "PF6": pf6_plan,
    "PF7": pf7_compile,
    "PF8": pf8_apply_scale,
    "PF9": pf9_three_tier,
    "PF10": pf10_web,
    "PF11": pf11_environments,
}
