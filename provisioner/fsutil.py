"""Small filesystem primitives shared by every layer: atomic writes and private files."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_text(path: Path, text: str, *, mode: int = 0o644) -> None:
    """Write `text` to `path` so readers see either the old or the new content, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_json(path: Path, data: Any, *, mode: int = 0o644) -> None:
    """Atomically write `data` as indented JSON."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode=mode)


def read_json(path: Path) -> Any | None:
    """Return the JSON in `path`, or None when the file is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


# A socket's path is limited to 107 bytes; room is left for a `.PID.tmp` some programs add.
_SOCKET_PATH_ROOM = 90


def socket_path(folder: Path, name: str, kind: str) -> Path:
    """`folder/name` for a Unix socket, or a path in /run (root's) named after the folder.

    A deep folder (a test's state folder, say) cannot hold a socket: its path is too long.
    """
    inside = folder / name
    if len(str(inside).encode()) <= _SOCKET_PATH_ROOM:
        return inside
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return Path("/run") / f"provision-{kind}-{digest}.sock"
