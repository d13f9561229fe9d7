"""`extends:` overlays: an environment file deep-merges over the file it extends.

Mappings merge key by key; lists and scalars in the overlay replace the base's;
`key: null` in the overlay removes the base's entry. Locations follow the value:
a merged field points at the file that set it.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from provisioner.spec.diagnostics import Diagnostic, FieldPath
from provisioner.spec.yamldoc import LocatedDocument, read_yaml

SPEC_SUFFIXES = (".yaml", ".yml")


def load_with_overlays(file: Path) -> tuple[LocatedDocument | None, list[Diagnostic]]:
    """Read `file` and everything it extends, merged; report missing or circular extends."""
    return _load(file.resolve(), chain=())


def _load(file: Path, chain: tuple[Path, ...]) -> tuple[LocatedDocument | None, list[Diagnostic]]:
    doc, diagnostics = read_yaml(file)
    if doc is None:
        return None, diagnostics
    if not isinstance(doc.data, dict):
        return None, [
            *diagnostics,
            Diagnostic(doc.locate(()), (), "an environment file must be a mapping of keys"),
        ]
    parent_name = doc.data.pop("extends", None)
    if parent_name is None:
        return doc, diagnostics
    where = doc.locate(("extends",))
    if not isinstance(parent_name, str) or not parent_name:
        problem = "extends must name a file"
    elif (parent := _sibling(file, parent_name)) is None:
        problem = _missing(file, parent_name)
    elif parent in (*chain, file):
        problem = "circular extends: " + " -> ".join(p.stem for p in (*chain, file, parent))
    else:
        base, base_diagnostics = _load(parent, (*chain, file))
        diagnostics += base_diagnostics
        if base is not None:
            return merge(base, doc), diagnostics
        doc.complete = False
        return doc, diagnostics
    doc.complete = False
    return doc, [*diagnostics, Diagnostic(where, ("extends",), problem)]


def merge(base: LocatedDocument, overlay: LocatedDocument) -> LocatedDocument:
    """Deep-merge `overlay` over `base`; locations follow whichever file set each value."""
    replaced: set[FieldPath] = set()
    removed: set[FieldPath] = set()
    data = _merge_value(base.data, overlay.data, (), replaced, removed)
    locations = {
        path: location
        for path, location in base.locations.items()
        if not _under_any(path, replaced, strict=True) and not _under_any(path, removed)
    }
    locations.update(
        (path, location)
        for path, location in overlay.locations.items()
        if not _under_any(path, removed)
    )
    return LocatedDocument(overlay.file, data, locations, base.complete and overlay.complete)


def _merge_value(
    base: Any, overlay: Any, path: FieldPath, replaced: set[FieldPath], removed: set[FieldPath]
) -> Any:
    if not (isinstance(base, dict) and isinstance(overlay, dict)):
        replaced.add(path)
        return overlay
    merged = dict(base)
    for key, value in overlay.items():
        child = (*path, key)
        if value is None:
            merged.pop(key, None)
            removed.add(child)
        elif key in merged:
            merged[key] = _merge_value(merged[key], value, child, replaced, removed)
        else:
            merged[key] = value
    return merged


def _under_any(path: FieldPath, roots: set[FieldPath], *, strict: bool = False) -> bool:
    """True if some prefix of `path` is in `roots` (a proper prefix only, when strict)."""
    last = len(path) - 1 if strict else len(path)
    return any(path[:end] in roots for end in range(last + 1))


def _sibling(file: Path, name: str) -> Path | None:
    for candidate in (file.parent / name, *(file.parent / f"{name}{s}" for s in SPEC_SUFFIXES)):
        if candidate.is_file():
            return candidate.resolve()
    return None


def _missing(file: Path, name: str) -> str:
    available = sorted(
        p.stem for p in file.parent.iterdir() if p.suffix in SPEC_SUFFIXES and p != file
    )
    hint = difflib.get_close_matches(name, available, n=1)
    suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
    return f"extends '{name}': no such file {file.parent / name}.yaml{suggestion}"
