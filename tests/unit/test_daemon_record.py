"""The daemon record survives a round trip and malformed records are ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.local.record import DaemonRecord


def test_a_saved_record_loads_back_equal(tmp_path: Path) -> None:
    record = DaemonRecord(pid=42, start_ticks=1234, port=5123, started_at="2026-01-01T00:00:00")
    record.save(tmp_path / "daemon.json")
    assert DaemonRecord.load(tmp_path / "daemon.json") == record
    assert record.endpoint == "http://127.0.0.1:5123"


@pytest.mark.parametrize(
    "content",
    ["", "[]", '{"pid": 1}', '{"pid": "x", "start_ticks": 1, "port": 1, "started_at": ""}'],
)
def test_a_malformed_record_loads_as_none(tmp_path: Path, content: str) -> None:
    (tmp_path / "daemon.json").write_text(content)
    assert DaemonRecord.load(tmp_path / "daemon.json") is None
