"""`extends:` deep-merges an environment over its base, and locations follow the file."""

from __future__ import annotations

from pathlib import Path

from provisioner.spec.overlay import load_with_overlays


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_mappings_merge_lists_replace_and_null_removes(tmp_path: Path) -> None:
    write(
        tmp_path,
        "base.yaml",
        "tags: {a: '1', b: '2'}\nlist: [1, 2, 3]\nvms:\n  web: {count: 2}\n  db: {count: 1}\n",
    )
    overlay = write(
        tmp_path, "dev.yaml", "extends: base\ntags: {b: '3'}\nlist: [9]\nvms:\n  db: null\n"
    )
    doc, problems = load_with_overlays(overlay)
    assert problems == []
    assert doc is not None
    assert doc.data == {"tags": {"a": "1", "b": "3"}, "list": [9], "vms": {"web": {"count": 2}}}


def test_a_merged_value_is_located_in_the_file_that_set_it(tmp_path: Path) -> None:
    base = write(tmp_path, "base.yaml", "tags:\n  a: '1'\n  b: '2'\n")
    overlay = write(tmp_path, "dev.yaml", "extends: base\ntags:\n  b: '3'\n")
    doc, _ = load_with_overlays(overlay)
    assert doc is not None
    assert (doc.locate(("tags", "a")).file, doc.locate(("tags", "a")).line) == (base, 2)
    assert (doc.locate(("tags", "b")).file, doc.locate(("tags", "b")).line) == (overlay, 3)


def test_extends_chains_through_several_files(tmp_path: Path) -> None:
    write(tmp_path, "root.yaml", "region: us-east-1\nname: root\n")
    write(tmp_path, "base.yaml", "extends: root\nname: base\n")
    leaf = write(tmp_path, "leaf.yaml", "extends: base\nname: leaf\n")
    doc, problems = load_with_overlays(leaf)
    assert problems == []
    assert doc is not None
    assert doc.data == {"region": "us-east-1", "name": "leaf"}
