"""`${kind.name[index].attribute}` references to values known only after apply.

Each reference is a graph edge: the referring node waits for the referenced one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from provisioner.spec.addresses import Address
from provisioner.spec.diagnostics import FieldPath
from provisioner.spec.kinds import spec_kind

_EXPRESSION = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Reference:
    """A parsed `${...}`: the resource it reads and the attribute."""

    target: Address
    attribute: str

    def __str__(self) -> str:
        return f"${{{self.target}.{self.attribute}}}"


def parse_reference(expression: str) -> Reference:
    """Parse the inside of `${...}`; raises ValueError saying what is wrong."""
    head, dot, attribute = expression.strip().rpartition(".")
    if not dot or not head:
        raise ValueError(f"'${{{expression}}}' is not a reference such as ${{vm.db[0].private_ip}}")
    target = Address.parse(head)
    allowed = spec_kind(target.kind).attributes
    if not allowed:
        raise ValueError(f"'{target.kind.value}' resources cannot be referenced")
    if attribute not in allowed:
        raise ValueError(
            f"'{target.kind.value}' has no attribute '{attribute}' "
            f"(one of {', '.join(sorted(allowed))})"
        )
    return Reference(target, attribute)


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


def substitute(value: Any, resolve: Any) -> Any:
    """Replace each `${...}` in `value` by `resolve(reference)`.

    A string that is one whole reference takes the resolved value's type.
    """
    if isinstance(value, str):
        whole = _EXPRESSION.fullmatch(value)
        if whole:
            return resolve(parse_reference(whole.group(1)))
        return _EXPRESSION.sub(lambda m: str(resolve(parse_reference(m.group(1)))), value)
    if isinstance(value, dict):
        return {key: substitute(item, resolve) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, resolve) for item in value]
    return value
