"""`provision validate` and `provision graph` through the installed command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROVISION = str(Path(sys.executable).parent / "provision")


def provision(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROVISION, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_validate_passes_for_every_environment_and_checks_base_as_part_of_them() -> None:
    result = provision("validate", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    reports = json.loads(result.stdout)
    assert sorted(Path(r["environment"]).stem for r in reports) == ["dev", "prod", "staging"]
    assert all(r["valid"] and r["problems"] == [] for r in reports)
    listing = provision("validate")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert listing.stdout.splitlines()[0] == (
        "· environments/base.yaml: a shared base, checked as part of dev, prod and staging"
    )


def test_graph_png_is_drawn_by_graphviz(tmp_path: Path) -> None:
    target = tmp_path / "dev.png"
    result = provision("graph", "dev", "--format", "png", "--output", str(target))
    assert result.returncode == 0, result.stderr
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 800 and height > 300


def test_graph_text_lists_the_waves_and_the_critical_path() -> None:
    result = provision("graph", "dev")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "dev: 21 resources, 42 dependencies, 7 waves"
    assert lines[2:6] == ["wave 1:", "  bucket.assets", "  key.deploy", "  network.main"]
    assert "db.main" in lines[-1] and "software.smoke@vm.web[0]" in lines[-1]


def test_graph_json_and_dot_describe_the_same_nodes() -> None:
    as_json = json.loads(provision("graph", "dev", "--format", "json").stdout)
    dot = provision("graph", "dev", "--format", "dot").stdout
    addresses = [node["address"] for node in as_json["nodes"]]
    assert len(addresses) == 21
    assert all(f'"{address}"' in dot for address in addresses)
    assert {"from": "sg.web", "to": "sg.db", "reason": "peer"} in as_json["edges"]
    assert {"from": "vm.web[1]", "to": "lb.web", "reason": "uses"} in as_json["edges"]


def test_an_unknown_environment_is_one_line_and_exit_1() -> None:
    result = provision("graph", "deev")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: unknown environment 'deev' (did you mean 'dev'?) "
        "(available in environments: dev, prod, staging)"
    ]
