"""Whether a process runs, as the kernel sees it (shared by every layer)."""

from __future__ import annotations

from pathlib import Path


def is_running(pid: object) -> bool:
    """True if process `pid` exists and is not a zombie (dead, not yet reaped)."""
    try:
        stat = Path(f"/proc/{int(str(pid))}/stat").read_text()
    except (OSError, ValueError):
        return False
    # The command name may hold spaces and parentheses: the state follows the last ')'.
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"
