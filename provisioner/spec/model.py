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


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(value: Any) -> int:
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


Duration = Annotated[int, BeforeValidator(parse_duration)]


class TimeoutsSpec(SpecModel):
    """How long the asynchronous work of each kind may take.

    `vm`: an instance reaching running, stopped or terminated. `software`: one
    role on one host. `database`: a database instance becoming available (it
    accepts connections). Other kinds are single API calls, bounded by their retries.
    """

    vm: Duration = 900
    software: Duration = 1800
    database: Duration = 1200


class EnvironmentHeader(SpecModel):
    """The top level of a spec besides its resource sections.

    The loader extends it with one field per kind's section (a mapping of raw
    items, each validated on its own), so an unknown top-level key is an error.
    """

    name: Name
    cloud: Annotated[Literal["local", "aws"], AfterValidator(Cloud)]
    region: str
    uses: list[Name] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    state: str | None = None
    outputs: dict[str, str] = Field(default_factory=dict)
    timeouts: TimeoutsSpec = Field(default_factory=TimeoutsSpec)


class Environment(SpecModel):
    """A validated environment. Built by the loader from items that passed validation.

    `resources` holds each section's valid items by name; a kind's `SpecKind.items`
    reads its own, typed.
    """

    name: str
    cloud: Cloud
    region: str
    tags: dict[str, str]
    state: str | None
    uses: list[str] = Field(default_factory=list)  # the environments it reads values of
    outputs: dict[str, str]
    timeouts: TimeoutsSpec = Field(default_factory=TimeoutsSpec)
    resources: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # The environments it uses, as loaded with it (what it reads of them is checked).
    used: dict[str, Environment] = Field(default_factory=dict)

    def with_section(self, section: str, items: dict[str, Any]) -> Environment:
        """A copy with `section`'s items replaced."""
        return self.model_copy(update={"resources": {**self.resources, section: items}})
