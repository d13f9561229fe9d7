"""`make bench`: run the performance benchmarks on the local cloud, print a table, save JSON.

Every figure is a ratio between two measurements taken side by side in the same
run (or, for PF7, an absolute time), so a noisy machine shifts both sides. Each
figure is the median over paired runs. Goals are shown, not enforced: the
command exits 0 whenever every benchmark could be run.

    .venv/bin/python -m bench.run [--runs 3] [--only PF1,PF4] [--out bench/results.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.figures import ALL, MEASURED_WITH
from bench.harness import ROOT, BenchError, BenchProject, Figure


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="paired runs per figure (min 3)")
    parser.add_argument("--only", default="", help="comma-separated figures, e.g. PF1,PF4")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
    known = {key.upper(): key for key in ALL} | {
        figure.upper(): key for figure, key in MEASURED_WITH.items()
    }
    asked = [key.strip() for key in args.only.split(",") if key.strip()]
    wanted = list(dict.fromkeys(known.get(key.upper(), key) for key in asked))
    wanted = wanted or list(ALL)
    unknown = [key for key in wanted if key not in ALL]
    if unknown:
        parser.error(f"unknown figures: {', '.join(unknown)} (known: {', '.join(ALL)})")
    runs = max(3, args.runs)
    figures: list[Figure] = []
    failures: dict[str, str] = {}
    started = time.monotonic()
    with BenchProject.create() as project:
        for key in wanted:
            summary = (ALL[key].__doc__ or "").strip().splitlines()[0]
            print(f"{key}: {summary}", flush=True)
            began = time.monotonic()
            try:
                figures += ALL[key](project, runs)
            except BenchError as error:
                failures[key] = str(error)
                print(f"  {key} could not be measured: {error}", flush=True)
            print(f"  ({time.monotonic() - began:.0f} s)", flush=True)
    results = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "runs_per_figure": runs,
        "total_seconds": round(time.monotonic() - started, 1),
        "figures": [figure.to_json() for figure in figures],
        "failed": failures,
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table(figures))
    print(f"\nRaw timings: {args.out}")
    if failures:
        print(f"Not measured: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


def table(figures: list[Figure]) -> str:
    """The figures as an aligned text table: value, goal, met, and what the ratio divides."""
    rows = [("", "figure", "value", "goal", "met", "measured as")]
    for figure in figures:
        unit = {"s": " s", "CPU-s": " CPU-s"}.get(figure.extra.get("unit", ""), "x")
        value = f"{figure.median:.3f}{unit}"
        if figure.key == "PF7":
            value += f", {figure.extra['peak_rss_mb']:.0f} MB"
        met = "yes" if figure.goal_met(figure.median) else "no"
        if figure.goal == "(shown)":
            met = ""
        rows.append((figure.key, figure.title, value, figure.goal, met, figure.ratio_label))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def _machine() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "commit": commit or None,
    }


if __name__ == "__main__":
    sys.exit(main())
