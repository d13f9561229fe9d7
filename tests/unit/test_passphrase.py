"""The state's passphrase: given, or (local cloud only) one generated per state folder,
shared by its environments; one made per environment before that is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.cloud.passphrase import PASSPHRASE_ENV, check_shared, passphrase_for
from provisioner.errors import ConfigurationError


@pytest.fixture(autouse=True)
def no_given_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)


def test_local_environments_share_one_generated_passphrase(tmp_path: Path) -> None:
    first = passphrase_for("network", "local", tmp_path)
    assert passphrase_for("dev", "local", tmp_path) == first
    assert (tmp_path / "workspace.passphrase").stat().st_mode & 0o777 == 0o600
    check_shared("dev", ["network"], "local", tmp_path)


def test_an_environments_own_passphrase_is_kept_and_a_mismatch_is_refused(
    tmp_path: Path,
) -> None:
    passphrase_for("network", "local", tmp_path)
    (tmp_path / "dev.passphrase").write_text("an older one\n")
    assert passphrase_for("dev", "local", tmp_path) == "an older one"
    with pytest.raises(ConfigurationError) as refused:
        check_shared("dev", ["network"], "local", tmp_path)
    assert refused.value.message.startswith("dev uses network, whose state is encrypted")
    assert str(tmp_path / "dev.passphrase") in str(refused.value.hint)


def test_a_given_passphrase_serves_every_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "given")
    assert passphrase_for("dev", "aws", tmp_path) == "given"
    check_shared("dev", ["network"], "aws", tmp_path)
    assert not tmp_path.joinpath("workspace.passphrase").exists()


def test_aws_without_a_given_passphrase_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=f"set {PASSPHRASE_ENV}"):
        passphrase_for("prod", "aws", tmp_path)
