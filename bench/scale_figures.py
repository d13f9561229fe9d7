"""PF5 and PF8: drift and `up` as environments grow to thousands of cloud resources."""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterator
from contextlib import contextmanager

from bench import specs
from bench.harness import BenchProject, Figure, Run
from bench.proxy import cloud_nodes

PF5_SIZES = {"PF5a": (500, 50, 0.25), "PF5b": (5_000, 51, 0.10)}  # resources, octet, goal
PF8_SIZES = (100, 1_000)
# PF5b and PF8 take minutes a run (a refresh of 5,000 resources, an `up` of 1,000 on each
# side): they take 2 paired runs fewer than the others, at least 1. `--runs 5` gives them 3.
HEAVY_FIGURE_FEWER_RUNS = 2


def heavy_runs(runs: int) -> int:
    return max(1, runs - HEAVY_FIGURE_FEWER_RUNS)


# Building PF5's stacks, and tearing down what PF8 measured, is set-up, not a measurement:
# Pulumi then writes its checkpoint once at the end instead of after every step (PF8
# measures what every step costs).
SETUP_ENV = {"PULUMI_SKIP_CHECKPOINTS": "true"}


@contextmanager
def unmeasured(project: BenchProject) -> Iterator[None]:
    """Inside, the project's commands skip Pulumi's checkpoint after each step."""
    project.extra_env.update(SETUP_ENV)
    try:
        yield
    finally:
        for name in SETUP_ENV:
            project.extra_env.pop(name, None)


def pf5_drift(project: BenchProject, runs: int) -> list[Figure]:
    """`provision drift --no-hosts` ÷ `pulumi refresh --preview-only`, at 500 resources."""
    return [_drift_figure(project, "PF5a", runs)]


def pf5_drift_large(project: BenchProject, runs: int) -> list[Figure]:
    """The same at 5,000 resources (about 11 minutes: building the stack takes 5 or 6)."""
    return [_drift_figure(project, "PF5b", heavy_runs(runs))]


def _drift_figure(project: BenchProject, key: str, runs: int) -> Figure:
    size, octet, goal = PF5_SIZES[key]
    env = f"pf5-{size}"
    project.write_spec(env, specs.many_resources(env, total=size, octet=octet))
    nodes = cloud_nodes(project, env)[0]
    with unmeasured(project):
        created = project.provision("up", env, "--yes")
    figure = Figure(
        key,
        f"drift: {nodes} cloud resources",
        "drift --no-hosts ÷ bare refresh --preview-only",
        f"≤ {goal:.2f}",
        functools.partial(operator.ge, goal),  # value <= goal
        extra={"resources": nodes, "build_up_wall_s": created.wall},
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
        with unmeasured(project):
            project.provision("down", env, "--yes")
    return figure


def pf8_apply_scale(project: BenchProject, runs: int) -> list[Figure]:
    """`up` from empty, cloud only: time per resource at 1,000 ÷ at 100; bare Pulumi's beside."""
    small, large = PF8_SIZES
    envs = {size: f"pf8-{size}" for size in PF8_SIZES}
    for size, env in envs.items():
        project.write_spec(env, specs.many_resources(env, total=size, octet=52, vms=0))
    counts = {size: cloud_nodes(project, env)[0] for size, env in envs.items()}
    figure = Figure(
        "PF8",
        f"up at scale: {counts[large]} vs {counts[small]} cloud resources",
        f"up wall per resource at {counts[large]} ÷ at {counts[small]} (bare Pulumi's beside)",
        "≤ 1.3",
        lambda value: value <= 1.3,
    )
    for index in range(heavy_runs(runs)):
        per_resource: dict[tuple[str, int], float] = {}
        walls: dict[tuple[str, int], float] = {}
        order = [(who, size) for who in ("ours", "bare") for size in PF8_SIZES]
        for who, size in order if index % 2 == 0 else order[::-1]:
            env = envs[size]
            run: Run
            if who == "ours":
                run = project.provision("up", env, "--yes")
                with unmeasured(project):
                    project.provision("down", env, "--yes")
            else:
                run = project.bare("up", env)
                with unmeasured(project):
                    project.bare("destroy", env)
            walls[who, size] = run.wall
            per_resource[who, size] = run.wall / counts[size]
        ours = per_resource["ours", large] / per_resource["ours", small]
        bare = per_resource["bare", large] / per_resource["bare", small]
        figure.add(
            ours,
            bare_pulumi_ratio=bare,
            ours_small_s=walls["ours", small],
            ours_large_s=walls["ours", large],
            bare_small_s=walls["bare", small],
            bare_large_s=walls["bare", large],
        )
    return [figure]
