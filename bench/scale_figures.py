"""PF5 and PF8: drift and `up` as environments grow to thousands of cloud resources."""

from __future__ import annotations

import functools
import operator

from bench import specs
from bench.harness import BenchProject, Figure, Run
from bench.proxy import cloud_nodes

PF5_SIZES = {"PF5a": (500, 50, 0.25), "PF5b": (5_000, 51, 0.10)}  # resources, octet, goal
PF8_SIZES = (100, 1_000)
# Building PF5b's 5,000-resource stack is set-up, not a measurement: Pulumi then writes its
# checkpoint once at the end instead of after every step (see PF8 for what every step costs).
BUILD_ENV = {"PULUMI_SKIP_CHECKPOINTS": "true"}


def pf5_drift(project: BenchProject, runs: int) -> list[Figure]:
    """`provision drift --no-hosts` ÷ `pulumi refresh --preview-only`, at 500 and 5,000."""
    figures: list[Figure] = []
    for key, (size, octet, goal) in PF5_SIZES.items():
        env = f"pf5-{size}"
        project.write_spec(env, specs.many_resources(env, total=size, octet=octet))
        nodes = cloud_nodes(project, env)[0]
        project.extra_env.update(BUILD_ENV)
        try:
            created = project.provision("up", env, "--yes")
        finally:
            for name in BUILD_ENV:
                project.extra_env.pop(name, None)
        figure = Figure(
            key,
            f"drift: {nodes} cloud resources",
            "drift --no-hosts ÷ bare refresh --preview-only",
            f"≤ {goal:.2f}",
            functools.partial(operator.ge, goal),  # value <= goal
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
            project.extra_env.update(BUILD_ENV)
            try:
                project.provision("down", env, "--yes")
            finally:
                for name in BUILD_ENV:
                    project.extra_env.pop(name, None)
        figures.append(figure)
    return figures


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
    for index in range(runs):
        per_resource: dict[tuple[str, int], float] = {}
        walls: dict[tuple[str, int], float] = {}
        order = [(who, size) for who in ("ours", "bare") for size in PF8_SIZES]
        for who, size in order if index % 2 == 0 else order[::-1]:
            env = envs[size]
            run: Run
            if who == "ours":
                run = project.provision("up", env, "--yes")
                project.provision("down", env, "--yes")
            else:
                run = project.bare("up", env)
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
