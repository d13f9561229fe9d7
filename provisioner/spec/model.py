"""The spec's schema: pydantic models at the YAML edge, frozen once validated.

Named things (networks, subnets, ...) are YAML mappings keyed by name, so a
duplicate name is a duplicate key and is reported as such.
"""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)


class Cloud(StrEnum):
    """Where an environment runs: the local cloud on this machine, or AWS."""

    LOCAL = "local"
    AWS = "aws"


NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_CIDR = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})")


def _parse_cidr(value: Any) -> ipaddress.IPv4Network:
    if isinstance(value, ipaddress.IPv4Network):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a CIDR such as 10.0.0.0/16, got {value!r}")
    fast = _CIDR.fullmatch(value)
    if fast:
        octets = [int(part) for part in fast.group(1, 2, 3, 4)]
        prefix = int(fast.group(5))
        if all(o <= 255 for o in octets) and prefix <= 32:
            address = int.from_bytes(bytes(octets), "big")
            if address & ((1 << (32 - prefix)) - 1) == 0:
                return ipaddress.IPv4Network((address, prefix))
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError as error:
        if "host bits set" in str(error):
            fixed = ipaddress.IPv4Network(value, strict=False)
            raise ValueError(f"'{value}' has host bits set (did you mean {fixed}?)") from None
        raise ValueError(f"'{value}' is not a valid IPv4 CIDR") from None


Cidr = Annotated[ipaddress.IPv4Network, BeforeValidator(_parse_cidr)]


def _parse_ports(value: Any) -> tuple[int, int]:
    if isinstance(value, bool):
        raise ValueError(f"expected a port or a range such as 8000-8080, got {value!r}")
    if isinstance(value, int):
        low = high = value
    elif isinstance(value, str) and re.fullmatch(r"\d+(-\d+)?", value.strip()):
        low_text, _, high_text = value.strip().partition("-")
        low, high = int(low_text), int(high_text or low_text)
    elif isinstance(value, tuple) and len(value) == 2:
        low, high = value
    else:
        raise ValueError(f"expected a port or a range such as 8000-8080, got {value!r}")
    if low == high and not 0 <= low <= 65535:
        raise ValueError(f"port {low} is outside 0-65535")
    if not (0 <= low <= high <= 65535):
        raise ValueError(f"port range {low}-{high} is outside 0-65535 or reversed")
    return low, high


PortRange = Annotated[tuple[int, int], BeforeValidator(_parse_ports)]


def _check_name(value: str) -> str:
    if not NAME_PATTERN.match(value):
        raise ValueError(
            f"invalid name '{value}': use lowercase letters, digits and '-' (not at the ends)"
        )
    return value


Name = Annotated[str, AfterValidator(_check_name)]


class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors and validated values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class NetworkSpec(SpecModel):
    """A VPC."""

    cidr: Cidr
    tags: dict[str, str] = Field(default_factory=dict)


class SubnetSpec(SpecModel):
    """A subnet of a network; public subnets get an internet route."""

    network: str
    cidr: Cidr
    availability_zone: str | None = None
    public: bool = False
    tags: dict[str, str] = Field(default_factory=dict)


Protocol = Literal["tcp", "udp", "icmp", "all"]


class RuleSpec(SpecModel):
    """A security-group rule: a protocol and ports, from (or to) a CIDR or another group."""

    protocol: Protocol = "tcp"
    ports: PortRange | None = None
    cidr: Cidr | None = None
    group: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _one_peer(self) -> RuleSpec:
        if (self.cidr is None) == (self.group is None):
            raise ValueError("a rule needs exactly one of 'cidr' or 'group'")
        if self.protocol in ("tcp", "udp") and self.ports is None:
            raise ValueError(f"a {self.protocol} rule needs 'ports'")
        return self


class SecurityGroupSpec(SpecModel):
    """A security group in a network."""

    network: str
    description: str = ""
    ingress: list[RuleSpec] = Field(default_factory=list)
    egress: list[RuleSpec] = Field(
        default_factory=lambda: [RuleSpec(protocol="all", cidr=ipaddress.IPv4Network("0.0.0.0/0"))]
    )


class KeyPairSpec(SpecModel):
    """An SSH key pair created by the cloud; its private key is a secret."""

    type: Literal["ed25519", "rsa"] = "ed25519"


class VmGroupSpec(SpecModel):
    """`count` identical VMs, addressed as vm.NAME[0] ... vm.NAME[count-1]."""

    count: int = Field(1, ge=0, strict=True)
    instance_type: str
    image: str
    subnet: str
    security_groups: list[str] = Field(default_factory=list)
    key_pair: str | None = None
    roles: list[str] = Field(default_factory=list)
    vars: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class RoleSpec(SpecModel):
    """A software role: a playbook under playbooks/, its variables, and roles it runs after."""

    playbook: str
    vars: dict[str, Any] = Field(default_factory=dict)
    after: list[str] = Field(default_factory=list)


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}


def _parse_duration(value: Any) -> int:
    """Seconds, from a number of seconds or a text like `90s`, `10m`, `1h`."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text like 10m")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and value[:-1].isdigit() and value[-1:] in _DURATION_UNITS:
        seconds = int(value[:-1]) * _DURATION_UNITS[value[-1]]
    elif isinstance(value, str) and value.isdigit():
        seconds = int(value)
    else:
        raise ValueError(f"'{value}' is not a duration such as 90s, 10m or 1h")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


Duration = Annotated[int, BeforeValidator(_parse_duration)]


class TimeoutsSpec(SpecModel):
    """How long the asynchronous work of each kind may take.

    `vm`: an instance reaching running, stopped or terminated. `software`: one
    role on one host. Other kinds are single API calls, bounded by their retries.
    """

    vm: Duration = 900
    software: Duration = 1800


class EnvironmentHeader(SpecModel):
    """The top level of a spec; each section's items are validated one by one."""

    name: Name
    cloud: Annotated[Literal["local", "aws"], AfterValidator(Cloud)]
    region: str
    tags: dict[str, str] = Field(default_factory=dict)
    state: str | None = None
    networks: dict[str, Any] = Field(default_factory=dict)
    subnets: dict[str, Any] = Field(default_factory=dict)
    security_groups: dict[str, Any] = Field(default_factory=dict)
    key_pairs: dict[str, Any] = Field(default_factory=dict)
    vms: dict[str, Any] = Field(default_factory=dict)
    roles: dict[str, Any] = Field(default_factory=dict)
    outputs: dict[str, str] = Field(default_factory=dict)
    timeouts: TimeoutsSpec = Field(default_factory=TimeoutsSpec)


SECTION_MODELS: dict[str, type[SpecModel]] = {
    "networks": NetworkSpec,
    "subnets": SubnetSpec,
    "security_groups": SecurityGroupSpec,
    "key_pairs": KeyPairSpec,
    "vms": VmGroupSpec,
    "roles": RoleSpec,
}


class Environment(SpecModel):
    """A validated environment. Built by the loader from items that passed validation."""

    name: str
    cloud: Cloud
    region: str
    tags: dict[str, str]
    state: str | None
    networks: dict[str, NetworkSpec]
    subnets: dict[str, SubnetSpec]
    security_groups: dict[str, SecurityGroupSpec]
    key_pairs: dict[str, KeyPairSpec]
    vms: dict[str, VmGroupSpec]
    roles: dict[str, RoleSpec]
    outputs: dict[str, str]
    timeouts: TimeoutsSpec = Field(default_factory=TimeoutsSpec)

    def availability_zone(self, subnet: SubnetSpec) -> str:
        """The subnet's zone, defaulting to the region's first zone."""
        return subnet.availability_zone or f"{self.region}a"
