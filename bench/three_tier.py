"""The three-tier `dev`, measured: `up` wall time, time to the first answer through the
load balancer's name, and requests per second through it with the CPU they cost.

Runs the repository's own environments/ in a scratch project (its own state folder
and local cloud), so it never touches yours. Not a test: it prints figures.

    .venv/bin/python -m bench.three_tier [--seconds 10] [--clients 8] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import shutil
import threading
import time
from pathlib import Path

from bench.harness import ROOT, BenchProject, CpuSamples

APP = "http://app.dev.internal/"

# Runs on web-0: CLIENTS threads ask for the page for SECONDS; prints answers, failures.
LOAD = """
import sys, threading, time, urllib.request
url, seconds, clients = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
counts = {"ok": 0, "failed": 0}
lock = threading.Lock()
end = time.monotonic() + seconds
def work():
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=3) as answer:
                answer.read()
                key = "ok" if answer.status == 200 else "failed"
        except OSError:
            key = "failed"
        with lock:
            counts[key] += 1
threads = [threading.Thread(target=work) for _ in range(clients)]
for thread in threads: thread.start()
for thread in threads: thread.join()
print(counts["ok"], counts["failed"])
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    with BenchProject.create() as project:
        shutil.copytree(ROOT / "environments", project.root / "environments", dirs_exist_ok=True)
        project.provision("local", "start", json_output=False)
        first_answer: list[float] = []
        started = time.time()
        done = threading.Event()
        poller = threading.Thread(target=_first_answer, args=(project, done, first_answer))
        poller.start()
        up = project.provision("up", "dev", "--yes")
        done.set()
        poller.join()
        load = _load(project, args.seconds, args.clients)
        figures = {
            "up_seconds": round(up.wall, 1),
            "first_answer_seconds": round(first_answer[0] - started, 1) if first_answer else None,
            **load,
        }
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def _first_answer(project: BenchProject, done: threading.Event, found: list[float]) -> None:
    """Ask web-0 for the app's page until it answers, and record when (one last try after up)."""
    while True:
        finished = done.is_set()
        probe = project.ssh("dev", "web-0", "curl", "-sf", "-m", "1", APP, timeout=10)
        if probe.returncode == 0 and "PostgreSQL" in probe.stdout:
            found.append(time.time())
            return
        if finished:
            return
        time.sleep(0.2)


def _load(project: BenchProject, seconds: float, clients: int) -> dict[str, float]:
    """Requests per second through the load balancer, and the CPU seconds HAProxy used."""
    haproxy_before = _haproxy_cpu(project)
    with CpuSamples.during() as cpu:
        began = time.time()
        ran = project.ssh("dev", "web-0", "python3", "-c", LOAD, APP, str(seconds), str(clients))
        ended = time.time()
    ok, failed = (int(n) for n in ran.stdout.split())
    return {
        "clients": clients,
        "seconds": seconds,
        "requests_per_second": round(ok / seconds, 1),
        "failed": failed,
        "haproxy_cpu_seconds": round(_haproxy_cpu(project) - haproxy_before, 2),
        "machine_cpu_busy": round(cpu.busy(began, ended), 2),
    }


def _haproxy_cpu(project: BenchProject) -> float:
    """CPU seconds (user + system) of this project's HAProxy processes so far."""
    total = 0
    for entry in Path("/proc").iterdir():
        try:
            if (entry / "comm").read_text().strip() != "haproxy":
                continue
            if str(project.state).encode() not in (entry / "cmdline").read_bytes():
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
    return total / 100


if __name__ == "__main__":
    raise SystemExit(main())
