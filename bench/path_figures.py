"""PF9 and PF11: the paths users take, the three-tier `dev` to its first answer, and an `up`
over environments that use each other."""

from __future__ import annotations

import shutil
import statistics
import threading
import time
from collections import defaultdict

from bench.harness import ROOT, BenchError, BenchProject, Figure, Run
from provisioner.graph import compile_source
from provisioner.spec import resolve_environment
from provisioner.spec.kinds.software import SOFTWARE

APP = "http://app.dev.internal/"
# Runs on web-0 once it can be reached: asks for the app's page through the load
# balancer's name until the page (served by app, read from PostgreSQL) comes back.
FIRST_ANSWER = f"until curl -sf -m 1 {APP} | grep -q PostgreSQL; do sleep 0.1; done; date +%s.%N"
FIRST_ANSWER_TIMEOUT = 600.0
# `dev` and the files it builds on (the repository's other environments are not needed).
THREE_TIER = ("base", "on-network", "network", "dev")


def pf9_three_tier(project: BenchProject, runs: int) -> list[Figure]:
    """The repository's three-tier `dev`: `up` start to the first answer through the LB's name.

    `network` (the VPC dev uses) is brought up once; each run brings `dev` up from
    empty and down again. The bound is the heaviest chain of cloud resources (each
    weighed by its own create time in that run) plus the median time of one host's
    roles.
    """
    for name in THREE_TIER:
        shutil.copy(ROOT / "environments" / f"{name}.yaml", project.root / "environments")
    project.provision("up", "network", "--yes")
    figure = Figure(
        "PF9",
        "three-tier dev: up to first answer through the load balancer's name",
        "up start → first answer ÷ (cloud critical path + one host's roles)",
        "≤ 1.20",
        lambda value: value <= 1.20,
    )
    try:
        for _ in range(runs):
            answered: list[float] = []
            prober = threading.Thread(target=_first_answer, args=(project, answered), daemon=True)
            prober.start()
            run = project.provision("up", "dev", "--yes")
            prober.join(FIRST_ANSWER_TIMEOUT)
            project.provision("down", "dev", "--yes")
            if not answered:
                raise BenchError("PF9: the app never answered through app.dev.internal")
            critical, roles = _bound(project, run)
            first_answer = answered[0] - run.started
            figure.add(
                first_answer / (critical + roles),
                first_answer_s=first_answer,
                up_wall_s=run.wall,
                cloud_critical_path_s=critical,
                one_host_roles_s=roles,
            )
    finally:
        project.provision("down", "network", "--yes", check=False)
    return [figure]


def _first_answer(project: BenchProject, answered: list[float]) -> None:
    """Wait on web-0 for the app's first page; record when (the hosts share this clock)."""
    deadline = time.monotonic() + FIRST_ANSWER_TIMEOUT
    while time.monotonic() < deadline:
        probe = project.ssh("dev", "web-0", "sh", "-c", FIRST_ANSWER, timeout=FIRST_ANSWER_TIMEOUT)
        if probe.returncode == 0 and probe.stdout.strip():
            answered.append(float(probe.stdout.split()[-1]))
            return
        time.sleep(1.0)  # web-0 does not exist yet, or does not take logins yet


def _bound(project: BenchProject, run: Run) -> tuple[float, float]:
    """The run's cloud critical path (own create times) and the median host's roles time."""
    path = project.root / "environments" / "dev.yaml"
    graph = compile_source(resolve_environment(str(path), path.parent)).graph
    took = {e["address"]: float(e["elapsed"]) for e in run.of_type("ResourceFinished")}
    _chain, critical = graph.critical_path(
        lambda node: 0.0 if node.address.kind is SOFTWARE else took.get(str(node.address), 0.0)
    )
    per_host: dict[str, float] = defaultdict(float)
    for event in run.of_type("ConfigureFinished"):
        per_host[event["host"]] += float(event["elapsed"])
    if not per_host:
        raise BenchError("PF9's up configured no host")
    return critical, statistics.median(per_host.values())


# PF11: two cloud-only environments, the second placing its resources in the first's VPC.
PF11_BASE = """\
name: pf11-net
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.53.0.0/16}
subnets:
"""
PF11_USER = """\
name: pf11-app
cloud: local
region: us-east-1
uses: [pf11-net]
key_pairs:
  deploy: {type: ed25519}
security_groups:
"""


def pf11_environments(project: BenchProject, runs: int) -> list[Figure]:
    """`up --with-deps` over an environment and the one it uses ÷ `up` of each in turn."""
    base = PF11_BASE + "".join(
        f"  s{i}: {{network: main, cidr: 10.53.{i}.0/24}}\n" for i in range(10)
    )
    user = PF11_USER + "".join(
        f"  g{i}: {{network: '${{env.pf11-net.network.main.id}}', "
        f"ingress: [{{protocol: tcp, ports: {2000 + i}, cidr: 10.53.0.0/16}}]}}\n"
        for i in range(20)
    )
    project.write_spec("pf11-net", base)
    project.write_spec("pf11-app", user)
    figure = Figure(
        "PF11",
        "environments that use each other: 11 + 21 cloud resources",
        "up pf11-app --with-deps ÷ (up pf11-net, then up pf11-app)",
        "≤ 1.05",
        lambda value: value <= 1.05,
    )
    # One unmeasured pass first: the first calls after the local cloud starts are slow.
    project.provision("up", "pf11-app", "--with-deps", "--yes")
    project.provision("down", "pf11-app", "--yes")
    project.provision("down", "pf11-net", "--yes")
    for index in range(runs):
        walls: dict[str, float] = {}
        for how in ["together", "apart"] if index % 2 == 0 else ["apart", "together"]:
            if how == "together":
                walls[how] = project.provision("up", "pf11-app", "--with-deps", "--yes").wall
            else:
                walls[how] = sum(
                    project.provision("up", env, "--yes").wall for env in ("pf11-net", "pf11-app")
                )
            project.provision("down", "pf11-app", "--yes")
            project.provision("down", "pf11-net", "--yes")
        figure.add(
            walls["together"] / walls["apart"], together_s=walls["together"], apart_s=walls["apart"]
        )
    return [figure]
