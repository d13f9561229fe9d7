"""db.NAME: a DB subnet group of the node's subnets, then the instance in it.

The instance's master password is a secret output, handed to the hosts layer with
the rest of the node's attributes, never exported in the clear.
"""

from __future__ import annotations

import pulumi

from provisioner.cloud.aws.base import AwsResource
from provisioner.cloud.aws.database import ALLOW_MAJOR, DbInstanceProvider
from provisioner.cloud.aws.instance import OP_TIMEOUT
from provisioner.cloud.aws.rds import DbSubnetGroupProvider
from provisioner.graph.kinds.database import DatabaseNode
from provisioner.spec.kinds.database import DATABASE
from stacks.context import ProgramContext
from stacks.kind import StackKind

SUBNET_GROUP = "subnet-group"


def identifier(environment: str, name: str) -> str:
    """The name RDS knows the instance by: `ENV-NAME`, starting with a letter as RDS requires.

    Its subnet group is `IDENTIFIER-subnets`: ids are unique across kinds, so that the
    orphan sweep, which knows the state's ids only, never takes one for the other."""
    found = f"{environment}-{name}"
    return found if found[0].isalpha() else f"db-{found}"


def declare(node: DatabaseNode, ctx: ProgramContext) -> AwsResource:
    name = identifier(ctx.environment, node.address.name)
    subnets = [ctx.output_of(s, "subnet_id") for s in node.subnets]
    groups = [ctx.output_of(g, "group_id") for g in node.security_groups]
    subnet_group = ctx.declare(
        node,
        DbSubnetGroupProvider(),
        {"group_name": f"{name}-subnets", "subnet_ids": pulumi.Output.all(*subnets).apply(sorted)},
        part=SUBNET_GROUP,
    )
    # The instance waits for the subnet group too: it reads the group's name.
    return ctx.declare(
        node,
        DbInstanceProvider(),
        {
            OP_TIMEOUT: ctx.timeouts.database,
            ALLOW_MAJOR: node.allow_major_version_upgrade,
            "identifier": name,
            "engine": node.engine,
            "engine_version": node.engine_version,
            "instance_class": node.instance_class,
            "allocated_storage": node.allocated_storage,
            "db_name": node.database_name,
            "username": node.username,
            "subnet_group_name": subnet_group.output("db_subnet_group_id"),
            "security_group_ids": pulumi.Output.all(*groups).apply(sorted),
            "deletion_protection": node.deletion_protection,
        },
    )


# The database's name and master user are the spec's; address, port and password the cloud's.
DATABASE_STACK = StackKind(
    DATABASE,
    declare,
    from_node={"name": lambda node: node.database_name, "username": lambda node: node.username},
)
