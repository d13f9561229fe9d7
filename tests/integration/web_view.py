"""`provision serve` run as users run it, and Debian's chromium driving its pages.

Playwright drives the system's browser (`executable_path`): nothing is downloaded.
Screenshots of the pages the tests look at are kept in test-artifacts/screenshots/.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.integration.projects import ROOT, Project

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str, token: str | None = None) -> tuple[int, str]:
    """GET `url` on loopback: its status and body."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@contextmanager
def serving(project: Project, *args: str, token: str | None = None) -> Iterator[str]:
    """`provision serve ARGS` on a free loopback port, answering; its base URL. Stopped by pid."""
    port = free_port()
    process = project.start("serve", "--port", str(port), *args)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[0]
            with contextlib.suppress(OSError):  # not listening yet
                if get(f"{url}/api/environments", token)[0] == 200:
                    break
            assert time.monotonic() < deadline, "provision serve did not answer in 30 s"
            time.sleep(0.2)
        yield url
    finally:
        stop(process)


def stop(process: subprocess.Popen[str], grace: float = 30) -> None:
    """Stop a `provision` process as Ctrl-C would (SIGTERM), killing it after `grace` seconds
    (its tick or request in progress ends first)."""
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def browser() -> Iterator[Browser]:
    """Headless chromium (Debian's), closed after."""
    chromium = shutil.which("chromium")
    assert chromium, "chromium is not installed: `make setup` installs it"
    # As root, chromium runs only without its sandbox.
    flags = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=flags)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def new_page(launched: Browser) -> Iterator[Page]:
    """A page, closed after (with it, any event stream it listens to)."""
    page = launched.new_page(viewport={"width": 1400, "height": 900})
    try:
        yield page
    finally:
        page.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def crawl(url: str, token: str | None = None) -> dict[str, str]:
    """Every page reachable from `/` by its links, and every API answer for what they show:
    each path and its body. Event streams are left out (they never end while a run runs)."""
    found: dict[str, str] = {}
    queue = ["/", "/runs", "/api/environments", "/api/runs"]
    while queue:
        path = queue.pop()
        if path in found:
            continue
        status, body = get(urljoin(url, path), token)
        assert status == 200, (path, status, body[:300])
        found[path] = body
        links = re.findall(r'href="(/[^"#]*)"', body)
        if path == "/api/environments":
            names = [e["environment"] for e in json.loads(body)]
            links += [f"/api/environments/{n}/{what}" for n in names for what in ("hosts", "drift")]
        if path == "/api/runs":
            links += [f"/api/runs/{run['id']}" for run in json.loads(body)]
        queue += [link.replace("&amp;", "&") for link in links if urlsplit(link).path != path]
    return found


def legend(page: Page) -> dict[str, str]:
    """An environment page's legend: each state and its colour."""
    spans = page.locator("#legend span").evaluate_all(
        "spans => spans.map(s => [s.textContent, s.style.backgroundColor])"
    )
    return {state: _hex(colour) for state, colour in spans}


def graph_fills(page: Page) -> dict[str, str]:
    """An environment page's graph: each node's address and fill colour."""
    found = page.locator("#graph g.node").evaluate_all(
        "nodes => nodes.map(n => [n.querySelector('title').textContent,"
        " n.querySelector('path, polygon').getAttribute('fill')])"
    )
    return {address: colour.lower() for address, colour in found}


def timeline_bars(page: Page) -> list[tuple[str, float, float, float]]:
    """A run page's timeline, top to bottom: each bar's resource, ready, start and end."""
    found = page.locator("#timeline g.bar").evaluate_all(
        "bars => bars.map(b => [b.dataset.node, b.dataset.ready, b.dataset.start, b.dataset.end])"
    )
    return [(node, float(ready), float(start), float(end)) for node, ready, start, end in found]


def shown_live(page: Page) -> dict[float, float]:
    """The log rows a run page added as their events arrived: event time -> time shown."""
    found = page.locator("#log tr[data-shown]").evaluate_all(
        "rows => rows.map(r => [r.dataset.at, r.dataset.shown])"
    )
    return {float(at): float(shown) for at, shown in found}


def _hex(css: str) -> str:
    """`rgb(140, 209, 125)` as `#8cd17d`."""
    red, green, blue = (int(part) for part in re.findall(r"\d+", css)[:3])
    return f"#{red:02x}{green:02x}{blue:02x}"


@dataclass(frozen=True)
class Watched:
    """A command run while the browser watched: its exit code and output, its run as it
    first appeared in the run list, and its log rows shown live (event time -> shown)."""

    returncode: int
    output: str
    run: str
    first_outcome: str
    live: dict[float, float]


def run_watched(page: Page, url: str, project: Project, *args: str) -> Watched:
    """`provision ARGS` started from the CLI while the run list is open: wait for its run to
    appear there, open its page, and follow its log until it ends."""
    page.goto(f"{url}/runs")
    known = page.locator("tr[data-run]").evaluate_all("rows => rows.map(r => r.dataset.run)")
    process = project.start(*args)
    try:
        page.wait_for_function(
            "known => [...document.querySelectorAll('tr[data-run]')]"
            ".some(r => !known.includes(r.dataset.run))",
            arg=known,
            timeout=60_000,
        )
        [row] = [
            r
            for r in page.locator("tr[data-run]").all()
            if r.get_attribute("data-run") not in known
        ]
        run = str(row.get_attribute("data-run"))
        first_outcome = row.locator("td").nth(3).inner_text()
        screenshot(page, "runs")
        page.goto(f"{url}/runs/{run}")
        live: dict[float, float] = {}
        while process.poll() is None:  # the page reloads when the run ends: keep what it showed
            with contextlib.suppress(PlaywrightError):  # read while it reloads
                live.update(shown_live(page))
            time.sleep(0.5)
        output = process.communicate(timeout=60)[0]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return Watched(process.returncode, output, run, first_outcome, live)


def record_figure(name: str, value: object) -> None:
    """Keep a measured figure beside the screenshots (test-artifacts/web-figures.json)."""
    path = SCREENSHOTS.parent / "web-figures.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    figures = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**figures, name: value}, indent=2, sort_keys=True) + "\n")
