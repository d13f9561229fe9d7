"""Whether a process runs, as the kernel sees it (shared by every layer).

A pid alone does not name a process for long: the kernel reuses pids (here the
range is 32768, and a test suite starts tens of thousands of processes). A
process is named by its pid and its start time (`start_ticks`), as recorded
when it was seen alive.
"""

from __future__ import annotations

from pathlib import Path


def start_ticks(pid: object) -> int | None:
    """When process `pid` started, in clock ticks since boot; None if none runs (or a zombie)."""
    try:
        stat = Path(f"/proc/{int(str(pid))}/stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name may hold spaces and parentheses: the state follows the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def is_running(pid: object, started: int | None = None) -> bool:
    """True if process `pid` exists and is not a zombie (dead, not yet reaped).

    With `started` (its `start_ticks` when it was recorded), only that very
    process counts, not a later one that was given the same pid.
    """
    ticks = start_ticks(pid)
    return ticks is not None and (started is None or ticks == started)
