"""Where the project keeps its state on disk.

Everything a run writes (local-cloud daemon files, Pulumi state and home, run
history, logs) lives under one state folder: `$PROVISION_STATE_DIR`, or
`.provision/` in the current directory, much like Terraform's `.terraform/`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STATE_DIR_ENV = "PROVISION_STATE_DIR"


@dataclass(frozen=True)
class StatePaths:
    """The layout of the state folder."""

    root: Path

    @classmethod
    def discover(cls) -> StatePaths:
        """Use `$PROVISION_STATE_DIR`, else `./.provision`."""
        configured = os.environ.get(STATE_DIR_ENV)
        root = Path(configured) if configured else Path.cwd() / ".provision"
        return cls(root.resolve())

    @property
    def local(self) -> Path:
        """The local cloud's control files: daemon record, lock, log."""
        return self.root / "local"

    @property
    def pulumi_home(self) -> Path:
        """PULUMI_HOME for every Pulumi process we start (plugins, credentials, workspaces)."""
        return self.root / "pulumi-home"

    @property
    def pulumi_state(self) -> Path:
        """The default Pulumi file backend: one folder for every environment's stack."""
        return self.root / "state"

    @property
    def secrets(self) -> Path:
        """Generated passphrases for local-cloud environments (0700 folder, 0600 files)."""
        return self.root / "secrets"

    @property
    def logs(self) -> Path:
        """Debug logs written when something unexpected happens."""
        return self.root / "logs"

    @property
    def ansible_home(self) -> Path:
        """ANSIBLE_HOME for every Ansible run: its collections and caches stay here."""
        return self.root / "ansible-home"

    @property
    def runs_root(self) -> Path:
        """Every environment's run records: `runs/ENV/RUN_ID/` (and `runs/_several/`)."""
        return self.root / "runs"

    def runs(self, environment: str) -> Path:
        """Per-run folders of one environment (Ansible's private data directories live here)."""
        return self.runs_root / environment

    def known_hosts(self, environment: str) -> Path:
        """The environment's pinned SSH host keys."""
        return self.root / "ssh" / environment / "known_hosts"

    @property
    def locks(self) -> Path:
        """One lock file per environment (file state); see engine.locking."""
        return self.root / "locks"
