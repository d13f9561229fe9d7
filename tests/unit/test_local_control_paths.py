"""The local cloud's daemon is known by the absolute folder it was started with."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.local.control import LocalCloud


def test_a_relative_state_folder_names_the_same_daemon_as_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = LocalCloud(Path(".provision") / "local")
    absolute = LocalCloud(tmp_path / ".provision" / "local")
    assert relative.paths.root == absolute.paths.root == tmp_path / ".provision" / "local"
    assert not relative.status().running  # and nothing was started or removed
