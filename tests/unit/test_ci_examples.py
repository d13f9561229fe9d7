"""The example pipelines in docs/ci/ call `provision` with commands and flags that exist."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import typer
import yaml

from provisioner.cli.app import app

DOCS = Path(__file__).resolve().parents[2] / "docs" / "ci"
SHELL_OPERATORS = {">", "||", "&&", "|", ";"}


def provision_calls(path: Path) -> list[list[str]]:
    """Each `.venv/bin/provision ...` call in the file's shell lines, up to a shell operator."""
    yaml.safe_load(path.read_text())  # the file is valid YAML
    calls = []
    for line in path.read_text().splitlines():
        if ".venv/bin/provision " not in line:
            continue
        words = shlex.split(line[line.index(".venv/bin/provision ") :])[1:]
        cut = next((i for i, w in enumerate(words) if w in SHELL_OPERATORS), len(words))
        calls.append([w.replace("$ENVIRONMENT", "staging") for w in words[:cut]])
    return calls


@pytest.mark.parametrize("path", sorted(DOCS.glob("*.yml")), ids=lambda p: p.name)
def test_each_pipeline_plans_applies_the_saved_plan_and_checks_drift(path: Path) -> None:
    calls = provision_calls(path)
    commands = {call[0] for call in calls}
    assert {"plan", "up", "drift"} <= commands
    group = typer.main.get_command(app)
    for call in calls:
        context = group.make_context("provision", list(call))
        command = group.get_command(context, call[0])  # type: ignore[attr-defined]
        assert command is not None, call
        command.make_context(call[0], list(call[1:]))  # raises on an unknown flag
    assert any("--out" in call for call in calls if call[0] == "plan")
    assert any("--plan" in call for call in calls if call[0] == "up")
