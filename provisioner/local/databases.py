"""Realizes DB instances: each postgres instance of moto as a real PostgreSQL server.

A database is a network namespace of its own plugged into one subnet of its DB
subnet group, at the address of its interface in moto (see rdsmoto.py), with a
PostgreSQL server whose data lives under the local cloud's state folder (see
dbfarm.py). The instance says `creating` until its server accepts connections;
then the data plane makes it `available`. A stopped instance keeps its data;
started again, it says `starting` until it answers.

A changed instance (subnet, address, port, ...) gets its server started again
on the same data; a new master password is set on the running server. A deleted
instance loses its server, data, namespace and interface.
"""

from __future__ import annotations

import logging
from typing import Protocol

from provisioner.errors import LocalCloudError
from provisioner.local.dataplane import MotoReader
from provisioner.local.dbfarm import DatabaseFarm, ProcessState, ServerState
from provisioner.local.rdsmoto import (
    COMING_UP,
    STOPPED,
    DesiredDatabase,
    desired_databases,
    mark_available,
    release_interfaces,
)
from provisioner.local.vpcnet import VpcNetworks

log = logging.getLogger(__name__)

RESTART_DELAY = 5.0  # seconds between starts of a server that exits


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
        self, farm: DatabaseFarm, cloud: DatabaseCloud, start_timeout: float = 120.0
    ) -> None:
        self.farm = farm
        self.cloud = cloud
        self.start_timeout = start_timeout
        self._passwords: dict[str, str] = {}  # the one each server has, in this process only
        self._vpcs: set[str] = set()

    def step(self) -> None:
        """One pass: start, restart and remove servers; report those that answer."""
        desired = {d.spec.identifier: d for d in self.cloud.desired()}
        running = [d for d in desired.values() if d.status != STOPPED]
        for identifier, record in self.farm.records().items():
            want = desired.get(identifier)
            if want is None:
                self.farm.remove(record.spec)
                self._passwords.pop(identifier, None)
            elif want.status == STOPPED or want.spec != record.spec:
                # Stopped (data kept), or changed: started again on the same data.
                self.farm.power_off(record.spec)
        for want in running:
            try:
                self._advance(want)
            except Exception:
                log.exception("could not start the database %s", want.spec.identifier)
                self.farm.power_off(want.spec)
        self.farm.remove_unrecorded(keep=set(desired))
        self.cloud.release_interfaces({d.spec.arn for d in desired.values()})
        self._vpcs = {d.spec.vpc_id for d in running}

    def vpcs_in_use(self) -> set[str]:
        return set(self._vpcs)

    def teardown(self) -> None:
        """Remove every database of this cloud: servers, namespaces and data."""
        for record in self.farm.records().values():
            self.farm.remove(record.spec)
        self.farm.remove_unrecorded(keep=set())
        self._passwords.clear()
        self._vpcs = set()

    def _advance(self, want: DesiredDatabase) -> None:
        spec = want.spec
        record = self.farm.record(spec.identifier)
        process = self.farm.process(spec.identifier)
        if record is None or process is not ProcessState.RUNNING:
            if process is ProcessState.EXITED:
                if self.farm.seconds_since_start(spec.identifier) < RESTART_DELAY:
                    return  # a server that keeps failing is retried every few seconds
                log.warning("the server of %s exited; see its server.log", spec.identifier)
            self.farm.start(spec, want.password)
            if want.password is not None:
                self._passwords.setdefault(spec.identifier, want.password)
            return
        if record.state is ServerState.STARTING:
            if self.farm.accepts_connections(spec):
                self.farm.mark_ready(spec)
            elif self.farm.seconds_since_start(spec.identifier) > self.start_timeout:
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
        try:
            self.farm.change_password(want.spec, current, want.password)
        except LocalCloudError as error:  # the server keeps running; the next pass tries again
            log.warning("database %s: %s", identifier, error)
            return
        self._passwords[identifier] = want.password
        log.info("database %s has a new master password", identifier)
