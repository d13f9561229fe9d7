"""Database servers on this machine: namespaces, folders and PostgreSQL processes.

A database is a network namespace of its own plugged into one subnet (see
vpcnet.py) with a PostgreSQL server (see postgres.py). Its folder under the local
cloud's state folder holds its record (`database.json`: what it was started as,
and whether it accepts connections yet), its boot script and log, and the
server's own folder (`server/`, owned by postgres: configuration and `data/`).

Only processes this farm started are signalled by pid (through their Popen);
the rest of a database's namespace is stopped by namespace (see vpcnet.stop_all).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from provisioner.errors import LocalCloudError
from provisioner.fsutil import atomic_write_json, read_json
from provisioner.local import postgres
from provisioner.local.postgres import ServerConfig
from provisioner.local.rdsmoto import DatabaseSpec, namespace_of
from provisioner.local.vpcnet import VpcNetworks

log = logging.getLogger(__name__)


class ServerState(StrEnum):
    """Where a database's server is: started and not answering yet, or accepting connections."""

    STARTING = "starting"
    READY = "ready"


class ProcessState(StrEnum):
    """Whether the farm's process for a database runs, has exited, or was never started."""

    NONE = "none"
    RUNNING = "running"
    EXITED = "exited"


@dataclass(frozen=True)
class DatabaseRecord:
    """A realized database, as recorded in its folder."""

    spec: DatabaseSpec
    state: ServerState

    @classmethod
    def load(cls, folder: Path) -> DatabaseRecord | None:
        data = read_json(folder / "database.json")
        if not isinstance(data, dict):
            return None
        try:
            spec = dict(data["spec"])
            spec["server"] = ServerConfig(**spec["server"])
            return cls(DatabaseSpec(**spec), ServerState(str(data["state"])))
        except (KeyError, TypeError, ValueError):
            return None

    def save(self, folder: Path) -> None:
        atomic_write_json(
            folder / "database.json", {"spec": asdict(self.spec), "state": self.state}
        )


class DatabaseFarm:
    """Starts, probes and removes database servers; their files live under `root`."""

    def __init__(self, root: Path, networks: VpcNetworks) -> None:
        self.root = root
        self.networks = networks
        self._servers: dict[str, subprocess.Popen[bytes]] = {}
        self._started: dict[str, float] = {}

    def folder(self, identifier: str) -> Path:
        return self.root / identifier

    def server_folder(self, identifier: str) -> Path:
        """The server's own folder (owned by postgres): its configuration and `data/`."""
        return self.folder(identifier) / "server"

    def record(self, identifier: str) -> DatabaseRecord | None:
        return DatabaseRecord.load(self.folder(identifier))

    def records(self) -> dict[str, DatabaseRecord]:
        """Every database realized so far, by identifier."""
        if not self.root.is_dir():
            return {}
        found = {}
        for folder in self.root.iterdir():
            record = DatabaseRecord.load(folder)
            if record is not None:
                found[record.spec.identifier] = record
        return found

    def process(self, identifier: str) -> ProcessState:
        server = self._servers.get(identifier)
        if server is None:
            return ProcessState.NONE
        return ProcessState.RUNNING if server.poll() is None else ProcessState.EXITED

    def seconds_since_start(self, identifier: str) -> float:
        started = self._started.get(identifier)
        return float("inf") if started is None else time.monotonic() - started

    def start(self, spec: DatabaseSpec, password: str | None) -> None:
        """Start the server on its data (initialised with `password` if it has none yet)."""
        self.power_off(spec)
        folder = self.folder(spec.identifier)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        DatabaseRecord(spec, ServerState.STARTING).save(folder)
        namespace = namespace_of(self.networks, spec.arn)
        self.networks.attach(namespace, spec.attachment, default_route=True)
        server_folder = self.server_folder(spec.identifier)
        if password is None and not (server_folder / "data" / "PG_VERSION").exists():
            raise LocalCloudError(f"the database {spec.identifier} has no master password")
        postgres.prepare(server_folder, spec.server, password)
        self._started[spec.identifier] = time.monotonic()
        self._servers[spec.identifier] = postgres.start(
            namespace, server_folder, spec.server, folder / "boot.sh", folder / "server.log"
        )

    def accepts_connections(self, spec: DatabaseSpec) -> bool:
        return postgres.accepts_connections(namespace_of(self.networks, spec.arn), spec.server)

    def mark_ready(self, spec: DatabaseSpec) -> None:
        (self.server_folder(spec.identifier) / "pwfile").unlink(missing_ok=True)
        DatabaseRecord(spec, ServerState.READY).save(self.folder(spec.identifier))
        log.info(
            "database %s accepts connections at %s:%s, %.1fs after its server started",
            spec.identifier, spec.server.address, spec.server.port,
            self.seconds_since_start(spec.identifier),
        )  # fmt: skip

    def change_password(self, spec: DatabaseSpec, current: str, new: str) -> None:
        namespace = namespace_of(self.networks, spec.arn)
        postgres.change_password(namespace, spec.server, current, new)

    def power_off(self, spec: DatabaseSpec) -> None:
        """Stop the server and everything else in its namespace; unplug it; keep its data."""
        postgres.stop(self._servers.pop(spec.identifier, None))
        self._started.pop(spec.identifier, None)
        self.networks.detach(namespace_of(self.networks, spec.arn), [spec.attachment])
        (self.folder(spec.identifier) / "database.json").unlink(missing_ok=True)

    def remove(self, spec: DatabaseSpec) -> None:
        """Power the database off and delete its folder: data, configuration, logs."""
        self.power_off(spec)
        shutil.rmtree(self.folder(spec.identifier), ignore_errors=True)

    def remove_unrecorded(self, keep: set[str]) -> None:
        """Delete the folders (data) of databases that are neither recorded nor in `keep`."""
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            if folder.name not in keep and DatabaseRecord.load(folder) is None:
                shutil.rmtree(folder, ignore_errors=True)
