"""Translate pydantic validation errors into located, one-line diagnostics."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from provisioner.spec.diagnostics import Diagnostic, FieldPath
from provisioner.spec.yamldoc import LocatedDocument


def to_diagnostics(
    error: ValidationError, model: type[BaseModel], prefix: FieldPath, doc: LocatedDocument
) -> list[Diagnostic]:
    """One diagnostic per pydantic error, located in `doc` at `prefix` + the error's loc."""
    diagnostics = []
    for item in error.errors(include_url=False):
        loc = tuple(part for part in item["loc"] if isinstance(part, int | str))
        path = (*prefix, *loc)
        diagnostics.append(Diagnostic(doc.locate(path), path, _message(item, model, loc)))
    return diagnostics


MISSING_FIELD = "missing required field"


def closest(name: str, candidates: typing.Iterable[str]) -> str | None:
    """The candidate most like `name`, if any is close enough.

    difflib catches most typos; one swap or edit (`bd` for `db`) also counts,
    since short names have too few letters for difflib's ratio.
    """
    ordered = sorted(candidates)
    match = difflib.get_close_matches(name, ordered, n=1, cutoff=0.6)
    if match:
        return match[0]
    return next((c for c in ordered if _one_edit_apart(name, c)), None)


def _one_edit_apart(a: str, b: str) -> bool:
    """True if one insertion, deletion, substitution or swap of neighbours turns a into b."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swap = len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
        return len(diff) == 1 or (swap and a[diff[1]] == b[diff[0]])
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def suggest(name: str, candidates: typing.Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest candidate, or ''."""
    match = closest(name, candidates)
    return f" (did you mean '{match}'?)" if match else ""


def _message(item: Any, model: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    kind = item["type"]
    value = item.get("input")
    context = item.get("ctx") or {}
    if kind == "missing":
        return f"{MISSING_FIELD} '{loc[-1]}'"
    if kind == "extra_forbidden":
        key = str(loc[-1])
        return f"unknown key '{key}'{suggest(key, _fields_at(model, loc[:-1]))}"
    if kind == "greater_than_equal":
        return f"must be >= {context.get('ge')}, got {value!r}"
    if kind == "literal_error":
        return f"must be one of {context.get('expected')}, got {value!r}"
    if kind in ("value_error", "assertion_error"):
        return str(context.get("error") or item["msg"])
    message: str = item["msg"]
    message = message[0].lower() + message[1:]
    shows_value = kind.endswith(("_type", "_parsing"))
    return f"{message}, got {value!r}" if shows_value else message


def _fields_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str]:
    """The field names of the model found by following `loc` from `model`."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _step(annotation: Any, part: str | int) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
        return _unwrap(field.annotation) if field else None
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple) and args:
        return _unwrap(args[0])
    if origin is dict and len(args) == 2:
        return _unwrap(args[1])
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Optional and Annotated."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(members[0]) if len(members) == 1 else annotation
    return annotation
