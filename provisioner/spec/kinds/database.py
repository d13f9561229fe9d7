"""databases: managed PostgreSQL instances (RDS), in a DB subnet group of two or more zones.

The master password is never in the spec: the cloud layer generates it, and
`${db.NAME.password}` is a secret that only roles' variables may read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from provisioner.spec.addresses import ResourceKind
from provisioner.spec.diagnostics import Diagnostic
from provisioner.spec.kind import CheckContext, Link, SpecKind, duplicates
from provisioner.spec.kinds.security_group import SECURITY_GROUP, SECURITY_GROUPS
from provisioner.spec.kinds.subnet import SUBNET, SUBNETS, availability_zone
from provisioner.spec.model import Environment, SpecModel

DATABASE = ResourceKind.declare("db", depends_on=(SUBNET, SECURITY_GROUP))

# RDS's rules for a PostgreSQL database name and master user name.
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
_VERSION = re.compile(r"(\d+)(\.\d+)?")
# Names RDS for PostgreSQL keeps for itself.
_RESERVED_USERS = frozenset({"rdsadmin", "rdsrepladmin", "rds_superuser", "postgres_fdw"})


def _check_identifier(value: str) -> str:
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(
            f"'{value}' must begin with a letter and hold only letters, digits and '_' "
            "(at most 63 characters)"
        )
    return value


def _check_version(value: str) -> str:
    if not _VERSION.fullmatch(value):
        raise ValueError(f"'{value}' is not an engine version such as 15.4 or 16")
    return value


Identifier = Annotated[str, AfterValidator(_check_identifier)]
EngineVersion = Annotated[str, AfterValidator(_check_version)]


def major_version(version: str) -> str:
    """`15` of `15.4`: PostgreSQL's major version (from 10 on, the first number)."""
    return version.split(".", 1)[0]


class DatabaseSpec(SpecModel):
    """A database instance: its engine, size, network placement, database and master user."""

    engine: Literal["postgres"] = "postgres"
    engine_version: EngineVersion
    instance_class: str = "db.t3.micro"
    allocated_storage: int = Field(20, ge=20, le=65536, strict=True)
    subnets: list[str] = Field(min_length=1)
    security_groups: list[str] = Field(default_factory=list)
    name: Identifier
    username: Identifier
    deletion_protection: bool = False
    allow_major_version_upgrade: bool = False
    tags: dict[str, str] = Field(default_factory=dict)


def _check(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    subnets, groups = SUBNETS.in_reach(env, ctx), SECURITY_GROUPS.in_reach(env, ctx)
    for name, database in DATABASES.items(env).items():
        path = ("databases", name)
        yield from duplicates(ctx, (*path, "subnets"), database.subnets)
        yield from duplicates(ctx, (*path, "security_groups"), database.security_groups)
        if database.username.lower() in _RESERVED_USERS:
            yield ctx.problem(
                (*path, "username"), f"'{database.username}' is reserved by RDS for PostgreSQL"
            )
        known = [subnets[s] for s in dict.fromkeys(database.subnets) if s in subnets]
        if len(known) < len(set(database.subnets)):
            continue  # a dangling subnet is reported as such
        zones = {availability_zone(env, subnet) for subnet in known}
        if len(zones) < 2:
            yield ctx.problem(
                (*path, "subnets"),
                f"a DB subnet group needs subnets in at least two availability zones; "
                f"these are all in {', '.join(sorted(zones))}",
            )
        networks = {subnet.network for subnet in known}
        if len(networks) > 1:
            yield ctx.problem(
                (*path, "subnets"),
                f"the subnets are in several networks ({', '.join(sorted(networks))}); "
                "a DB subnet group is in one",
            )
            continue
        for index, group_name in enumerate(database.security_groups):
            group = groups.get(group_name)
            if group is not None and group.network not in networks:
                yield ctx.problem(
                    (*path, "security_groups", index),
                    f"security group '{group_name}' is in network '{group.network}', but the "
                    f"subnets are in '{next(iter(networks))}'",
                )


DATABASES = SpecKind(
    DATABASE,
    "databases",
    DatabaseSpec,
    attributes=frozenset({"address", "port", "name", "username", "password"}),
    secrets=frozenset({"password"}),
    links=(
        Link("subnets", "subnets", "subnet", external=True),
        Link("security_groups", "security_groups", "security group", external=True),
    ),
    check=_check,
)
