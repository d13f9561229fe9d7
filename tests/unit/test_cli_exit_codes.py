"""The CLI turns errors into one line and an exit code; bugs get a debug log, not a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from provisioner.cli import app as cli
from provisioner.errors import LocalCloudError


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROVISION_STATE_DIR", str(tmp_path))
    return tmp_path


def add_failing_command(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    failing = typer.Typer()

    @failing.command()
    def boom() -> None:
        raise error

    monkeypatch.setattr(cli, "app", failing)


def test_an_expected_error_prints_one_line_and_exits_1(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add_failing_command(monkeypatch, LocalCloudError("the local cloud is not running"))
    assert cli.main([]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "error: the local cloud is not running"


def test_an_unexpected_error_writes_a_debug_log_and_names_it(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add_failing_command(monkeypatch, ZeroDivisionError("division by zero"))
    assert cli.main([]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [log] = (state_dir / "logs").iterdir()
    assert str(log) in err.replace("\n", "")
    assert "ZeroDivisionError" in log.read_text()


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["--version"], 0),
        (["--help"], 0),
        (["up", "--help"], 0),
        (["local", "--help"], 0),
        (["local", "no-such-command"], 1),
        (["local", "status", "--no-such-flag"], 1),
    ],
)
def test_exit_codes_for_help_version_and_usage_errors(
    state_dir: Path, argv: list[str], code: int
) -> None:
    assert cli.main(argv) == code


@pytest.mark.parametrize(
    ("argv", "usage", "problem"),
    [
        (
            ["foo"],
            ["Usage: provision [OPTIONS] COMMAND [ARGS]...", "Try 'provision --help' for help."],
            "Error: No such command 'foo'.",
        ),
        (
            ["output"],
            ["Usage: provision output [OPTIONS] {ENV}", "Try 'provision output --help' for help."],
            "Error: Missing argument 'ENV'.",
        ),
        (
            ["validate", "--no-such-flag"],
            [
                "Usage: provision validate [OPTIONS] [ENV]...",
                "Try 'provision validate --help' for help.",
            ],
            "Error: No such option: --no-such-flag",
        ),
        (
            ["unlock", "dev"],
            ["Usage: provision unlock [OPTIONS] {ENV}", "Try 'provision unlock --help' for help."],
            "Error: Invalid value for --force: unlocking needs --force",
        ),
    ],
    ids=["unknown-command", "missing-argument", "unknown-option", "bad-parameter"],
)
def test_a_usage_mistake_prints_the_usage_and_the_problem_and_exits_1_without_a_debug_log(
    state_dir: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    usage: list[str],
    problem: str,
) -> None:
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [*usage, "", problem]
    assert captured.out == ""
    assert not (state_dir / "logs").exists()


def test_a_command_keeps_the_exit_code_it_chooses(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `plan --detailed-exitcode` and `drift` leave with typer.Exit(2): changes present.
    add_failing_command(monkeypatch, typer.Exit(2))
    assert cli.main([]) == 2


def test_an_abort_is_reported_as_interrupted(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    add_failing_command(monkeypatch, typer.Abort())
    assert cli.main([]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"
    assert not (state_dir / "logs").exists()
