"""Realizes DB instances: each postgres instance of moto as a real PostgreSQL server.

A database is a network namespace of its own plugged into one subnet of its DB
subnet group, at the address of its interface in moto (see rdsmoto.py), with a
PostgreSQL server (see postgres.py) whose data lives in the database's folder
under the local cloud's state folder. The instance says `creating` until its
server accepts connections; then the data plane makes it `available`. A stopped
instance keeps its data; started again, it says `starting` until it answers.

A changed instance (subnet, address, port, ...) gets its server started again
on the same data. A deleted instance loses its server, data, namespace and
interface. Only processes this data plane started, found by pid and by
namespace, are ever stopped.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from provisioner.errors import LocalCloudError
from provisioner.fsutil import atomic_write_json, read_json
from provisioner.local import postgres
from provisioner.local.dataplane import MotoReader
from provisioner.local.postgres import ServerConfig
from provisioner.local.rdsmoto import (
    COMING_UP,
    STOPPED,
    DatabaseSpec,
    DesiredDatabase,
    desired_databases,
    mark_available,
    namespace_of,
    release_interfaces,
)
from provisioner.local.vpcnet import VpcNetworks

log = logging.getLogger(__name__)

RESTART_DELAY = 5.0  # seconds between starts of a server that exits


class ServerState(StrEnum):
    """Where a database's server is: started and not answering yet, or accepting connections."""

    STARTING = "starting"
    READY = "ready"


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


class DatabaseCloud(Protocol):
    """The cloud side of the databases: what should run, and their status."""

    def desired(self) -> list[DesiredDatabase]: ...

    def mark_available(self, arn: str) -> None: ...

    def release_interfaces(self, live_arns: set[str]) -> None: ...


class MotoDatabases:
    """The DB instances of this process's moto, read and changed under its lock."""

    def __init__(self, moto: MotoReader, networks: VpcNetworks) -> None:
        self.moto = moto
        self.networks = networks

    def desired(self) -> list[DesiredDatabase]:
        return self.moto(lambda: desired_databases(self.networks))

    def mark_available(self, arn: str) -> None:
        self.moto(lambda: mark_available(arn))

    def release_interfaces(self, live_arns: set[str]) -> None:
        self.moto(lambda: release_interfaces(live_arns))


class DatabaseRealizer:
    """Makes each DB instance's server match it: starting, accepting connections, or gone."""

    name = "databases"

    def __init__(
        self,
        root: Path,
        networks: VpcNetworks,
        cloud: DatabaseCloud,
        start_timeout: float = 120.0,
    ) -> None:
        self.root = root
        self.networks = networks
        self.cloud = cloud
        self.start_timeout = start_timeout
        self._servers: dict[str, subprocess.Popen[bytes]] = {}
        self._started: dict[str, float] = {}
        self._passwords: dict[str, str] = {}  # the one each server has, in this process only
        self._vpcs: set[str] = set()

    def folder(self, identifier: str) -> Path:
        return self.root / identifier

    def data_folder(self, identifier: str) -> Path:
        """The server's own folder (owned by postgres): its configuration and `data/`."""
        return self.folder(identifier) / "server"

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

    def step(self) -> None:
        """One pass: start, restart and remove servers; report those that answer."""
        desired = {d.spec.identifier: d for d in self.cloud.desired()}
        running = [d for d in desired.values() if d.status != STOPPED]
        for identifier, record in self.records().items():
            want = desired.get(identifier)
            if want is None:
                self.remove(record.spec)
            elif want.status == STOPPED or want.spec != record.spec:
                # Stopped (data kept), or changed: started again on the same data.
                self._power_off(record.spec)
        for want in running:
            try:
                self._advance(want)
            except Exception:
                log.exception("could not start the database %s", want.spec.identifier)
                self._power_off(want.spec)
        self._remove_unrecorded(keep=set(desired))
        self.cloud.release_interfaces({d.spec.arn for d in desired.values()})
        self._vpcs = {d.spec.vpc_id for d in running}

    def vpcs_in_use(self) -> set[str]:
        return set(self._vpcs)

    def teardown(self) -> None:
        """Remove every database of this cloud: servers, namespaces and data."""
        for record in self.records().values():
            self.remove(record.spec)
        self._remove_unrecorded(keep=set())
        self._vpcs = set()

    def remove(self, spec: DatabaseSpec) -> None:
        """Stop the server, unplug and delete its namespace, delete its data."""
        self._power_off(spec)
        shutil.rmtree(self.folder(spec.identifier), ignore_errors=True)
        self._passwords.pop(spec.identifier, None)

    def _remove_unrecorded(self, keep: set[str]) -> None:
        """Delete the folders (data) of databases that are neither recorded nor wanted."""
        if not self.root.is_dir():
            return
        for folder in self.root.iterdir():
            if folder.name not in keep and DatabaseRecord.load(folder) is None:
                shutil.rmtree(folder, ignore_errors=True)

    def _advance(self, want: DesiredDatabase) -> None:
        spec = want.spec
        record = DatabaseRecord.load(self.folder(spec.identifier))
        server = self._servers.get(spec.identifier)
        if record is None or server is None or server.poll() is not None:
            if server is not None and server.poll() is not None:
                if time.monotonic() - self._started[spec.identifier] < RESTART_DELAY:
                    return  # a server that keeps failing is retried every few seconds
                log.warning("the server of %s exited; see its server.log", spec.identifier)
            self._start(want)
            return
        if record.state is ServerState.STARTING:
            namespace = namespace_of(self.networks, spec.arn)
            if postgres.accepts_connections(namespace, spec.server):
                (self.data_folder(spec.identifier) / "pwfile").unlink(missing_ok=True)
                DatabaseRecord(spec, ServerState.READY).save(self.folder(spec.identifier))
                log.info(
                    "database %s accepts connections at %s:%s, %.1fs after its server started",
                    spec.identifier, spec.server.address, spec.server.port,
                    time.monotonic() - self._started[spec.identifier],
                )  # fmt: skip
            elif time.monotonic() - self._started[spec.identifier] > self.start_timeout:
                raise LocalCloudError(f"the server of {spec.identifier} did not start in time")
            else:
                return
        self._follow_password(want)
        if want.status in COMING_UP:
            self.cloud.mark_available(spec.arn)

    def _follow_password(self, want: DesiredDatabase) -> None:
        """A password changed by ModifyDBInstance becomes the server's, in place."""
        identifier = want.spec.identifier
        current = self._passwords.get(identifier)
        if want.password is None or current is None or want.password == current:
            return
        namespace = namespace_of(self.networks, want.spec.arn)
        try:
            postgres.change_password(namespace, want.spec.server, current, want.password)
        except LocalCloudError as error:  # the server keeps running; the next pass tries again
            log.warning("database %s: %s", identifier, error)
            return
        self._passwords[identifier] = want.password
        log.info("database %s has a new master password", identifier)

    def _start(self, want: DesiredDatabase) -> None:
        spec = want.spec
        self._power_off(spec)
        folder = self.folder(spec.identifier)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        DatabaseRecord(spec, ServerState.STARTING).save(folder)
        namespace = namespace_of(self.networks, spec.arn)
        self.networks.attach(namespace, spec.attachment, default_route=True)
        server_folder = self.data_folder(spec.identifier)
        uninitialized = not (server_folder / "data" / "PG_VERSION").exists()
        if want.password is None and uninitialized:
            raise LocalCloudError(f"the database {spec.identifier} has no master password")
        postgres.prepare(server_folder, spec.server, want.password)
        if want.password is not None and uninitialized:
            self._passwords[spec.identifier] = want.password
        self._started[spec.identifier] = time.monotonic()
        self._servers[spec.identifier] = postgres.start(
            namespace, server_folder, spec.server, folder / "boot.sh", folder / "server.log"
        )

    def _power_off(self, spec: DatabaseSpec) -> None:
        """Stop the server and everything else in its namespace; unplug and delete it."""
        postgres.stop(self._servers.pop(spec.identifier, None))
        self._started.pop(spec.identifier, None)
        self.networks.detach(namespace_of(self.networks, spec.arn), [spec.attachment])
        (self.folder(spec.identifier) / "database.json").unlink(missing_ok=True)
