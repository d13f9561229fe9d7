"""JSON for the frozen dataclasses inside the package, written and read by pydantic.

Plans, outputs, run records and statuses are plain dataclasses; pydantic's
`TypeAdapter` turns them into JSON-ready data (enums as their values, tuples as
lists, paths as text) and reads them back with their types checked, so no class
spells out its fields twice.
"""

from __future__ import annotations

from typing import Any, Self, TypeVar

from pydantic import TypeAdapter, ValidationError

T = TypeVar("T")


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def _adapter(cls: Any) -> TypeAdapter[Any]:
    """One adapter per class (building one inspects the class: about a millisecond)."""
    found = _ADAPTERS.get(cls)
    if found is None:
        found = _ADAPTERS[cls] = TypeAdapter(cls)
    return found


def dump(value: Any) -> Any:
    """`value` (a dataclass, or a container of them) as JSON-ready data."""
    return _adapter(type(value)).dump_python(value, mode="json")


def load(cls: type[T], data: Any) -> T:
    """`data` read as a `cls`; ValueError saying, in one line, what is wrong."""
    try:
        loaded: T = _adapter(cls).validate_python(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top)"
        more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
        raise ValueError(f"{where}: {first['msg']}{more}") from None
    return loaded


class Jsonable:
    """A dataclass that is written as JSON, and read back, by its fields."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dump(self)
        return data

    @classmethod
    def from_json(cls, data: Any) -> Self:
        return load(cls, data)
