"""RDS database instance: waited until available; its master password is a generated secret.

Creating. The identifier is unique in the region: made once as rds.py says. The
password is generated once per create, before the first attempt, so an
instance adopted after a lost answer has the password this create returns.

Waiting. A create or a change waits until the instance is `available` (it
accepts connections), within the spec's `timeouts.database`.

Changing. The class, storage, engine version, groups and deletion protection
change in place, applied at once; a major engine version only if the spec
allows it (the plan refuses it before: `refusals`).

Deleting. An instance with deletion protection may not be deleted
(`delete_blocker`): `down` refuses before deleting anything and names it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from pulumi.dynamic import CreateResult, UpdateResult

from provisioner.cloud.aws import tags
from provisioner.cloud.aws.base import Described, Outputs, Prop, prop_table, undo_on_failure
from provisioner.cloud.aws.exactly_once import (
    ADDRESS_TAG,
    ENV_TAG,
    delete_confirmed,
    settle,
)
from provisioner.cloud.aws.instance import OP_TIMEOUT
from provisioner.cloud.aws.kind import CloudKind
from provisioner.cloud.aws.rds import DbSubnetGroupProvider, RdsProvider
from provisioner.errors import CloudError
from provisioner.graph.kinds.database import DatabaseNode
from provisioner.plan import ResourceChange
from provisioner.spec.diagnostics import FieldPath
from provisioner.spec.kinds.database import DATABASE, major_version

# The spec's `timeouts.database` is carried as the operational setting OP_TIMEOUT.
DEFAULT_TIMEOUT = 1200
# Operational too: whether an update may move to another major engine version.
ALLOW_MAJOR = "allow_major_version_upgrade"
_POLL_FIRST, _POLL_CAP = 1.0, 10.0
# Statuses from which an instance will not become available by itself.
_HOPELESS = frozenset(
    {
        "failed",
        "incompatible-parameters",
        "incompatible-network",
        "incompatible-restore",
        "storage-full",
        "deleting",
        "inaccessible-encryption-credentials",
        "stopped",
    }
)
_PASSWORD_BYTES = 24  # 32 characters of [A-Za-z0-9_-]: RDS's rules allow them all


class DbInstanceProvider(RdsProvider):
    """One database instance; its master password is generated at create and kept secret."""

    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("identifier", "engine", "db_name", "username", "subnet_group_name", "region"),
        inputs=(
            "engine_version",
            "instance_class",
            "allocated_storage",
            "security_group_ids",
            "deletion_protection",
            "tags",
        ),
        settings=(OP_TIMEOUT, ALLOW_MAJOR),
        id_output="db_instance_id",
        stable=("arn", "password"),
        outputs=("address", "port"),
        secret=("password",),
    )
    not_found = frozenset({"DBInstanceNotFound", "DBInstanceNotFoundFault"})
    create_landed = frozenset({"DBInstanceAlreadyExists", "DBInstanceAlreadyExistsFault"})
    # A repeated delete meets the first one's instance, already deleting.
    _deleting = frozenset({*not_found, "InvalidDBInstanceState", "InvalidDBInstanceStateFault"})

    def create(self, props: dict[str, Any]) -> CreateResult:
        rds, name = self.client(props), props["identifier"]
        password = secrets.token_urlsafe(_PASSWORD_BYTES)
        self.create_named(
            props,
            name,
            lambda once, marked: once.create_db_instance(
                DBInstanceIdentifier=name,
                Engine=props["engine"],
                EngineVersion=props["engine_version"],
                DBInstanceClass=props["instance_class"],
                AllocatedStorage=int(props["allocated_storage"]),
                DBName=props["db_name"],
                MasterUsername=props["username"],
                MasterUserPassword=password,
                DBSubnetGroupName=props["subnet_group_name"],
                VpcSecurityGroupIds=props["security_group_ids"],
                DeletionProtection=props["deletion_protection"],
                PubliclyAccessible=False,
                AutoMinorVersionUpgrade=False,  # the spec pins the version
                Tags=marked,
            )["DBInstance"],
            lambda: self._described(rds, name),
            lambda found: tags.value_of(found.get("TagList"), tags.TOKEN_TAG),
        )
        with undo_on_failure(lambda: self._discard(rds, name, props)):
            ready = wait_available(rds, name, props)
        outs = {**props, **_endpoint(ready), "db_instance_id": name, "arn": ready["DBInstanceArn"]}
        return CreateResult(id_=name, outs={**outs, "password": password})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        rds = self.client(news)
        request = modification(olds, news)
        if request:
            settle(lambda: rds.modify_db_instance(DBInstanceIdentifier=id_, **request))
            wait_available(rds, id_, news, after_change=True)
        self.sync_tags(rds, olds["arn"], olds.get("tags") or {}, news["tags"])
        described = self._described(rds, id_) or {}
        return UpdateResult(outs={**news, **self.kept(olds), **_endpoint(described)})

    @classmethod
    def read_many(
        cls, client: Any, recorded: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Outputs]:
        """One paginated describe of the region's instances."""
        return {
            str(found["DBInstanceIdentifier"]): _live(found)
            for found in cls._all(client)
            if found["DBInstanceIdentifier"] in recorded and found["DBInstanceStatus"] != "deleting"
        }

    @classmethod
    def remove(cls, client: Any, id_: str, props: Mapping[str, Any]) -> None:
        """Delete it (no final snapshot), then wait until it is gone, freeing its subnet group."""
        delete_confirmed(
            lambda: client.delete_db_instance(
                DBInstanceIdentifier=id_, SkipFinalSnapshot=True, DeleteAutomatedBackups=True
            ),
            lambda: (
                (found := cls._described(client, id_)) is not None
                and found["DBInstanceStatus"] != "deleting"
            ),
            cls._deleting,
        )
        deadline = time.monotonic() + float(props.get(OP_TIMEOUT) or DEFAULT_TIMEOUT)
        for delay in _polls():
            if cls._described(client, id_) is None:
                return
            if time.monotonic() + delay > deadline:
                raise CloudError(f"database '{id_}' was still deleting after the timeout")
            time.sleep(delay)

    @classmethod
    def delete_blocker(cls, client: Any, id_: str, recorded: Mapping[str, Any]) -> str | None:
        """An instance with deletion protection on (as it is live, not only as recorded)."""
        if not cls._protected(client, id_):
            return None
        address = (recorded.get("tags") or {}).get(ADDRESS_TAG) or id_
        return (
            f"database {address} has deletion_protection: true (set it to false and run up first)"
        )

    @classmethod
    def orphans(cls, client: Any, environment: str, known_ids: set[str]) -> list[Described]:
        return [
            found
            for found in cls._all(client)
            if found["DBInstanceIdentifier"] not in known_ids
            and tags.value_of(found.get("TagList"), ENV_TAG) == environment
        ]

    @classmethod
    def id_of(cls, described: Described) -> str:
        return str(described["DBInstanceIdentifier"])

    @classmethod
    def _discard(cls, rds: Any, id_: str, props: Mapping[str, Any]) -> None:
        """Delete an instance whose create failed after it was made, protected or not."""
        if cls._protected(rds, id_):
            settle(
                lambda: rds.modify_db_instance(
                    DBInstanceIdentifier=id_, DeletionProtection=False, ApplyImmediately=True
                )
            )
        cls.remove(rds, id_, props)

    @classmethod
    def _protected(cls, rds: Any, id_: str) -> bool:
        found = cls._described(rds, id_)
        return bool(found and found.get("DeletionProtection"))

    @classmethod
    def _all(cls, rds: Any) -> Iterator[Described]:
        for page in rds.get_paginator("describe_db_instances").paginate():
            yield from page.get("DBInstances", [])

    @classmethod
    def _described(cls, rds: Any, id_: str) -> Described | None:
        return cls.one_described(
            lambda: rds.describe_db_instances(DBInstanceIdentifier=id_)["DBInstances"]
        )


def modification(olds: Mapping[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
    """The ModifyDBInstance parameters that take an instance from `olds` to `news` (applied
    at once); empty if nothing but tags changes. A major version needs the spec's consent."""
    request: dict[str, Any] = {}
    fields = {
        "instance_class": "DBInstanceClass",
        "allocated_storage": "AllocatedStorage",
        "deletion_protection": "DeletionProtection",
    }
    for name, parameter in fields.items():
        if olds.get(name) != news[name]:
            request[parameter] = news[name]
    if "AllocatedStorage" in request:  # numbers come through Pulumi as floats
        request["AllocatedStorage"] = int(request["AllocatedStorage"])
    if sorted(olds.get("security_group_ids") or []) != sorted(news["security_group_ids"]):
        request["VpcSecurityGroupIds"] = news["security_group_ids"]
    old_version, new_version = str(olds.get("engine_version")), str(news["engine_version"])
    if old_version != new_version:
        request["EngineVersion"] = new_version
        if major_version(old_version) != major_version(new_version):
            if not news.get(ALLOW_MAJOR):
                raise CloudError(major_refusal(old_version, new_version))
            request["AllowMajorVersionUpgrade"] = True
    return {**request, "ApplyImmediately": True} if request else {}


def major_refusal(old_version: str, new_version: str) -> str:
    """Why a change of major version is refused."""
    return (
        f"engine_version {old_version} -> {new_version} is a major version upgrade, which "
        "needs allow_major_version_upgrade: true"
    )


def wait_available(
    rds: Any, identifier: str, props: Mapping[str, Any], *, after_change: bool = False
) -> Described:
    """The instance once its status is `available`; CloudError naming it after the timeout.

    After a change, the instance may still say `available` for a moment before it
    starts modifying: the first poll waits a little.
    """
    timeout = float(props.get(OP_TIMEOUT) or DEFAULT_TIMEOUT)
    name = (props.get("tags") or {}).get(ADDRESS_TAG) or identifier
    deadline = time.monotonic() + timeout
    status = "unknown"
    if after_change:
        time.sleep(_POLL_FIRST)
    for delay in _polls():
        # An id so new that the API does not know it yet is simply not listed yet.
        found = DbInstanceProvider._described(rds, identifier)
        status = str(found["DBInstanceStatus"]) if found else "not listed"
        if found is not None and status == "available":
            return found
        if status in _HOPELESS:
            raise CloudError(
                f"database {name} ({identifier}) is {status}: it cannot become available"
            )
        if time.monotonic() + delay > deadline:
            break
        time.sleep(delay)
    raise CloudError(
        f"database {name} ({identifier}) was not available after {timeout:.0f}s "
        f"(timeouts.database); its status is {status}"
    )


def _polls() -> Iterator[float]:
    delay = _POLL_FIRST
    while True:
        yield delay
        delay = min(delay * 1.5, _POLL_CAP)


def _endpoint(described: Mapping[str, Any]) -> Outputs:
    endpoint = described.get("Endpoint") or {}
    return {"address": endpoint.get("Address"), "port": endpoint.get("Port")}


def _live(found: Described) -> Outputs:
    return {
        "engine": found["Engine"],
        "engine_version": found["EngineVersion"],
        "instance_class": found["DBInstanceClass"],
        "allocated_storage": found["AllocatedStorage"],
        "db_name": found.get("DBName"),
        "username": found.get("MasterUsername"),
        "subnet_group_name": (found.get("DBSubnetGroup") or {}).get("DBSubnetGroupName"),
        "security_group_ids": sorted(
            g["VpcSecurityGroupId"] for g in found.get("VpcSecurityGroups", [])
        ),
        "deletion_protection": bool(found.get("DeletionProtection")),
        "tags": tags.from_aws(found.get("TagList")),
        **_endpoint(found),
    }


def refusals(node: DatabaseNode, change: ResourceChange) -> Iterator[tuple[FieldPath, str]]:
    """A major engine version upgrade the spec does not allow (AWS would refuse it)."""
    if change.address.part is not None or node.allow_major_version_upgrade:
        return
    for prop in change.diff:
        before, after = prop.before, prop.after
        if (
            prop.path == "engine_version"
            and isinstance(before, str)
            and isinstance(after, str)
            and major_version(before) != major_version(after)
        ):
            yield ("databases", node.address.name, "engine_version"), major_refusal(before, after)


# The subnet group is made first and deleted last; references read the instance.
DATABASE_CLOUD = CloudKind(
    DATABASE,
    (DbSubnetGroupProvider, DbInstanceProvider),
    {"address": "address", "port": "port", "password": "password"},
    refusals=refusals,
)
