"""A run's log as the web view shows it, and what changes while a page listens: a running
run's events as they are written, and the run list whenever it changes."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from provisioner.engine.run_record import EVENTS_FILE, RunOutcome, read_run

_FAILED = {"failed", "unreachable", "error"}


def event_lines(path: Path, *, failures_only: bool) -> list[dict[str, Any]]:
    """A run's events as recorded (secrets already redacted); with `failures_only`, those
    that say something failed."""
    if not path.is_file():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        failed = str(event.get("status", "")) in _FAILED or event.get("level") == "error"
        if failed or not failures_only:
            at = event.get("at")
            clock = dt.datetime.fromtimestamp(at, dt.UTC) if isinstance(at, int | float) else None
            found.append({**event, "clock": f"{clock:%H:%M:%S.%f}"[:12] if clock else ""})
    return found


async def follow_events(
    folder: Path, still_running: Callable[[], bool], *, poll: float = 0.2
) -> AsyncIterator[str]:
    """A run's events as they are written (each one line of `events.jsonl`), from the
    first, until the run has ended and every line is out."""
    path = folder / EVENTS_FILE
    offset = 0
    while True:
        running = still_running()
        if path.is_file():
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            offset += len(complete)
            for line in complete.decode("utf-8").splitlines():
                if line.strip():
                    yield line
        if not running:
            return
        await asyncio.sleep(poll)


async def follow_changes(
    read: Callable[[], list[dict[str, Any]]], *, poll: float = 0.5
) -> AsyncIterator[list[dict[str, Any]]]:
    """`read()` now, then again whenever its answer changes (until the client leaves)."""
    last: list[dict[str, Any]] | None = None
    while True:
        found = await asyncio.to_thread(read)
        if found != last:
            last = found
            yield found
        await asyncio.sleep(poll)


def is_running(folder: Path) -> bool:
    """True while the run recorded in `folder` runs (its process alive, no outcome yet)."""
    record = read_run(folder)
    return record is not None and record.observed_outcome() is RunOutcome.RUNNING
