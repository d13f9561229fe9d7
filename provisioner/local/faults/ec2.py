"""EC2's ids: which a request names, which a create made, their NotFound errors; instance states."""

from __future__ import annotations

import re
from collections.abc import Mapping

# What each making action's answer returns that it made: the kinds (id prefixes) of
# its ids, and `keyName` for a key pair's name, by which key pairs are used. Other ids
# in an answer (a new subnet's VPC, an instance's groups) were made before.
_MADE_BY: dict[str, frozenset[str]] = {
    "CreateVpc": frozenset({"vpc"}),
    "CreateSubnet": frozenset({"subnet"}),
    "CreateSecurityGroup": frozenset({"sg"}),
    "CreateInternetGateway": frozenset({"igw"}),
    "CreateRouteTable": frozenset({"rtb"}),
    "AssociateRouteTable": frozenset({"rtbassoc"}),
    "RunInstances": frozenset({"i"}),
    "CreateKeyPair": frozenset({"key", "keyName"}),
}
# The NotFound error of each kind of id, by the id's prefix.
_NOT_FOUND_BY_PREFIX = {
    "vpc": "InvalidVpcID.NotFound",
    "subnet": "InvalidSubnetID.NotFound",
    "sg": "InvalidGroup.NotFound",
    "igw": "InvalidInternetGatewayID.NotFound",
    "rtb": "InvalidRouteTableID.NotFound",
    "rtbassoc": "InvalidAssociationID.NotFound",
    "i": "InvalidInstanceID.NotFound",
    "key": "InvalidKeyPair.NotFound",
}
KEY_PAIR_NOT_FOUND = "InvalidKeyPair.NotFound"
ID = re.compile(r"(rtbassoc|subnet|vpc|sg|igw|rtb|key|i)-[0-9a-f]{8,}")
_ANSWER_VALUE = re.compile(rb"<(\w+)>([^<>]{1,256})</\1>")
# Parameters that carry a key pair's name (key pairs are named, and by name they are used).
_KEY_NAME = re.compile(r"(?:.*\.)?KeyNames?(?:\.\d+)?")
_RUNNING = b"<instanceState><code>16</code><name>running</name></instanceState>"
_PENDING = b"<instanceState><code>0</code><name>pending</name></instanceState>"


def is_filter_or_tag(key: str) -> bool:
    """True for a parameter inside a filter or a tag, whose values name nothing that must exist."""
    return key.startswith("Filter.") or ".Tag." in key or key.startswith("Tag.")


def named_ids(params: Mapping[str, str]) -> tuple[str, ...]:
    """The resource ids and key names a request names, in parameter order.

    Values in filters (`Filter.N.Value.M`) and tags are left out: AWS answers a
    filter on an unknown id with an empty list, not an error.
    """
    found: list[str] = []
    for key, value in params.items():
        if is_filter_or_tag(key):
            continue
        if ID.fullmatch(value) or _KEY_NAME.fullmatch(key):
            found.append(value)
    return tuple(dict.fromkeys(found))


def not_found_code(name: str) -> str:
    """The NotFound error code AWS gives for an unknown id (a key pair for a name)."""
    match = ID.fullmatch(name)
    return _NOT_FOUND_BY_PREFIX[match.group(1)] if match else KEY_PAIR_NOT_FOUND


def made_ids(action: str, answer: bytes) -> tuple[str, ...]:
    """The ids (and key names) that `action`'s successful answer says it made."""
    kinds = _MADE_BY.get(action, frozenset())
    found: list[str] = []
    for element, raw in _ANSWER_VALUE.findall(answer):
        value = raw.decode(errors="replace")
        match = ID.fullmatch(value)
        if (match and match.group(1) in kinds) or ("keyName" in kinds and element == b"keyName"):
            found.append(value)
    return tuple(dict.fromkeys(found))


def pending_instances(answer: bytes) -> tuple[bytes, int]:
    """A DescribeInstances answer with every running instance shown `pending`, and how many."""
    return answer.replace(_RUNNING, _PENDING), answer.count(_RUNNING)
