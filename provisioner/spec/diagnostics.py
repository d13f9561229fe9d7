"""Diagnostics: one problem in a spec, with its file, line, column and field path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from provisioner.errors import ProvisionError

FieldPath = tuple[str | int, ...]


def format_path(path: FieldPath) -> str:
    """("vms", "web", "security_groups", 1) -> "vms.web.security_groups[1]"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(document)"


class Location(NamedTuple):
    """A position in a file; line and column count from 1. (A tuple: one is made per YAML node.)"""

    file: Path
    line: int
    column: int

    def __str__(self) -> str:
        return f"{_display(self.file)}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem: where it is, which field, and a one-line reason."""

    location: Location
    path: FieldPath
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {format_path(self.path)}: {self.message}"

    def to_json(self) -> dict[str, object]:
        return {
            "file": _display(self.location.file),
            "line": self.location.line,
            "column": self.location.column,
            "path": format_path(self.path),
            "message": self.message,
        }


def sort_diagnostics(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """File order, then line and column, without duplicates."""
    unique = {(d.location, d.path, d.message): d for d in diagnostics}
    return [unique[key] for key in sorted(unique, key=lambda k: (k[0], str(k[1]), k[2]))]


class SpecError(ProvisionError):
    """The spec has problems; every one of them is in `diagnostics`."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sort_diagnostics(diagnostics)
        count = len(self.diagnostics)
        super().__init__(f"the spec has {count} problem{'s' if count != 1 else ''}")


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
