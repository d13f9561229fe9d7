"""PF3 and PF4: configuring hosts, pipelined behind their VMs and fanned out over 20 of them."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

from bench import specs
from bench.harness import BenchError, BenchProject, CpuSamples, Figure, Run, event_times
from bench.proxy import proxied
from provisioner.local.faultproxy import Faults

PF3_STAGGER = 5.0  # seconds between one VM's readiness and the next
PF3_VMS = 4
PF4_HOSTS = 20
BARE_ANSIBLE = str(Path(__file__).with_name("bare_ansible.py"))


def pf3_pipelining(project: BenchProject, runs: int) -> list[Figure]:
    """VMs ready one after another: configured ÷ (last VM ready + one host's configuration)."""
    env = "pf3"
    project.write_spec(env, specs.hosts(env, count=PF3_VMS, cidr_octet=43))
    figure = Figure(
        "PF3",
        f"pipelining: {PF3_VMS} VMs ready {PF3_STAGGER:.0f} s apart",
        "configured ÷ (last VM ready + one host's configuration)",
        "≤ 1.10",
        lambda value: value <= 1.10,
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
    """The bench playbook on 20 fresh hosts: ÷ on 1 host, ÷ a bare ansible-playbook, CPU per task.

    Each paired run brings up three environments: 1 host and 20 hosts that
    `provision up` configures, and 20 hosts without roles that a bare
    `ansible-playbook` (bench/bare_ansible.py) then configures.
    """
    one, many, bare = "pf4-one", "pf4-many", "pf4-bare"
    project.write_spec(one, specs.hosts(one, count=1, cidr_octet=44))
    project.write_spec(many, specs.hosts(many, count=PF4_HOSTS, cidr_octet=45))
    project.write_spec(bare, specs.hosts(bare, count=PF4_HOSTS, cidr_octet=47, roles=False))
    fan_out = Figure(
        "PF4",
        f"host fan-out: {PF4_HOSTS} hosts vs 1",
        f"configure {PF4_HOSTS} hosts ÷ configure 1 host",
        "≤ 2.0",
        lambda value: value <= 2.0,
    )
    against_ansible = Figure(
        "PF4a",
        f"host configuration vs bare Ansible, {PF4_HOSTS} hosts",
        "our configuration span ÷ bare ansible-playbook (forks 20, pipelining, same SSH)",
        "≤ 1.00",
        lambda value: value <= 1.00,
    )
    per_task = Figure(
        "PF4b",
        f"CPU per task, {PF4_HOSTS} hosts x 5 tasks",
        "busy CPU-s of the whole machine over the configuration span ÷ tasks run",
        "≤ 0.12",
        lambda value: value <= 0.12,
        extra={"unit": "CPU-s"},
    )
    for index in range(runs):
        spans: dict[str, float] = {}
        cpu_seconds: dict[str, float] = {}
        tasks: dict[str, int] = {}
        samples: dict[str, list[list[float]]] = {}
        for env in [one, many, bare] if index % 2 == 0 else [bare, many, one]:
            if env == bare:
                spans[env], cpu_seconds[env], tasks[env], samples[env] = _bare_ansible(project, env)
                continue
            run = project.provision("up", env, "--yes")
            project.provision("down", env, "--yes")
            spans[env] = _configuration_span(run)
            first = min(event_times(run, "ConfigureStarted"))
            cpu_seconds[env] = _cpu_seconds(run.cpu, first, first + spans[env])
            tasks[env] = len(run.of_type("HostTaskFinished"))
            assert run.cpu is not None
            samples[env] = run.cpu.raw(first, first + spans[env])
        fan_out.add(spans[many] / spans[one], hosts_20_s=spans[many], host_1_s=spans[one])
        against_ansible.add(
            spans[many] / spans[bare],
            ours_s=spans[many],
            bare_ansible_s=spans[bare],
            ours_cpu_s=cpu_seconds[many],
            bare_cpu_s=cpu_seconds[bare],
        )
        per_task.add(
            cpu_seconds[many] / tasks[many],
            cpu_s=cpu_seconds[many],
            tasks=tasks[many],
            bare_ansible_cpu_s_per_task=cpu_seconds[bare] / tasks[bare],
            one_host_cpu_s_per_task=cpu_seconds[one] / tasks[one],
            # /proc/stat over each span, every 0.1 s: [s from the span's start, busy, total]
            cpu_samples_20_hosts=samples[many],
            cpu_samples_bare_ansible=samples[bare],
            cpu_samples_1_host=samples[one],
        )
    return [fan_out, against_ansible, per_task]


def _bare_ansible(project: BenchProject, env: str) -> tuple[float, float, int, list[list[float]]]:
    """Up ENV (no roles), time a bare ansible-playbook on its hosts, down: span, CPU-s, tasks,
    and the CPU samples over the span."""
    project.provision("up", env, "--yes")
    try:
        with CpuSamples.during() as cpu:
            done = subprocess.run(
                [sys.executable, BARE_ANSIBLE, env, str(project.root / "playbooks" / "bench.yml")],
                cwd=project.root,
                env=project.env(),
                capture_output=True,
                text=True,
                check=False,
            )
    finally:
        project.provision("down", env, "--yes")
    if done.returncode != 0:
        raise BenchError(f"bare ansible-playbook failed: {done.stderr.strip()[-2000:]}")
    result = json.loads(done.stdout)
    started, ended = float(result["started"]), float(result["ended"])
    samples = cpu.raw(started, ended)
    return ended - started, _cpu_seconds(cpu, started, ended), int(result["tasks"]), samples


def _cpu_seconds(cpu: CpuSamples | None, start: float, end: float) -> float:
    """Busy CPU-seconds of the whole machine (every process) between two wall-clock times."""
    if cpu is None:
        raise BenchError("no CPU samples were taken")
    return cpu.busy(start, end) * cpu.cpus * (end - start)


def _configuration_span(run: Run) -> float:
    """From the first role's start to the last role's end."""
    started = event_times(run, "ConfigureStarted")
    finished = event_times(run, "ConfigureFinished")
    if not started or len(finished) != len(started):
        raise BenchError(f"{' '.join(run.args)} configured {len(finished)} of {len(started)}")
    return max(finished) - min(started)
