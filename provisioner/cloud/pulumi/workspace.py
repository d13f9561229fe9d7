"""The Pulumi CLI and the workspace it runs in: where the CLI is, its version, its settings.

Also the CLI's running processes: a run stops them as Ctrl-C would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from semver import VersionInfo

from provisioner.cloud.provider_host import DEFAULT_PARALLELISM, WORKERS_ENV
from provisioner.errors import ToolMissingError
from provisioner.fsutil import atomic_write_text
from provisioner.procs import ProcessIdentity, command_line, stop

SETUP_HINT = "run `make setup`, which builds or finds a Pulumi CLI matching the SDK"
# `make setup` writes the version of the CLI it checked beside it, in this file.
VERSION_STAMP = "pulumi.version"
PROJECT_FILE = "Pulumi.yaml"


def find_pulumi_cli() -> Path:
    """The Pulumi CLI: the one `make setup` put beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).parent / "pulumi"
    if beside.exists():
        return beside
    on_path = shutil.which("pulumi")
    if on_path:
        return Path(on_path)
    raise ToolMissingError("pulumi", hint=SETUP_HINT)


def recorded_version(cli: Path) -> VersionInfo | None:
    """The version `make setup` recorded beside `cli` (the link it made in the venv), if any."""
    stamp = cli.parent / VERSION_STAMP
    try:
        return VersionInfo.parse(stamp.read_text().strip().removeprefix("v"))
    except (OSError, ValueError):
        return None


# The Go runtime's collector in each `pulumi` run, unless the user set their own. A run
# is short and its heap small: collecting at 5x the live heap instead of 2x took 15 %
# less CPU over up, plan and down of 24 resources (0.38 -> 0.32 CPU-s a CLI run), and a
# command as small as `pulumi version` 40 % less. The soft limit bounds the heap of a
# large stack: past 2 GiB the collector runs as often as it must to stay under it.
GO_GARBAGE_COLLECTION = (("GOGC", "400"), ("GOMEMLIMIT", "2GiB"))


@dataclass(frozen=True)
class EngineSettings:
    """Where a stack's state lives and the environment its engine runs with."""

    state_url: str
    pulumi_home: Path
    passphrase: str = field(repr=False)
    env: Mapping[str, str] = field(default_factory=dict)
    # How many resource operations run at once (the engine's steps and the provider's threads).
    parallelism: int = DEFAULT_PARALLELISM

    def engine_env(self) -> dict[str, str]:
        """Environment for the CLI and the plugins it starts (our dynamic providers)."""
        tool_dir = str(Path(sys.executable).parent)
        return {
            # Plugins (pulumi-resource-pulumi-python) and tools sit beside our interpreter.
            "PATH": os.pathsep.join([tool_dir, os.environ.get("PATH", "")]),
            "PULUMI_HOME": str(self.pulumi_home),
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            WORKERS_ENV: str(self.parallelism),
            **{name: os.environ.get(name, default) for name, default in GO_GARBAGE_COLLECTION},
            **self.env,
        }

    def work_folder(self, stack: str) -> Path:
        """The stack's own working folder (Pulumi.yaml), made if missing.

        The Automation API would make one in the system temp folder for every run
        and never remove it.
        """
        folder = self.pulumi_home / "work" / stack
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def write_project_file(work_folder: Path, settings: Mapping[str, Any]) -> None:
    """Write Pulumi.yaml atomically, and only when it changes.

    A `plan` may open the stack while an `up` of it runs in the same folder:
    the CLI must never read a half-written project file.
    """
    path = work_folder / PROJECT_FILE
    text = yaml.safe_dump(dict(settings), sort_keys=True)
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text:
            return
    atomic_write_text(path, text)


def interrupt_engines(pids: Iterable[int], *, grace_seconds: float = 60.0) -> int:
    """Stop the `pulumi` CLI processes among `pids` as Ctrl-C would (SIGINT); returns how many.

    Pulumi then finishes the steps in flight, writes its checkpoint, releases its
    lock and exits. Killed outright instead, it may be writing that checkpoint: see
    `state.repair_interrupted_writes`. After `grace_seconds` it is killed all the same.
    """
    engines = [
        engine
        for pid in pids
        if _is_pulumi_cli(pid) and (engine := ProcessIdentity.of(pid)) is not None
    ]
    stop(engines, signal.SIGINT, grace_seconds=grace_seconds)
    return len(engines)


def _is_pulumi_cli(pid: int) -> bool:
    argv = command_line(pid)
    return bool(argv) and Path(argv[0]).name == "pulumi"
