"""PF10: the web view's pages for an environment with 50 recorded runs, side by side with
the same pages for an environment with one, loaded in Debian's headless chromium."""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Page, sync_playwright

from bench import specs
from bench.harness import PROVISION, BenchError, BenchProject, Figure

RUNS = 50
PAGES = {
    "runs": "/runs?environment={env}",
    "graph": "/environments/{env}",
    "hosts": "/environments/{env}/hosts",
    "drift": "/environments/{env}/drift",
    "run": "/runs/{up}",
}


def pf10_web(project: BenchProject, runs: int) -> list[Figure]:
    """The web view's pages of an environment with 50 runs ÷ the same with 1 run."""
    many, one = "pf10", "pf10one"
    project.write_spec(many, specs.overhead(many).replace("10.41.", "10.48."))
    project.write_spec(one, specs.overhead(one).replace("10.41.", "10.49."))
    ups = {env: str(project.provision("up", env, "--yes").result["run"]) for env in (many, one)}
    try:
        for index in range(RUNS - 1):  # 49 more: plans and drift checks, as a week would add
            project.provision("plan" if index % 2 else "drift", many, "--no-hosts")
        figure = Figure(
            "PF10",
            f"web view, an environment with {RUNS} runs",
            f"page loads (5 pages, chromium) with {RUNS} runs ÷ with 1 run",
            "≤ 2.0",
            lambda value: value <= 2.0,
            extra={"unit": "ratio"},
        )
        with serving(project) as url, browser() as page:
            for _ in range(runs):
                times = {
                    env: {name: load(page, url, path, env, up) for name, path in PAGES.items()}
                    for env, up in ((many, ups[many]), (one, ups[one]))
                }
                figure.add(
                    sum(times[many].values()) / sum(times[one].values()),
                    **{f"{name}_ms": 1000 * value for name, value in times[many].items()},
                    **{f"{name}_1run_ms": 1000 * value for name, value in times[one].items()},
                )
        return [figure]
    finally:
        for env in (many, one):
            project.provision("down", env, "--yes", check=False)


def load(page: Page, url: str, path: str, env: str, up: str) -> float:
    """Seconds from navigation to the `load` event, median of three."""
    target = url + path.format(env=env, up=up)
    times = []
    for _ in range(3):
        began = time.perf_counter()
        answer = page.goto(target, wait_until="load")
        times.append(time.perf_counter() - began)
        if answer is None or answer.status != 200:
            raise BenchError(f"{target} answered {answer.status if answer else 'nothing'}")
    return statistics.median(times)


@contextmanager
def serving(project: BenchProject) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [PROVISION, "serve", "--port", str(port)],
        cwd=project.root,
        env=project.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{url}/api/environments", timeout=5).close()  # noqa: S310
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise BenchError("provision serve did not answer in 30 s")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=20)


@contextmanager
def browser() -> Iterator[Page]:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise BenchError("chromium is not installed (make setup installs it)")
    flags = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=flags)
        try:
            yield launched.new_page()
        finally:
            launched.close()
