"""Telling from the state files alone whether an environment has anything recorded."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from provisioner.cloud.pulumi.state import repair_interrupted_writes, resources_in_files
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
