"""Typed resource addresses: `network.main`, `vm.web[1]`, `software.web@vm.web[1]`."""

from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated

from pydantic import PlainSerializer, PlainValidator


class Addressing(Enum):
    """How the addresses of a kind name one resource."""

    NAMED = "named"  # network.main
    INDEXED = "indexed"  # vm.web[0]: one of a group's `count` instances
    HOSTED = "hosted"  # software.web@vm.web[0]: a role on one VM


@dataclass(frozen=True, eq=False)
class ResourceKind:
    """A kind of graph node (`vm`), declared once, by its spec module.

    A kind says which kinds its nodes may depend on, and is ranked after them:
    kinds sort by rank, then name. Declared kinds are unique, so they compare by
    identity.
    """

    value: str
    depends_on: frozenset[ResourceKind] = frozenset()
    on_itself: bool = False  # its nodes may depend on others of the same kind
    on_any: bool = False  # its nodes may depend on nodes of every kind (software)
    addressing: Addressing = Addressing.NAMED
    rank: int = 0

    @classmethod
    def declare(
        cls,
        value: str,
        *,
        depends_on: tuple[ResourceKind, ...] = (),
        on_itself: bool = False,
        on_any: bool = False,
        addressing: Addressing = Addressing.NAMED,
    ) -> ResourceKind:
        """Declare a kind; the kinds it depends on are declared before it."""
        if value in _DECLARED:
            raise ValueError(f"resource kind '{value}' is declared twice")
        # A kind whose nodes may depend on any other sorts after every other.
        rank = _ANY_RANK if on_any else 1 + max((k.rank for k in depends_on), default=-1)
        kind = cls(value, frozenset(depends_on), on_itself, on_any, addressing, rank)
        _DECLARED[value] = kind
        return kind

    @classmethod
    def named(cls, value: str) -> ResourceKind:
        """The kind called `value`; ValueError naming the known ones if there is none."""
        _load_declarations()
        found = _DECLARED.get(value)
        if found is None:
            known = ", ".join(kind.value for kind in cls.all())
            raise ValueError(f"unknown resource kind '{value}' (one of {known})")
        return found

    @classmethod
    def all(cls) -> list[ResourceKind]:
        """Every declared kind, each after the kinds it may depend on."""
        _load_declarations()
        return sorted(_DECLARED.values(), key=lambda kind: (kind.rank, kind.value))

    def may_depend_on(self, other: ResourceKind) -> bool:
        """Whether a node of this kind may depend on a node of `other`."""
        if self.on_any or other in self.depends_on:
            return True
        return other is self and self.on_itself

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"ResourceKind({self.value!r})"


_DECLARED: dict[str, ResourceKind] = {}
_ANY_RANK = 1_000


def _load_declarations() -> None:
    """Import the spec's kind modules, which declare every kind."""
    importlib.import_module("provisioner.spec.kinds")


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
    _key: tuple[int, str, str, int, str] = field(init=False, repr=False, compare=False)
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = f"{self.kind.value}.{self.name}"
        if self.index is not None:
            text += f"[{self.index}]"
        if self.host is not None:
            text += f"@{self.host}"
        index = -1 if self.index is None else self.index
        key = (self.kind.rank, self.kind.value, self.name, index, str(self.host))
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

    def sort_key(self) -> tuple[int, str, str, int, str]:
        """Kind order first, then name, index and host: a stable total order."""
        return self._key

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse `vm.web[1]` or `software.web@vm.web[1]`; raises ValueError with the reason."""
        match = _ADDRESS.match(text.strip())
        if match is None:
            raise ValueError(f"'{text}' is not an address such as vm.web[0]")
        kind = ResourceKind.named(match["kind"])
        host = cls.parse(match["host"]) if match["host"] else None
        if (kind.addressing is Addressing.HOSTED) != (host is not None):
            raise ValueError(f"'{text}': only software addresses carry '@host'")
        index = int(match["index"]) if match["index"] is not None else None
        if (kind.addressing is Addressing.INDEXED) != (index is not None):
            raise ValueError(f"'{text}': VM addresses, and only they, carry an [index]")
        return cls(kind, match["name"], index, host)


# Between a node's address and the name of one of its parts.
PART_SEPARATOR = "/"


@functools.total_ordering
@dataclass(frozen=True)
class ResourceAddress:
    """One cloud resource: a graph node, or a part of it (`network.main/internet-gateway`).

    A node may need more than one resource in the cloud (a network with public
    subnets has an internet gateway and a route table); each is a part.
    """

    node: Address
    part: str | None = None

    def __str__(self) -> str:
        return str(self.node) if self.part is None else f"{self.node}{PART_SEPARATOR}{self.part}"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, ResourceAddress):
            return NotImplemented
        return (self.node.sort_key(), self.part or "") < (other.node.sort_key(), other.part or "")

    @property
    def kind(self) -> ResourceKind:
        return self.node.kind

    @classmethod
    def parse(cls, text: str) -> ResourceAddress:
        """Parse `vm.web[0]` or `network.main/internet-gateway`; ValueError with the reason."""
        node, separator, part = text.partition(PART_SEPARATOR)
        if separator and not part:
            raise ValueError(f"'{text}' names no part after '{PART_SEPARATOR}'")
        return cls(Address.parse(node), part or None)


def _address(value: object) -> Address:
    return value if isinstance(value, Address) else Address.parse(str(value))


def _resource_address(value: object) -> ResourceAddress:
    return value if isinstance(value, ResourceAddress) else ResourceAddress.parse(str(value))


# Addresses in the fields of JSON-written dataclasses (plans, events, outputs): their text.
AddressText = Annotated[Address, PlainValidator(_address), PlainSerializer(str, return_type=str)]
ResourceAddressText = Annotated[
    ResourceAddress, PlainValidator(_resource_address), PlainSerializer(str, return_type=str)
]
