"""What every benchmark shares: a scratch project on the local cloud, timed CLI runs, ratios.

A `BenchProject` is a temporary folder with its own `environments/`,
`playbooks/` and state folder, so a benchmark never touches the repository's
state or another project's local cloud. Commands run through the real
`provision` CLI; their events (with wall-clock times) come from the run
history each run writes.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROVISION = str(BIN / "provision")
BARE_PULUMI = str(Path(__file__).with_name("bare_pulumi.py"))

# A small playbook of the usual kinds of task, for the host benchmarks.
BENCH_PLAYBOOK = """\
- name: bench role
  hosts: all
  gather_facts: false
  become: true
  tasks:
    - name: an application folder
      ansible.builtin.file: {path: /opt/bench, state: directory, mode: "0755"}
    - name: a config file
      ansible.builtin.copy:
        dest: /opt/bench/app.conf
        content: "host={{ inventory_hostname }}\\nrole=bench\\n"
        mode: "0644"
    - name: a rendered line
      ansible.builtin.lineinfile: {path: /opt/bench/app.conf, line: "ready=yes"}
    - name: a command that reports
      ansible.builtin.command: cat /opt/bench/app.conf
      changed_when: false
    - name: a marker
      ansible.builtin.copy: {dest: /opt/bench/done, content: "ok\\n", mode: "0644"}
"""


@dataclass(frozen=True)
class Run:
    """One finished `provision` command: its wall time, JSON result and recorded events."""

    args: tuple[str, ...]
    started: float  # wall clock, seconds
    ended: float
    result: dict[str, Any]
    events: list[dict[str, Any]]
    cpu: CpuSamples | None = None

    @property
    def wall(self) -> float:
        return self.ended - self.started

    def phase(self, name: str) -> float:
        """How long the named phase (cloud, hosts, plan, drift, destroy) took."""
        for event in self.events:
            if event["type"] == "PhaseFinished" and event["phase"] == name:
                return float(event["elapsed"])
        raise BenchError(f"{' '.join(self.args)} recorded no {name} phase")

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == kind]


class BenchError(Exception):
    """A benchmark could not be run (a command failed, or measured something unexpected)."""


@dataclass
class BenchProject:
    """A scratch project with its own state folder and local cloud."""

    root: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    @contextmanager
    def create(cls) -> Iterator[BenchProject]:
        """A fresh project; its environments are deleted and its local cloud stopped at the end."""
        folder = Path(tempfile.mkdtemp(prefix="provision-bench-"))
        (folder / "environments").mkdir()
        shutil.copytree(ROOT / "playbooks", folder / "playbooks")
        (folder / "playbooks" / "bench.yml").write_text(BENCH_PLAYBOOK)
        project = cls(folder)
        try:
            yield project
        finally:
            project.extra_env = {}
            for spec in sorted((folder / "environments").glob("*.yaml")):
                project.provision("down", spec.stem, "--yes", check=False)
            project.provision("local", "stop", json_output=False, check=False)
            shutil.rmtree(folder, ignore_errors=True)

    @property
    def state(self) -> Path:
        return self.root / ".provision"

    def write_spec(self, name: str, text: str) -> None:
        (self.root / "environments" / f"{name}.yaml").write_text(text)

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PROVISION_STATE_DIR": str(self.state), **self.extra_env}
        env["CI"] = "true"  # no prompts, no live progress
        return env

    def provision(self, *args: str, json_output: bool = True, check: bool = True) -> Run:
        """Run `provision ARGS [--json]` in the project and time it from launch to exit."""
        argv = [PROVISION, *args, *(["--json"] if json_output else [])]
        started = time.time()
        with CpuSamples.during() as cpu:
            done = subprocess.run(
                argv, cwd=self.root, env=self.env(), capture_output=True, text=True, check=False
            )
        ended = time.time()
        if check and done.returncode not in (0, 2):  # 2: drift or changes found
            raise BenchError(
                f"`provision {' '.join(args)}` exited {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[-2000:]}"
            )
        result = _json_or_empty(done.stdout) if json_output else {}
        return Run(tuple(args), started, ended, result, self._events(result, args), cpu)

    def ssh(
        self, environment: str, host: str, *command: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run `command` on one of ENV's hosts through `provision ssh` (its VPC's namespace)."""
        return subprocess.run(
            [PROVISION, "ssh", environment, host, "--", *command],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def bare(self, operation: str, environment: str) -> Run:
        """Run one Pulumi operation on ENV's stack straight through the Automation API."""
        argv = [sys.executable, BARE_PULUMI, operation, environment]
        started = time.time()
        done = subprocess.run(
            argv, cwd=self.root, env=self.env(), capture_output=True, text=True, check=False
        )
        ended = time.time()
        if done.returncode != 0:
            raise BenchError(f"bare pulumi {operation} failed: {done.stderr.strip()[-2000:]}")
        return Run(("bare", operation), started, ended, json.loads(done.stdout), [])

    def _events(self, result: dict[str, Any], args: Sequence[str]) -> list[dict[str, Any]]:
        run_id = result.get("run")
        if not run_id or len(args) < 2:
            return []
        path = self.state / "runs" / args[1] / str(run_id) / "events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


SAMPLE_INTERVAL = 0.1  # seconds


@dataclass
class CpuSamples:
    """The machine's CPU counters (/proc/stat), sampled ten times a second while a command runs
    (a window of a few seconds is then measured to within a tenth of a second)."""

    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (time, busy, total)
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)

    @classmethod
    @contextmanager
    def during(cls) -> Iterator[CpuSamples]:
        samples = cls()
        stop = threading.Event()

        def sample() -> None:
            while True:
                samples.samples.append((time.time(), *_cpu_ticks()))
                if stop.wait(SAMPLE_INTERVAL):
                    samples.samples.append((time.time(), *_cpu_ticks()))
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            yield samples
        finally:
            stop.set()
            sampler.join()

    def window(self, start: float, end: float) -> list[tuple[float, int, int]]:
        """The samples from the last one before `start` to the first one after `end`."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        before = [s for s in self.samples if s[0] < start][-1:]
        after = [s for s in self.samples if s[0] > end][:1]
        return before + inside + after

    def raw(self, start: float, end: float) -> list[list[float]]:
        """That window as JSON-ready rows: seconds from `start`, busy and total jiffies."""
        return [[round(t - start, 2), busy, total] for t, busy, total in self.window(start, end)]

    def busy(self, start: float, end: float) -> float:
        """The share of all CPUs that was busy between two wall-clock times (0 to 1)."""
        window = self.window(start, end)
        if len(window) < 2:
            return float("nan")
        busy = window[-1][1] - window[0][1]
        total = window[-1][2] - window[0][2]
        return busy / total if total else float("nan")


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs; idle and iowait are not busy."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _json_or_empty(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass
class Figure:
    """One benchmark's result: the ratio's median over paired runs, the goal, raw timings."""

    key: str
    title: str
    ratio_label: str
    goal: str
    goal_met: Callable[[float], bool]
    ratios: list[float] = field(default_factory=list)
    samples: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    def add(self, ratio: float, **sample: Any) -> None:
        self.ratios.append(ratio)
        self.samples.append({"ratio": round(ratio, 4), **_rounded(sample)})
        print(f"  {self.key} run {len(self.ratios)}: {ratio:.3f}  {_brief(sample)}")
        sys.stdout.flush()

    def to_json(self) -> dict[str, Any]:
        return {
            "figure": self.key,
            "title": self.title,
            "ratio": self.ratio_label,
            "median": round(self.median, 4),
            "goal": self.goal,
            "goal_met": self.goal_met(self.median),
            "runs": self.samples,
            **_rounded(self.extra),
        }


def _rounded(values: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in values.items()}


def _brief(sample: dict[str, Any]) -> str:
    return "  ".join(
        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
        for k, v in sample.items()
        if isinstance(v, int | float)
    )


def event_times(run: Run, kind: str, prefix: str = "") -> list[float]:
    """Wall-clock times of `run`'s events of `kind` whose address starts with `prefix`."""
    events = run.of_type(kind)
    return [float(e["at"]) for e in events if str(e.get("address", "")).startswith(prefix)]
