"""The layers import in one direction.

spec → graph → plan → engine → backends (cloud, hosts, local) → stacks → web → cli.
A module may import its own package, any lower layer, and the base modules.
Backends share a rank, so none imports another. `stacks` (the Pulumi programs,
a top-level package) sits above the backends: its programs use the cloud's
providers, and the CLI's wiring hands them to the cloud.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Modules shared by every layer (dag: generic algorithms).
BASE = {"errors", "paths", "fsutil", "netsafety", "procs", "dag", "declarations", "jsonable"}
# The rank of each layer; the backends share one.
RANK = {
    "spec": 1,
    "graph": 2,
    "plan": 3,
    "engine": 4,
    "cloud": 5,
    "hosts": 5,
    "local": 5,
    "stacks": 6,
    "web": 7,
    "cli": 8,
}


def layer(module: str) -> tuple[int, str]:
    """(rank, package) of a module path like `provisioner.engine.ports` or `stacks.program`."""
    parts = module.split(".")
    package = parts[0] if parts[0] == "stacks" else (parts[1] if len(parts) > 1 else "")
    if package in BASE or package == "":
        return 0, package
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


def imports_at_run_time(tree: ast.AST) -> set[str]:
    """Modules `tree` imports when it runs (not in an `if TYPE_CHECKING:` block)."""
    names: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        names |= imports_at_run_time(node)
    return names


def test_only_the_stack_modules_import_pulumis_automation_api() -> None:
    importers = [
        module
        for module, path in project_modules()
        if any(
            name == "pulumi.automation" or name.startswith("pulumi.automation.")
            for name in imports_at_run_time(ast.parse(path.read_text()))
        )
    ]
    assert sorted(importers) == [
        "provisioner.cloud.pulumi.automation",
        "provisioner.cloud.pulumi.stack",
    ]
