"""`extends:` overlays: an environment file deep-merges over the file it extends.

Mappings merge key by key; lists and scalars in the overlay replace the base's;
`key: null` in the overlay removes the base's entry. Locations follow the value:
a merged field points at the file that set it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner.spec.diagnostics import Diagnostic, FieldPath
from provisioner.spec.limits import DEFAULT_LIMITS, Limits
from provisioner.spec.yamldoc import LocatedDocument, read_yaml, top_level_text

SPEC_SUFFIXES = (".yaml", ".yml")
_EXTENDS = "extends"


def load_with_overlays(
    file: Path, limits: Limits = DEFAULT_LIMITS
) -> tuple[LocatedDocument | None, list[Diagnostic]]:
    """Read `file` and everything it extends, merged; report missing or circular extends."""
    return _load(file.resolve(), (), limits)


def _load(
    file: Path, chain: tuple[Path, ...], limits: Limits
) -> tuple[LocatedDocument | None, list[Diagnostic]]:
    doc, diagnostics = read_yaml(file, max_values=limits.max_yaml_values)
    if doc is None:
        return None, diagnostics
    if not isinstance(doc.data, dict):
        return None, [
            *diagnostics,
            Diagnostic(doc.locate(()), (), "an environment file must be a mapping of keys"),
        ]
    parent_name = doc.data.pop(_EXTENDS, None)
    if parent_name is None:
        return doc, diagnostics
    where = doc.locate((_EXTENDS,))
    if not isinstance(parent_name, str) or not parent_name:
        problem = "extends must name a file"
    elif (parent := _sibling(file, parent_name)) is None:
        problem = _missing(file, parent_name)
    elif parent in (*chain, file):
        problem = "circular extends: " + " -> ".join(p.stem for p in (*chain, file, parent))
    else:
        base, base_diagnostics = _load(parent, (*chain, file), limits)
        diagnostics += base_diagnostics
        if base is not None:
            return merge(base, doc), diagnostics
        doc.complete = False
        return doc, diagnostics
    doc.complete = False
    return doc, [*diagnostics, Diagnostic(where, (_EXTENDS,), problem)]


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


@dataclass(frozen=True)
class SpecFolder:
    """The spec files of one folder: environments, and the shared bases they extend.

    A spec file that another spec in the same folder extends is a shared base, not
    an environment (specs that extend each other in a circle are neither: they stay
    environments, and validating them reports the circle).
    """

    environments: tuple[Path, ...]
    # Each shared base -> the environments built on it, directly or through other bases.
    bases: Mapping[Path, tuple[Path, ...]]

    def environment_names(self) -> list[str]:
        return [file.stem for file in self.environments]

    def built_on(self, file: Path) -> tuple[Path, ...]:
        """The environments built on `file` if it is a shared base here; () otherwise."""
        wanted = file.resolve()
        return next((users for base, users in self.bases.items() if base.resolve() == wanted), ())


def scan_folder(directory: Path) -> SpecFolder:
    """Sort the spec files of `directory` into environments and shared bases.

    Reads only each file's top-level `extends` (see `top_level_text`), not whole specs.
    """
    if not directory.is_dir():
        return SpecFolder((), {})
    files = sorted(
        (p for p in directory.iterdir() if p.suffix in SPEC_SUFFIXES and p.is_file()),
        key=lambda p: p.name,
    )
    by_resolved = {file.resolve(): file for file in files}
    parent: dict[Path, Path] = {}
    for file in files:
        name = top_level_text(file, _EXTENDS)
        target = _sibling(file, name) if name else None
        if target is not None and target in by_resolved:
            parent[file] = by_resolved[target]
    ancestors = {file: _ancestors(file, parent) for file in files}
    # A file is a base when something outside its own chain of extends extends it.
    bases = {target for child, target in parent.items() if child not in ancestors[target]}
    environments = tuple(file for file in files if file not in bases)
    built_on = {
        base: tuple(env for env in environments if base in ancestors[env])
        for base in sorted(bases, key=lambda p: p.name)
    }
    return SpecFolder(environments, built_on)


def _ancestors(file: Path, parent: Mapping[Path, Path]) -> list[Path]:
    """What `file` extends, then what that extends, ...; stops at a circle."""
    found: list[Path] = []
    current = parent.get(file)
    while current is not None and current != file and current not in found:
        found.append(current)
        current = parent.get(current)
    return found
