"""The package's layers import in one direction: spec → graph → plan → engine → backends → cli."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Modules shared by every layer, and the layer of each package (backends share a rank).
BASE = {"errors", "paths", "fsutil", "netsafety", "procs", "dag"}  # dag: generic algorithms
RANK = {"spec": 1, "graph": 2, "plan": 3, "engine": 4}
BACKENDS = {"cloud", "hosts", "local", "stacks"}
CLI = 6


def layer(module: str) -> tuple[int, str]:
    """(rank, package) of a module path like `provisioner.engine.ports` or `stacks.program`."""
    parts = module.split(".")
    if parts[0] == "stacks":
        return 5, "cloud"
    package = parts[1] if len(parts) > 1 else ""
    if package in BASE or package == "":
        return 0, package
    if package == "cli":
        return CLI, "cli"
    if package in BACKENDS:
        return 5, package
    return RANK[package], package


def project_modules() -> list[tuple[str, Path]]:
    found = []
    for top in ("provisioner", "stacks"):
        for path in (ROOT / top).rglob("*.py"):
            dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found.append((dotted.removesuffix(".__init__"), path))
    return sorted(found)


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.split(".")[0] in ("provisioner", "stacks")}


@pytest.mark.parametrize(("module", "path"), project_modules(), ids=lambda v: str(v))
def test_modules_import_only_their_own_layer_or_lower_ones(module: str, path: Path) -> None:
    rank, package = layer(module)
    for imported in imports(path):
        their_rank, their_package = layer(imported)
        assert their_rank < rank or their_package == package or their_rank == 0, (
            f"{module} (layer {package}) imports {imported} (layer {their_package})"
        )
