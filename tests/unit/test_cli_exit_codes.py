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
        (["local", "--help"], 0),
        (["local", "no-such-command"], 1),
        (["local", "status", "--no-such-flag"], 1),
    ],
)
def test_exit_codes_for_help_version_and_usage_errors(
    state_dir: Path, argv: list[str], code: int
) -> None:
    assert cli.main(argv) == code
