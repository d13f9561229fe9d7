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
    stems = sorted(Path(r["environment"]).stem for r in reports)
    assert stems == ["dev", "network", "prod", "staging"]
    assert all(r["valid"] and r["problems"] == [] for r in reports)
    listing = provision("validate")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert listing.stdout.splitlines()[:2] == [
        "· environments/base.yaml: a shared base, checked as part of dev, prod and staging",
        "· environments/on-network.yaml: a shared base, checked as part of dev and staging",
    ]


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
    # Its network and subnets are network's: not nodes of dev's graph.
    assert lines[0] == "dev: 16 resources, 28 dependencies, 6 waves"
    assert lines[2:6] == ["wave 1:", "  bucket.assets", "  key.deploy", "  sg.lb"]
    assert "db.main" in lines[-1] and "software.smoke@vm.web[0]" in lines[-1]


def test_graph_json_and_dot_describe_the_same_nodes() -> None:
    as_json = json.loads(provision("graph", "dev", "--format", "json").stdout)
    dot = provision("graph", "dev", "--format", "dot").stdout
    addresses = [node["address"] for node in as_json["nodes"]]
    assert len(addresses) == 16
    assert all(f'"{address}"' in dot for address in addresses)
    assert {"from": "sg.web", "to": "sg.db", "reason": "peer"} in as_json["edges"]
    assert {"from": "vm.web[1]", "to": "lb.web", "reason": "uses"} in as_json["edges"]


def test_an_unknown_environment_is_one_line_and_exit_1() -> None:
    result = provision("graph", "deev")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: unknown environment 'deev' (did you mean 'dev'?) "
        "(available in environments: dev, network, prod, staging)"
    ]


LAYERED = {
    "network": "name: network\nregion: us-east-1\nnetworks:\n  main: {cidr: 10.20.0.0/16}\n",
    "dns": "name: dns\nregion: us-east-1\nuses: [network]\n",
    "dev": "name: dev\nregion: us-east-1\nuses: [network, dns]\n",
    "staging": "name: staging\nregion: us-east-1\nuses: [network]\n",
}


def layered_project(folder: Path, specs: dict[str, str]) -> Path:
    (folder / "environments").mkdir()
    for name, text in specs.items():
        (folder / "environments" / f"{name}.yaml").write_text(text)
    return folder


def test_graph_all_draws_the_environments_in_waves_in_every_format(tmp_path: Path) -> None:
    project = layered_project(tmp_path, LAYERED)
    text = provision("graph", "--all", cwd=project)
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines() == [
        "4 environments, 3 waves",
        "",
        "wave 1:",
        "  network",
        "wave 2:",
        "  dns  (uses network)",
        "  staging  (uses network)",
        "wave 3:",
        "  dev  (uses network, dns)",
    ]
    as_json = json.loads(provision("graph", "--all", "-f", "json", cwd=project).stdout)
    assert as_json["waves"] == [["network"], ["dns", "staging"], ["dev"]]
    dot = provision("graph", "--all", "-f", "dot", cwd=project).stdout
    assert '"network" -> "dev";' in dot and '"dns" -> "dev";' in dot
    png = provision("graph", "--all", "-f", "png", "-o", str(tmp_path / "e.png"), cwd=project)
    assert png.returncode == 0, png.stderr
    assert (tmp_path / "e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_all_refuses_a_cycle_naming_its_members(tmp_path: Path) -> None:
    project = layered_project(
        tmp_path, {**LAYERED, "network": LAYERED["network"] + "uses: [dev]\n"}
    )
    result = provision("graph", "--all", cwd=project)
    assert result.returncode == 1
    assert "environments use each other in a cycle: " in result.stderr
    assert "Traceback" not in result.stderr
    cycle = result.stderr.split("cycle: ")[1].split(" (")[0]
    assert set(cycle.split(" -> ")) == {"dev", "network", "dns"} or set(cycle.split(" -> ")) == {
        "dev",
        "network",
    }
    invalid = provision("validate", "dev", cwd=project)
    assert invalid.returncode == 1
    assert "environments/dev.yaml:3:" in invalid.stdout
    assert "environments use each other in a cycle: dev -> network -> dev" in invalid.stdout


def test_graph_wants_an_environment_or_all_but_not_both() -> None:
    both = provision("graph", "dev", "--all")
    neither = provision("graph")
    assert (both.returncode, neither.returncode) == (1, 1)
    assert "give an environment, or --all (not both)" in both.stderr
