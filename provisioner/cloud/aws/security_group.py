"""Security group with its ingress and egress rules: a boto3 dynamic resource.

Rules are kept exactly as declared: the default allow-all egress AWS adds to a
new group is removed unless declared, and an update revokes and authorizes only
the rules that changed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from pulumi.dynamic import CreateResult, UpdateResult

from provisioner.cloud.aws import tags
from provisioner.cloud.aws.base import Described, Outputs, Prop, prop_table, undo_on_failure
from provisioner.cloud.aws.ec2 import Ec2Provider, Listing
from provisioner.cloud.aws.exactly_once import already_done, settle
from provisioner.cloud.aws.kind import CloudKind
from provisioner.spec.kinds.security_group import SECURITY_GROUP

Rule = dict[str, Any]  # {"protocol", "from_port", "to_port", "cidr" | "group_id", "description"}
_SELF = "self"


class SecurityGroupProvider(Ec2Provider):
    """A security group; its name gets a random suffix so a replacement can exist beside it."""

    properties: ClassVar[Mapping[str, Prop]] = prop_table(
        replaces=("vpc_id", "name", "description", "region"),
        inputs=("ingress", "egress", "tags"),
        id_output="group_id",
        stable=("group_name",),
    )
    not_found = frozenset({"InvalidGroup.NotFound", "InvalidGroupId.NotFound"})
    listing = Listing("describe_security_groups", "group-id", "SecurityGroups", "GroupId")
    resource_type = "security-group"
    # The generated name is chosen once, before the first attempt: a re-send of a create
    # that landed finds it taken by the group it made.
    create_landed = frozenset({"InvalidGroup.Duplicate"})

    def create(self, props: dict[str, Any]) -> CreateResult:
        ec2 = self.client(props)
        group_name = f"{props['name']}-{secrets.token_hex(3)}"
        group_id = self.create_once(
            props,
            lambda once, request: str(
                once.create_security_group(
                    GroupName=group_name,
                    Description=props["description"] or props["name"],
                    VpcId=props["vpc_id"],
                    **request,
                )["GroupId"]
            ),
            self.id_of,
        )
        with undo_on_failure(lambda: self.remove(ec2, group_id, props)):
            live_egress = settle(lambda: _rules(ec2, group_id))[1]
            _apply(ec2, group_id, "ingress", [], props["ingress"])
            _apply(ec2, group_id, "egress", live_egress, props["egress"])
        outs = {**props, "group_id": group_id, "group_name": group_name}
        return CreateResult(id_=group_id, outs=outs)

    @staticmethod
    def live(described: Described, recorded: Mapping[str, Any]) -> Outputs:
        """Live rules in the recorded order and form (so unchanged rules compare equal)."""
        group_id = described["GroupId"]
        ingress, egress = _group_rules(described)
        return {
            "ingress": _declared_order(ingress, recorded.get("ingress") or [], group_id),
            "egress": _declared_order(egress, recorded.get("egress") or [], group_id),
            "tags": tags.from_aws(described.get("Tags")),
            "group_id": group_id,
        }

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        ec2 = self.client(news)
        _apply(ec2, id_, "ingress", olds.get("ingress") or [], news["ingress"])
        _apply(ec2, id_, "egress", olds.get("egress") or [], news["egress"])
        self.sync_tags(ec2, id_, olds, news)
        return UpdateResult(outs={**news, **self.kept(olds)})

    @classmethod
    def remove(cls, ec2: Any, id_: str, props: Mapping[str, Any]) -> None:
        cls.delete_once(ec2, id_, lambda: ec2.delete_security_group(GroupId=id_))


def _key(rule: Rule, own_id: str) -> tuple[Any, ...]:
    peer = rule.get("group_id")
    return (
        rule["protocol"],
        rule.get("from_port"),
        rule.get("to_port"),
        rule.get("cidr"),
        own_id if peer == _SELF else peer,
    )


def _apply(ec2: Any, group_id: str, direction: str, old: list[Rule], new: list[Rule]) -> None:
    """Revoke the rules only in `old`, authorize the rules only in `new`.

    A repeat of either (after a lost answer) meets its own first attempt: a revoke
    finds the rules gone, an authorize finds them there. That is success once the
    group's live rules say so.
    """
    old_keys = {_key(rule, group_id): rule for rule in old}
    new_keys = {_key(rule, group_id): rule for rule in new}
    removed = [old_keys[k] for k in old_keys if k not in new_keys]
    added = [new_keys[k] for k in new_keys if k not in old_keys]
    revoke, authorize = (
        (ec2.revoke_security_group_ingress, ec2.authorize_security_group_ingress)
        if direction == "ingress"
        else (ec2.revoke_security_group_egress, ec2.authorize_security_group_egress)
    )
    index = 0 if direction == "ingress" else 1

    def live_keys() -> set[tuple[Any, ...]]:
        found = _listed_rules(ec2, group_id)
        return {_key(rule, group_id) for rule in found[index]} if found is not None else set()

    steps = (
        (revoke, removed, "InvalidPermission.NotFound", lambda keys: not keys & live_keys()),
        (authorize, added, "InvalidPermission.Duplicate", lambda keys: keys <= live_keys()),
    )
    for call, rules, repeat_code, took_effect in steps:
        if rules:
            _change_rules(group_id, call, rules, repeat_code, took_effect)


def _change_rules(
    group_id: str,
    call: Callable[..., object],
    rules: list[Rule],
    repeat_code: str,
    took_effect: Callable[[set[tuple[Any, ...]]], bool],
) -> None:
    """Revoke or authorize `rules`; `repeat_code` is success once `took_effect` says so."""
    keys = {_key(rule, group_id) for rule in rules}
    permissions = [_permission(rule, group_id) for rule in rules]
    settle(
        lambda: already_done(
            lambda: call(GroupId=group_id, IpPermissions=permissions),
            {repeat_code},
            lambda: took_effect(keys),
        )
    )


def _permission(rule: Rule, own_id: str) -> dict[str, Any]:
    permission: dict[str, Any] = {
        "IpProtocol": "-1" if rule["protocol"] == "all" else rule["protocol"]
    }
    if rule["protocol"] != "all" and rule.get("from_port") is not None:
        # Numbers cross Pulumi's protobuf boundary as floats; the EC2 API wants ints.
        permission["FromPort"] = int(rule["from_port"])
        permission["ToPort"] = int(rule["to_port"])
    description = {"Description": rule["description"]} if rule.get("description") else {}
    if rule.get("cidr"):
        permission["IpRanges"] = [{"CidrIp": rule["cidr"], **description}]
    else:
        peer = own_id if rule.get("group_id") == _SELF else rule["group_id"]
        permission["UserIdGroupPairs"] = [{"GroupId": peer, **description}]
    return permission


def _rules(ec2: Any, group_id: str) -> tuple[list[Rule], list[Rule]]:
    """The group's live rules, one per peer, in our rule shape."""
    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    return _group_rules(group)


def _listed_rules(ec2: Any, group_id: str) -> tuple[list[Rule], list[Rule]] | None:
    """The group's live rules from a filtered describe (None if it is not listed)."""
    for group in SecurityGroupProvider.described(ec2, [group_id]):
        return _group_rules(group)
    return None


def _group_rules(group: Described) -> tuple[list[Rule], list[Rule]]:
    """A described group's (ingress, egress) rules, one per peer, in our rule shape."""
    return _flatten(group.get("IpPermissions", [])), _flatten(group.get("IpPermissionsEgress", []))


def _flatten(permissions: list[dict[str, Any]]) -> list[Rule]:
    rules: list[Rule] = []
    for permission in permissions:
        protocol = "all" if permission["IpProtocol"] == "-1" else permission["IpProtocol"]
        ports = {
            "from_port": permission.get("FromPort") if protocol != "all" else None,
            "to_port": permission.get("ToPort") if protocol != "all" else None,
        }
        for ip_range in permission.get("IpRanges", []):
            rules.append(
                {
                    "protocol": protocol,
                    **ports,
                    "cidr": ip_range["CidrIp"],
                    "group_id": None,
                    "description": ip_range.get("Description", ""),
                }
            )
        for pair in permission.get("UserIdGroupPairs", []):
            rules.append(
                {
                    "protocol": protocol,
                    **ports,
                    "cidr": None,
                    "group_id": pair["GroupId"],
                    "description": pair.get("Description", ""),
                }
            )
    return rules


def _declared_order(live: list[Rule], declared: list[Rule], own_id: str) -> list[Rule]:
    """Live rules in the declared order (matching ones keep the declared form), extras after."""
    by_key = {_key(rule, own_id): rule for rule in live}
    ordered = [rule for rule in declared if _key(rule, own_id) in by_key]
    known = {_key(rule, own_id) for rule in declared}
    return ordered + [rule for key, rule in by_key.items() if key not in known]


SELF_GROUP = _SELF


SECURITY_GROUP_CLOUD = CloudKind(SECURITY_GROUP, (SecurityGroupProvider,), {"id": "group_id"})
