"""What the database data plane reads from and changes in moto's RDS (in the daemon process).

moto makes a DB instance `available` at once and accepts any engine version.
`install_engine_checks` changes its create and modify in this process: a create
or modify with an engine or major version the local cloud does not serve is
refused with an RDS error, and a new (or started) instance says `creating`
(`starting`) until the data plane finds its server accepting connections
(`mark_available`). moto's
requests run one at a time under the daemon's lock, so no describe can see an
instance between its create and that status.

Call the other functions with moto's lock held (see dataplane.MotoReader).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.local.interfaces import ensure_interface, managed_interfaces, remove_interfaces
from provisioner.local.postgres import ServerConfig, installed_version, major_of, version_refusal
from provisioner.local.vpcnet import Attachment, VpcNetworks

log = logging.getLogger(__name__)

CREATING = "creating"
STARTING = "starting"
AVAILABLE = "available"
STOPPED = "stopped"
COMING_UP = frozenset({CREATING, STARTING})  # says so until its server accepts connections
INTERFACE_DESCRIPTION = "RDSNetworkInterface"


@dataclass(frozen=True)
class DatabaseSpec:
    """What the cloud says one database server should be (never its password)."""

    identifier: str
    arn: str
    vpc_id: str
    subnet_id: str
    subnet_cidr: str
    server: ServerConfig

    @property
    def attachment(self) -> Attachment:
        return Attachment(
            vpc_id=self.vpc_id,
            subnet_id=self.subnet_id,
            subnet_cidr=self.subnet_cidr,
            address=self.server.address,
            peer=f"vd-{arn_key(self.arn)[:8]}",
        )


@dataclass(frozen=True)
class DesiredDatabase:
    """A DB instance moto holds: its spec, its master password and its status."""

    spec: DatabaseSpec
    password: str | None = field(repr=False)
    status: str


def arn_key(arn: str) -> str:
    """A short stable name for a database's namespace and links, unique per ARN."""
    return hashlib.sha256(arn.encode()).hexdigest()[:10]


def namespace_of(networks: VpcNetworks, arn: str) -> str:
    return networks.namespace("db", f"db-{arn_key(arn)}")


def rds_backends() -> Iterator[tuple[str, str, Any]]:
    """(account, region, backend) of every RDS backend that has been used."""
    from moto.rds.models import rds_backends as backends  # the daemon serves moto in-process

    for account, regions in list(backends.items()):
        for region, backend in list(regions.items()):
            yield account, region, backend


def _ec2(account: str, region: str) -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends[account][region]


def desired_databases(networks: VpcNetworks) -> list[DesiredDatabase]:
    """Every postgres DB instance, each given its interface (address) in one of its subnets."""
    found = []
    for account, region, backend in rds_backends():
        for database in list(backend.databases.values()):
            desired = _desired(networks, _ec2(account, region), database)
            if desired is not None:
                found.append(desired)
    return found


def _desired(networks: VpcNetworks, ec2: Any, database: Any) -> DesiredDatabase | None:
    group = getattr(database, "db_subnet_group", None)
    if database.engine != "postgres" or group is None or not group._subnets:
        return None  # only postgres in a DB subnet group is served
    subnet = min(group._subnets, key=lambda s: (s.availability_zone, s.id))
    arn = database.arn
    interface = ensure_interface(
        ec2,
        owner=arn,
        namespace=namespace_of(networks, arn),
        subnet_id=subnet.id,
        group_ids=list(database.vpc_security_group_ids),
        description=INTERFACE_DESCRIPTION,
    )
    remove_interfaces(ec2, arn, keep=frozenset({subnet.id}))
    server = ServerConfig(
        major=major_of(database.engine_version),
        address=interface.address,
        port=int(database.port),
        vpc_cidr=ec2.get_vpc(subnet.vpc_id).cidr_block,
        master_username=str(database.master_username),
        db_name=database.db_name,
    )
    spec = DatabaseSpec(
        identifier=database.db_instance_identifier,
        arn=arn,
        vpc_id=subnet.vpc_id,
        subnet_id=subnet.id,
        subnet_cidr=subnet.cidr_block,
        server=server,
    )
    return DesiredDatabase(spec, getattr(database, "_master_user_password", None), database.status)


def mark_available(arn: str) -> None:
    """The instance of `arn` says `available` (if it still exists and was coming up)."""
    for _account, _region, backend in rds_backends():
        for database in list(backend.databases.values()):
            if database.arn == arn and database.status in COMING_UP:
                database.status = AVAILABLE


def release_interfaces(live_arns: set[str]) -> None:
    """Delete the interfaces of DB instances that no longer exist."""
    for account, region, _backend in rds_backends():
        ec2 = _ec2(account, region)
        for interface in managed_interfaces(ec2):
            owner = interface.owner
            if ":rds:" in owner and ":db:" in owner and owner not in live_arns:
                remove_interfaces(ec2, owner)


def create_refusal(db_kwargs: Mapping[str, Any], served: tuple[str, ...]) -> str | None:
    """Why the local cloud cannot serve a CreateDBInstance (moto's parameters), or None."""
    refusal = version_refusal(db_kwargs.get("engine"), db_kwargs.get("engine_version"), served)
    if refusal is not None:
        return refusal
    if not (db_kwargs.get("master_username") and db_kwargs.get("master_user_password")):
        return "the local cloud needs MasterUsername and MasterUserPassword"
    if not db_kwargs.get("db_subnet_group_name"):
        return "the local cloud needs DBSubnetGroupName (it serves databases in VPC subnets)"
    return None


def install_engine_checks(served: tuple[str, ...]) -> None:
    """Make moto's RDS refuse engines and versions the local cloud cannot serve (idempotent)."""
    from moto.rds.exceptions import InvalidParameterCombination
    from moto.rds.models import RDSBackend

    if getattr(RDSBackend, "_local_engine_checks", False):
        return
    default_version = installed_version(served[-1]) if served else None
    create: Callable[..., Any] = RDSBackend.create_db_instance
    modify: Callable[..., Any] = RDSBackend.modify_db_instance
    start: Callable[..., Any] = RDSBackend.start_db_instance

    def checked_create(self: Any, db_kwargs: dict[str, Any]) -> Any:
        refusal = create_refusal(db_kwargs, served)
        if refusal is not None:
            raise InvalidParameterCombination(refusal)
        if not db_kwargs.get("engine_version"):
            db_kwargs["engine_version"] = default_version
        database = create(self, db_kwargs)
        database.status = CREATING
        return database

    def checked_modify(self: Any, db_instance_identifier: str, db_kwargs: dict[str, Any]) -> Any:
        version = db_kwargs.get("engine_version")
        if version:
            [current] = self.describe_db_instances(db_instance_identifier)
            refusal = version_refusal(current.engine, version, served)
            if refusal is None and major_of(version) != major_of(current.engine_version):
                refusal = (
                    f"the local cloud cannot upgrade PostgreSQL {current.engine_version} "
                    f"to another major version ({version}) in place"
                )
            if refusal is not None:
                raise InvalidParameterCombination(refusal)
        return modify(self, db_instance_identifier, db_kwargs)

    def start_then_wait(self: Any, db_instance_identifier: str) -> Any:
        database = start(self, db_instance_identifier)
        database.status = STARTING
        return database

    RDSBackend.start_db_instance = start_then_wait  # type: ignore[method-assign]
    RDSBackend.create_db_instance = checked_create  # type: ignore[method-assign]
    RDSBackend.modify_db_instance = checked_modify  # type: ignore[method-assign]
    RDSBackend._local_engine_checks = True  # type: ignore[attr-defined]
