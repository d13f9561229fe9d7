"""Where a command's CPU goes, summed over every process that ends while it runs.

Turns on the kernel's process accounting (acct(2), root only) into a temporary
file, runs the command, turns it off, and prints the CPU seconds of the
processes that exited meanwhile, grouped by command name and parent's name. A
process counts whoever started it: the controller, `ssh`, `sshd`, the hosts'
Python, Pulumi, the provider host, the local cloud's daemon.

    sudo .venv/bin/python -m bench.cpu_profile [--top 25] [--json] -- COMMAND [ARGS...]

Long-lived processes that outlive the command (a local-cloud daemon started
before) are not counted; compare two commands side by side to isolate a phase.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import json
import os
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

RECORD = 64  # sizeof(struct acct_v3)
TICKS = 100  # AHZ: comp_t values count 1/100 s


@dataclass(frozen=True)
class Exited:
    """One process as process accounting recorded it at its exit."""

    pid: int
    ppid: int
    command: str
    forked: bool  # forked without exec (a worker of its parent)
    cpu_seconds: float


def _comp(value: int) -> int:
    """A comp_t: 13-bit mantissa, 3-bit base-8 exponent."""
    return (value & 0x1FFF) << (3 * (value >> 13))


def read_records(path: Path) -> list[Exited]:
    data = path.read_bytes()
    found = []
    for offset in range(0, len(data) - RECORD + 1, RECORD):
        record = data[offset : offset + RECORD]
        flag, version = record[0], record[1]
        if version & 0x0F != 3:
            continue
        pid, ppid = struct.unpack_from("<II", record, 16)
        user, system = struct.unpack_from("<HH", record, 32)
        command = record[48:64].split(b"\0", 1)[0].decode(errors="replace")
        cpu = (_comp(user) + _comp(system)) / TICKS
        found.append(Exited(pid, ppid, command, bool(flag & 0x01), cpu))
    return found


def by_process(records: list[Exited]) -> list[dict[str, object]]:
    """CPU seconds and counts by (command, forked, parent's command), largest first."""
    names = {record.pid: record.command for record in records}
    totals: dict[tuple[str, str], list[float]] = collections.defaultdict(lambda: [0, 0.0])
    for record in records:
        key = (record.command + ("*" if record.forked else ""), names.get(record.ppid, "?"))
        totals[key][0] += 1
        totals[key][1] += record.cpu_seconds
    rows = [
        {"command": command, "parent": parent, "processes": int(n), "cpu_s": round(cpu, 2)}
        for (command, parent), (n, cpu) in totals.items()
    ]
    return sorted(rows, key=lambda row: -float(row["cpu_s"]))  # type: ignore[arg-type]


def _acct(path: str | None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.acct(path.encode() if path else None) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"acct({path}): {os.strerror(error)} (process accounting needs root)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command after --")
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "pacct"
        log.touch()
        _acct(str(log))
        try:
            code = subprocess.run(command, check=False).returncode
        finally:
            _acct(None)
        rows = by_process(read_records(log))
    total = sum(float(row["cpu_s"]) for row in rows)  # type: ignore[arg-type]
    if args.json:
        print(json.dumps({"exit_code": code, "cpu_s": round(total, 2), "processes": rows}))
    else:
        print(f"{total:.1f} CPU-s in processes that exited (command exited {code})")
        for row in rows[: args.top]:
            print(
                f"{row['cpu_s']:8.2f} s {row['processes']:5d}  "
                f"{row['command']:<18} <- {row['parent']}"
            )
    return code


if __name__ == "__main__":
    sys.exit(main())
