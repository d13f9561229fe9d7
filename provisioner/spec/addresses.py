"""Typed resource addresses: `network.main`, `vm.web[1]`, `software.web@vm.web[1]`."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from enum import StrEnum


class ResourceKind(StrEnum):
    """Kinds of graph nodes, in dependency order."""

    NETWORK = "network"
    SUBNET = "subnet"
    SECURITY_GROUP = "sg"
    KEY_PAIR = "key"
    VM = "vm"
    SOFTWARE = "software"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {kind: rank for rank, kind in enumerate(ResourceKind)}


# Spec sections that declare resources, and the kind of address each one gets.
SECTION_KINDS: dict[str, ResourceKind] = {
    "networks": ResourceKind.NETWORK,
    "subnets": ResourceKind.SUBNET,
    "security_groups": ResourceKind.SECURITY_GROUP,
    "key_pairs": ResourceKind.KEY_PAIR,
    "vms": ResourceKind.VM,
}

_ADDRESS = re.compile(
    r"^(?P<kind>[a-z]+)\.(?P<name>[a-z0-9][a-z0-9-]*)(\[(?P<index>\d+)\])?(@(?P<host>.+))?$"
)


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Address:
    """Where a resource sits in the graph. VMs carry an index; software carries its host VM.

    Addresses are graph keys, hashed and compared very often, so the text form,
    hash and sort key are computed once.
    """

    kind: ResourceKind
    name: str
    index: int | None = None
    host: Address | None = None
    _text: str = field(init=False, repr=False, compare=False)
    _key: tuple[int, str, int, str] = field(init=False, repr=False, compare=False)
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = f"{self.kind.value}.{self.name}"
        if self.index is not None:
            text += f"[{self.index}]"
        if self.host is not None:
            text += f"@{self.host}"
        key = (self.kind.rank, self.name, -1 if self.index is None else self.index, str(self.host))
        object.__setattr__(self, "_text", text)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(text))  # addresses key every graph lookup

    def __str__(self) -> str:
        return self._text

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Address):
            return NotImplemented
        return self._text == other._text

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Address):
            return NotImplemented
        return self.sort_key() < other.sort_key()

    def sort_key(self) -> tuple[int, str, int, str]:
        """Kind order first, then name, index and host: a stable total order."""
        return self._key

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse `vm.web[1]` or `software.web@vm.web[1]`; raises ValueError with the reason."""
        match = _ADDRESS.match(text.strip())
        if match is None:
            raise ValueError(f"'{text}' is not an address such as vm.web[0]")
        try:
            kind = ResourceKind(match["kind"])
        except ValueError:
            kinds = ", ".join(k.value for k in ResourceKind)
            raise ValueError(f"unknown resource kind '{match['kind']}' (one of {kinds})") from None
        host = cls.parse(match["host"]) if match["host"] else None
        if (kind is ResourceKind.SOFTWARE) != (host is not None):
            raise ValueError(f"'{text}': only software addresses carry '@host'")
        index = int(match["index"]) if match["index"] is not None else None
        if (kind is ResourceKind.VM) != (index is not None):
            raise ValueError(f"'{text}': VM addresses, and only they, carry an [index]")
        return cls(kind, match["name"], index, host)

    @classmethod
    def vm(cls, group: str, index: int) -> Address:
        return cls(ResourceKind.VM, group, index)

    @classmethod
    def software(cls, role: str, host: Address) -> Address:
        return cls(ResourceKind.SOFTWARE, role, None, host)
