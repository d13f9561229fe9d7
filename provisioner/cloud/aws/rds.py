"""RDS providers' common ground, and the DB subnet group a database instance is placed in.

RDS knows both a subnet group and an instance by a name unique in the region,
and takes no idempotency token. So the name is looked up before the first
attempt (one that exists then is adopted only if it carries this create's
token, as a bucket is), and before each re-send: what has the name and the
token then is what an earlier attempt made. Tags are read and written by ARN.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from botocore.exceptions import ClientError
from pulumi.dynamic import CreateResult, UpdateResult

from provisioner.cloud.aws import clients, tags
from provisioner.cloud.aws.base import (
    AwsProvider,
    Described,
    Outputs,
    Prop,
    prop_table,
    until_dependencies_clear,
)
from provisioner.cloud.aws.exactly_once import (
    ADDRESS_TAG,
    ENV_TAG,
    create_exactly_once,
    creation_token,
    current_run_id,
    delete_confirmed,
    error_code,
    settle,
)
from provisioner.errors import CloudError


class RdsProvider(AwsProvider):
    """What the RDS providers share: tags read and written by ARN."""

    service = "rds"
    # Both are known by a name unique in the region: a replacement deletes first.
    delete_before_replace = True
    # Errors a re-sent create meets when an earlier attempt made the resource (its name).
    create_landed: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def one_described(cls, describe: Callable[[], list[Described]]) -> Described | None:
        """What a describe by name lists; None if it answers that there is no such name."""
        try:
            found = describe()
        except ClientError as error:
            if error_code(error) in cls.not_found:
                return None
            raise
        return dict(found[0]) if found else None

    @staticmethod
    def tag_list(rds: Any, arn: str) -> list[dict[str, Any]]:
        return list(rds.list_tags_for_resource(ResourceName=arn).get("TagList", []))

    @staticmethod
    def sync_tags(rds: Any, arn: str, old: Mapping[str, str], new: Mapping[str, str]) -> None:
        """Both calls are idempotent, so a retry after a lost answer is harmless."""
        removed = sorted(set(old) - set(new) - {tags.TOKEN_TAG})
        changed = {key: value for key, value in new.items() if old.get(key) != value}
        if removed:
            settle(lambda: rds.remove_tags_from_resource(ResourceName=arn, TagKeys=removed))
        if changed:
            settle(lambda: rds.add_tags_to_resource(ResourceName=arn, Tags=tags.to_aws(changed)))

    @classmethod
    def create_named(
        cls,
        props: Mapping[str, Any],
        name: str,
        send: Callable[[Any, list[dict[str, str]]], Described],
        find: Callable[[], Described | None],
        token_of: Callable[[Described], str | None],
    ) -> Described:
        """Make the resource called `name` once: `send(client, tags)` is one attempt.

        One that has the name already is adopted only if this create's token marks it.
        """
        token = creation_token(props["tags"], current_run_id())
        existing = find()
        if existing is not None:
            if token_of(existing) == token:
                return existing
            raise CloudError(
                f"'{name}' exists already in {props['region']} and is not one this run made: "
                "delete it, or rename the environment"
            )
        once = clients.client_once(cls.service, props["region"])
        marked = tags.to_aws({**props["tags"], tags.TOKEN_TAG: token})

        def ours() -> Described | None:
            found = find()
            return found if found is not None and token_of(found) == token else None

        return create_exactly_once(lambda: send(once, marked), ours, landed=cls.create_landed)


class DbSubnetGroupProvider(RdsProvider):
    """The subnets a database may be placed in; they change in place."""

    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("group_name", "region"),
        inputs=("subnet_ids", "tags"),
        id_output="db_subnet_group_id",
        stable=("arn",),
    )
    not_found = frozenset({"DBSubnetGroupNotFoundFault", "DBSubnetGroupNotFound"})
    create_landed = frozenset({"DBSubnetGroupAlreadyExists", "DBSubnetGroupAlreadyExistsFault"})

    def create(self, props: dict[str, Any]) -> CreateResult:
        rds, name = self.client(props), props["group_name"]
        created = self.create_named(
            props,
            name,
            lambda once, marked: once.create_db_subnet_group(
                DBSubnetGroupName=name,
                DBSubnetGroupDescription=f"{props['tags'].get(ADDRESS_TAG, name)} (provision)",
                SubnetIds=props["subnet_ids"],
                Tags=marked,
            )["DBSubnetGroup"],
            lambda: self._described(rds, name),
            lambda found: tags.value_of(
                self.tag_list(rds, found["DBSubnetGroupArn"]), tags.TOKEN_TAG
            ),
        )
        outs = {**props, "db_subnet_group_id": name, "arn": created["DBSubnetGroupArn"]}
        return CreateResult(id_=name, outs=outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        rds = self.client(news)
        if sorted(olds.get("subnet_ids") or []) != sorted(news["subnet_ids"]):
            settle(
                lambda: rds.modify_db_subnet_group(
                    DBSubnetGroupName=id_, SubnetIds=news["subnet_ids"]
                )
            )
        self.sync_tags(rds, olds["arn"], olds.get("tags") or {}, news["tags"])
        return UpdateResult(outs={**news, **self.kept(olds)})

    @classmethod
    def read_one(cls, client: Any, id_: str, recorded: Mapping[str, Any]) -> Outputs | None:
        found = cls._described(client, id_)
        if found is None:
            return None
        return {
            "subnet_ids": sorted(s["SubnetIdentifier"] for s in found.get("Subnets", [])),
            "tags": tags.from_aws(cls.tag_list(client, found["DBSubnetGroupArn"])),
        }

    @classmethod
    def remove(cls, client: Any, id_: str, props: Mapping[str, Any]) -> None:
        """Deleted once no instance uses it (a deleted instance frees it only when gone)."""
        delete_confirmed(
            lambda: until_dependencies_clear(
                lambda: client.delete_db_subnet_group(DBSubnetGroupName=id_)
            ),
            lambda: cls._described(client, id_) is not None,
            cls.not_found,
        )

    @classmethod
    def orphans(cls, client: Any, environment: str, known_ids: set[str]) -> list[Described]:
        pages = client.get_paginator("describe_db_subnet_groups").paginate()
        return [
            group
            for page in pages
            for group in page.get("DBSubnetGroups", [])
            if group["DBSubnetGroupName"] not in known_ids
            and tags.value_of(cls.tag_list(client, group["DBSubnetGroupArn"]), ENV_TAG)
            == environment
        ]

    @classmethod
    def id_of(cls, described: Described) -> str:
        return str(described["DBSubnetGroupName"])

    @classmethod
    def _described(cls, rds: Any, name: str) -> Described | None:
        return cls.one_described(
            lambda: rds.describe_db_subnet_groups(DBSubnetGroupName=name)["DBSubnetGroups"]
        )
