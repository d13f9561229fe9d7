"""Telling from the state files alone whether an environment has anything recorded."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from provisioner.cloud.pulumi.state import (
    Exported,
    exported_in_files,
    repair_interrupted_writes,
    resources_in_files,
)
from provisioner.paths import StatePaths


def write_checkpoint(
    paths: StatePaths, stack: str, resources: list[object], *, zipped: bool
) -> None:
    folder = paths.pulumi_state / ".pulumi" / "stacks" / "provision"
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"checkpoint": {"latest": {"resources": resources}}})
    if zipped:
        with gzip.open(folder / f"{stack}.json.gz", "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        (folder / f"{stack}.json").write_text(text)


def test_an_environment_never_applied_records_nothing(tmp_path: Path) -> None:
    assert resources_in_files(None, StatePaths(tmp_path), "provision", "dev") == 0


def test_a_checkpoint_counts_its_resources_plain_or_compressed(tmp_path: Path) -> None:
    paths = StatePaths(tmp_path)
    write_checkpoint(paths, "dev", [{"urn": "a"}, {"urn": "b"}], zipped=False)
    write_checkpoint(paths, "prod", [], zipped=True)
    assert resources_in_files(None, paths, "provision", "dev") == 2
    assert resources_in_files(None, paths, "provision", "prod") == 0


def test_state_in_s3_cannot_be_told_from_here(tmp_path: Path) -> None:
    assert (
        resources_in_files("s3://bucket/prefix", StatePaths(tmp_path), "provision", "dev") is None
    )


def test_a_file_url_in_the_spec_is_read_where_it_points(tmp_path: Path) -> None:
    elsewhere = StatePaths(tmp_path / "elsewhere")
    write_checkpoint(elsewhere, "dev", [{"urn": "a"}], zipped=False)
    url = elsewhere.pulumi_state.as_uri()
    assert resources_in_files(url, StatePaths(tmp_path), "provision", "dev") == 1


def test_an_attribute_file_a_killed_write_left_empty_is_removed_and_good_ones_kept(
    tmp_path: Path,
) -> None:
    paths = StatePaths(tmp_path)
    write_checkpoint(paths, "dev", [], zipped=False)
    folder = paths.pulumi_state / ".pulumi" / "stacks" / "provision"
    (folder / "dev.json.attrs").write_text("")
    (folder / "dev.json.bak.attrs").write_text('{"user.cache_control": ""}')
    (folder / "prod.json.attrs").write_text("")  # another stack's: not this one's business
    removed = repair_interrupted_writes(paths.pulumi_state.as_uri(), "provision", "dev")
    assert removed == [folder / "dev.json.attrs"]
    assert (folder / "dev.json.bak.attrs").exists() and (folder / "prod.json.attrs").exists()
    assert repair_interrupted_writes("s3://bucket/prefix", "provision", "dev") == []


def _checkpoint(folder: Path, state: dict[str, object]) -> Path:
    path = folder / "dev.json"
    path.write_text(json.dumps(state))
    return path


def test_a_plain_checkpoint_is_read_as_pulumi_would_export_it(tmp_path: Path) -> None:
    latest = {"manifest": {"version": "v3.259.0"}, "resources": [{"urn": "u"}]}
    path = _checkpoint(tmp_path, {"version": 3, "checkpoint": {"stack": "dev", "latest": latest}})
    assert exported_in_files(path) == Exported(3, latest)


@pytest.mark.parametrize(
    ("state", "sibling"),
    [
        ({"version": 4, "checkpoint": {"latest": {}}}, None),
        ({"version": 3, "features": ["taint"], "checkpoint": {"latest": {}}}, None),
        ({"version": 3, "checkpoint": {"latest": {}}}, "dev.json.gz"),
        ({"version": 3, "checkpoint": {"latest": {}}}, "dev.json.zst"),
        (None, None),
    ],
    ids=["schema-4", "features", "gzipped-too", "zstd-too", "missing"],
)
def test_a_checkpoint_we_do_not_know_is_left_to_pulumi_stack_export(
    tmp_path: Path, state: dict[str, object] | None, sibling: str | None
) -> None:
    path = _checkpoint(tmp_path, state) if state is not None else tmp_path / "dev.json"
    if sibling:
        (tmp_path / sibling).write_bytes(b"")
    assert exported_in_files(path) is None
