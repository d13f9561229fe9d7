"""State files are replaced atomically: readers see the old or the new content, never half."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from provisioner.fsutil import atomic_write_json, atomic_write_text, read_json


def test_atomic_write_creates_parents_and_sets_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "secret.txt"
    atomic_write_text(target, "hello", mode=0o600)
    assert target.read_text() == "hello"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_failed_write_keeps_the_old_content_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "state.json"
    atomic_write_json(target, {"version": 1})

    def disk_full(_fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_json(target, {"version": 2})
    assert read_json(target) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


@pytest.mark.parametrize("content", [None, "{not json", '{"ok": true}'])
def test_read_json_returns_none_for_missing_or_malformed_files(
    tmp_path: Path, content: str | None
) -> None:
    target = tmp_path / "file.json"
    if content is not None:
        target.write_text(content)
    assert read_json(target) == ({"ok": True} if content == '{"ok": true}' else None)
