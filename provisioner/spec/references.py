"""`${kind.name[index].attribute}` references to values known only after apply.

Each reference is a graph edge: the referring node waits for the referenced one.
An attribute that holds one value per key (a zone's records' names) is read one
entry at a time: `${dns.internal.fqdn[web-0]}`. The address ends at the last dot
before the attribute, so a key may hold any character but `]`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from provisioner.spec.addresses import Address, ResourceKind
from provisioner.spec.diagnostics import FieldPath
from provisioner.spec.kinds import spec_kind

_EXPRESSION = re.compile(r"\$\{([^}]*)\}")
# `ADDRESS.ATTRIBUTE` or `ADDRESS.ATTRIBUTE[KEY]`: the address is all before the last dot
# that precedes the attribute.
_REFERENCE = re.compile(r"(?P<head>.*)\.(?P<attribute>[^.\[\]]*)(?:\[(?P<key>[^\]]*)\])?")


@dataclass(frozen=True)
class Reference:
    """A parsed `${...}`: the resource it reads and the attribute."""

    target: Address
    attribute: str
    key: str | None = None  # the entry read of a keyed attribute

    def __str__(self) -> str:
        entry = "" if self.key is None else f"[{self.key}]"
        return f"${{{self.target}.{self.attribute}{entry}}}"

    def read(self, attributes: Mapping[str, Any]) -> Any:
        """The value this reference reads in a resource's attributes."""
        value = attributes[self.attribute]
        return value if self.key is None else value[self.key]


def parse_reference(expression: str) -> Reference:
    """Parse the inside of `${...}`; raises ValueError saying what is wrong."""
    parts = _REFERENCE.fullmatch(expression.strip())
    if parts is None or not parts["head"]:
        raise ValueError(f"'${{{expression}}}' is not a reference such as ${{vm.db[0].private_ip}}")
    target = Address.parse(parts["head"])
    attribute, key = parts["attribute"], parts["key"]
    spec = spec_kind(target.kind)
    if not spec.attributes:
        raise ValueError(f"'{target.kind.value}' resources cannot be referenced")
    if attribute not in spec.attributes:
        raise ValueError(
            f"'{target.kind.value}' has no attribute '{attribute}' "
            f"(one of {', '.join(sorted(spec.attributes))})"
        )
    if attribute in spec.keyed and key is None:
        raise ValueError(
            f"'{target.kind.value}' attribute '{attribute}' is read one entry at a time, "
            f"as in ${{{target}.{attribute}[NAME]}}"
        )
    if attribute not in spec.keyed and key is not None:
        raise ValueError(f"'{target.kind.value}' attribute '{attribute}' takes no [key]")
    return Reference(target, attribute, key)


ENVIRONMENT_PREFIX = "env."
OUTPUTS = "outputs"
_EXAMPLES = "${env.network.subnet.private-a.id} or ${env.network.outputs.vpc_id}"


@dataclass(frozen=True)
class EnvironmentReference:
    """A value of another environment: a resource's attribute, or one of its outputs."""

    environment: str
    resource: Reference | None = None
    output: str | None = None

    def __str__(self) -> str:
        inner = f"{OUTPUTS}.{self.output}" if self.resource is None else str(self.resource)[2:-1]
        return f"${{{ENVIRONMENT_PREFIX}{self.environment}.{inner}}}"


def placement(environment: str, kind: ResourceKind, name: str) -> EnvironmentReference:
    """How a link names item `name` (of `kind`) of `environment`: by the attribute that
    identifies it, as in `${env.network.subnet.public-a.id}`."""
    identity = spec_kind(kind).identity
    if identity is None:
        raise ValueError(f"'{kind.value}' resources cannot be named from another environment")
    return EnvironmentReference(environment, Reference(Address(kind, name), identity))


def parse_link(value: str, kind: ResourceKind) -> Address | EnvironmentReference:
    """What a link field names: an item of this environment by its name, or one of an
    environment it uses, written as one `${env.NAME.KIND.ITEM.ATTRIBUTE}`."""
    if value.startswith("${") and value.endswith("}"):
        return parse_environment_reference(value[2:-1])
    return Address(kind, value)


def is_environment_reference(expression: str) -> bool:
    return expression.strip().startswith(ENVIRONMENT_PREFIX)


def parse_environment_reference(expression: str) -> EnvironmentReference:
    """Parse the inside of `${env....}`; raises ValueError saying what is wrong."""
    rest = expression.strip()[len(ENVIRONMENT_PREFIX) :]
    environment, _, inner = rest.partition(".")
    if not environment or not inner:
        raise ValueError(f"'${{{expression}}}' is not a reference such as {_EXAMPLES}")
    if inner.startswith(f"{OUTPUTS}."):
        output = inner[len(OUTPUTS) + 1 :]
        if not output or "." in output or "[" in output:
            raise ValueError(f"'${{{expression}}}' names no output, as in {_EXAMPLES}")
        return EnvironmentReference(environment, output=output)
    return EnvironmentReference(environment, resource=parse_reference(inner))


def parse_any(expression: str) -> Reference | EnvironmentReference:
    """A reference of this environment, or of one it uses (`${env.NAME....}`)."""
    if is_environment_reference(expression):
        return parse_environment_reference(expression)
    return parse_reference(expression)


def find_expressions(value: Any, path: FieldPath) -> Iterator[tuple[FieldPath, str]]:
    """Every `${...}` inside `value` (nested dicts, lists, strings), with its field path."""
    if isinstance(value, str):
        for match in _EXPRESSION.finditer(value):
            yield path, match.group(1)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from find_expressions(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from find_expressions(item, (*path, index))
    elif isinstance(value, BaseModel):  # a validated item's nested model: its fields
        yield from find_expressions(dict(value), path)


def substitute(value: Any, resolve: Any) -> Any:
    """Replace each `${...}` in `value` by `resolve(reference)`.

    A string that is one whole reference takes the resolved value's type.
    """
    if isinstance(value, str):
        whole = _EXPRESSION.fullmatch(value)
        if whole:
            return resolve(parse_any(whole.group(1)))
        return _EXPRESSION.sub(lambda m: str(resolve(parse_any(m.group(1)))), value)
    if isinstance(value, dict):
        return {key: substitute(item, resolve) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, resolve) for item in value]
    return value
