"""The daemon record: the one file that says which local-cloud daemon is ours."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from provisioner.fsutil import atomic_write_json, read_json
from provisioner.jsonable import load
from provisioner.procs import ProcessIdentity

DAEMON_MODULE = "provisioner.local.daemon"
LISTEN_ADDRESS = "127.0.0.1"


@dataclass(frozen=True)
class LocalPaths:
    """Files of the local cloud's control plane, under the state folder."""

    root: Path

    @property
    def record(self) -> Path:
        return self.root / "daemon.json"

    @property
    def lock(self) -> Path:
        return self.root / "control.lock"

    @property
    def log(self) -> Path:
        return self.root / "daemon.log"

    @property
    def hosts(self) -> Path:
        """One folder per namespace host (its sshd files and copy-on-write layers)."""
        return self.root / "hosts"

    @property
    def load_balancers(self) -> Path:
        """One folder per load balancer (its HAProxy's configuration, stats socket and log)."""
        return self.root / "load_balancers"

    @property
    def databases(self) -> Path:
        """One folder per database (its PostgreSQL server's configuration and data)."""
        return self.root / "databases"

    @property
    def resolvers(self) -> Path:
        """One folder per VPC resolver (its dnsmasq's config, names, pid and log)."""
        return self.root / "resolvers"

    @property
    def packages(self) -> Path:
        """The package cache's config and log, and the package relays' records and logs."""
        return self.root / "packages"


@dataclass(frozen=True)
class DaemonRecord:
    """What the daemon writes once it listens: who it is and where."""

    pid: int
    start_ticks: int
    port: int
    started_at: str

    @property
    def identity(self) -> ProcessIdentity:
        return ProcessIdentity(self.pid, self.start_ticks)

    @property
    def endpoint(self) -> str:
        return f"http://{LISTEN_ADDRESS}:{self.port}"

    def save(self, path: Path) -> None:
        atomic_write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> DaemonRecord | None:
        """Read the record, or None if it is missing or malformed."""
        try:
            return load(cls, read_json(path))
        except ValueError:
            return None
