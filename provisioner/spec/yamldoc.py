"""YAML documents that remember where every value came from.

The file is read as a stream of parser events (libyaml's parser when PyYAML has
it), and plain data is built straight from them together with a map from field
path to location. Duplicate keys are reported instead of silently keeping the
last one. Building from events skips PyYAML's node graph, which is what makes a
10,000-resource spec load in a fraction of a second.

An alias shares the anchored value instead of copying it, but whatever walks the
data later (validation, references, plans) visits it once per alias. So the
builder counts the values the document holds with every alias expanded (an
alias adds its anchored node's expanded size) and refuses the document at the
alias that takes it past a bound: a "billion laughs" bomb is stopped after
reading its few hundred events, without ever expanding it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provisioner.spec.diagnostics import Diagnostic, FieldPath, Location

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_KEY = "<<"


@dataclass
class LocatedDocument:
    """Plain data (dicts, lists, scalars) and the location of every field path in it."""

    file: Path
    data: Any
    locations: dict[FieldPath, Location] = field(default_factory=dict)
    # False when a file it extends could not be read: fields it would have given are not missing.
    complete: bool = True

    def locate(self, path: FieldPath) -> Location:
        """The location of `path`, or of its nearest located ancestor."""
        for end in range(len(path), -1, -1):
            found = self.locations.get(path[:end])
            if found is not None:
                return found
        return Location(self.file, 1, 1)


def read_yaml(file: Path, *, max_values: int) -> tuple[LocatedDocument | None, list[Diagnostic]]:
    """Parse `file`; on a syntax error return None and a diagnostic at the error's position.

    A document that holds more than `max_values` values once its aliases are expanded
    is refused the same way, with the diagnostic at the alias that went past the bound.
    """
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        return None, [Diagnostic(Location(file, 1, 1), (), f"cannot read file: {error.strerror}")]
    builder = _Builder(file, max_values)
    try:
        data = builder.build(yaml.parse(text, Loader=_Loader))
    except _ExpansionTooLargeError as refused:
        return None, [refused.diagnostic]
    except yaml.MarkedYAMLError as error:
        return None, [_syntax_error(file, text, error)]
    except yaml.YAMLError as error:
        return None, [Diagnostic(Location(file, 1, 1), (), f"YAML syntax error: {error}")]
    builder.locations.setdefault((), Location(file, 1, 1))
    return LocatedDocument(file, data, builder.locations), builder.diagnostics


def top_level_text(file: Path, key: str) -> str | None:
    """The text value of `key` in the file's top-level mapping, or None.

    Reads parser events only, and stops as soon as it has the value, so it is
    cheap on large files and builds nothing (an alias is never followed). A
    file that cannot be read or parsed has no value.
    """
    try:
        events = iter(yaml.parse(file.read_text(encoding="utf-8"), Loader=_Loader))
        return _top_level_text(events, key)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, StopIteration):
        return None


def _top_level_text(events: Iterator[Any], key: str) -> str | None:
    for event in events:
        if isinstance(event, yaml.MappingStartEvent):
            break
        if isinstance(event, yaml.NodeEvent):
            return None  # the document is not a mapping
    for event in events:
        if isinstance(event, yaml.MappingEndEvent):
            return None
        wanted = isinstance(event, yaml.ScalarEvent) and event.value == key
        _skip_node(event, events)
        value = next(events)
        if wanted:
            return value.value if isinstance(value, yaml.ScalarEvent) else None
        _skip_node(value, events)
    return None


def _skip_node(event: Any, events: Iterator[Any]) -> None:
    """Consume the rest of the node that `event` starts (nothing more for a scalar or alias)."""
    depth = 1 if isinstance(event, yaml.CollectionStartEvent) else 0
    while depth:
        inner = next(events)
        if isinstance(inner, yaml.CollectionStartEvent):
            depth += 1
        elif isinstance(inner, yaml.CollectionEndEvent):
            depth -= 1


class _ExpansionTooLargeError(Exception):
    """Aliases expand the document past the bound; `diagnostic` is at the alias."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(str(diagnostic))
        self.diagnostic = diagnostic


class _Builder:
    """Turns parser events into plain data, recording locations and duplicate keys."""

    def __init__(self, file: Path, max_values: int) -> None:
        self.file = file
        self.locations: dict[FieldPath, Location] = {}
        self.diagnostics: list[Diagnostic] = []
        self._anchors: dict[str, Any] = {}
        self._plain: dict[str, Any] = {}
        self._max_values = max_values
        # Values read so far with every alias expanded, and each anchored node's expanded size.
        self._expanded = 0
        self._anchor_sizes: dict[str, int] = {}

    def _at(self, mark: Any) -> Location:
        # tuple.__new__ skips NamedTuple's Python-level constructor: one Location per node.
        return tuple.__new__(Location, (self.file, mark.line + 1, mark.column + 1))

    def build(self, events: Any) -> Any:
        stream = iter(events)
        data: Any = {}
        documents = 0
        for event in stream:
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                value = self._value(next(stream), stream, ())
                if documents == 1:
                    data = value
                else:
                    self.diagnostics.append(
                        Diagnostic(
                            self._at(event.start_mark), (), "expected one YAML document, got more"
                        )
                    )
        return data

    def _value(self, event: Any, stream: Any, path: FieldPath) -> Any:
        self.locations.setdefault(path, self._at(event.start_mark))
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event, path)
        start = self._expanded
        self._expanded += 1
        if isinstance(event, yaml.ScalarEvent):
            value = self._scalar(event, path)
        elif isinstance(event, yaml.MappingStartEvent):
            value = self._mapping(stream, path)
        elif isinstance(event, yaml.SequenceStartEvent):
            value = self._sequence(stream, path)
        else:  # pragma: no cover - the parser guarantees a node here
            raise yaml.YAMLError(f"unexpected {type(event).__name__}")
        if event.anchor:
            self._anchors[event.anchor] = value
            self._anchor_sizes[event.anchor] = self._expanded - start
        return value

    def _alias(self, event: Any, path: FieldPath) -> Any:
        alias = event.anchor or ""
        if alias not in self._anchors:
            self._problem(event, path, f"unknown alias *{alias}")
            return None
        self._expanded += self._anchor_sizes[alias]
        if self._expanded > self._max_values:
            raise _ExpansionTooLargeError(
                Diagnostic(
                    self._at(event.start_mark),
                    path,
                    f"YAML aliases expand this document beyond {self._max_values} values "
                    "(an alias bomb?)",
                )
            )
        return self._anchors[alias]

    def _mapping(self, stream: Any, path: FieldPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: list[Any] = []
        first_seen: dict[str, int] = {}
        for event in stream:
            if isinstance(event, yaml.MappingEndEvent):
                break
            if _is_merge_key(event):
                key = _MERGE_KEY
            elif isinstance(event, yaml.ScalarEvent):
                key = str(self._scalar(event, path))
            else:  # a complex key: read it to stay in step, but it cannot name a field
                self._value(event, stream, (*path, "<key>"))
                self.locations.pop((*path, "<key>"), None)
                key = "?"
            child = (*path, key)
            value_event = next(stream)
            if key == _MERGE_KEY and _is_merge_key(event):
                sources = self._value(value_event, stream, child)
                merged.extend(sources if isinstance(sources, list) else [sources])
                continue
            if key in first_seen:
                self._problem(
                    event, child, f"duplicate key '{key}' (first defined on line {first_seen[key]})"
                )
                self._value(value_event, stream, (*path, "<duplicate>"))
                continue
            first_seen[key] = event.start_mark.line + 1
            self.locations[child] = self._at(event.start_mark)
            result[key] = self._value(value_event, stream, child)
        self.locations.pop((*path, "<duplicate>"), None)
        for source in merged:
            if isinstance(source, dict):
                for key, value in source.items():
                    result.setdefault(key, value)
        return result

    def _sequence(self, stream: Any, path: FieldPath) -> list[Any]:
        items: list[Any] = []
        for event in stream:
            if isinstance(event, yaml.SequenceEndEvent):
                break
            items.append(self._value(event, stream, (*path, len(items))))
        return items

    def _scalar(self, event: Any, path: FieldPath) -> Any:
        plain, _quoted = event.implicit
        if event.tag in (None, "!") and not plain:
            return event.value
        if event.tag is None:
            cached = self._plain.get(event.value, self)
            if cached is not self:
                return cached
            tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, (True, False))  # type: ignore[no-untyped-call]
            value = self._construct(event, tag, path)
            self._plain[event.value] = value
            return value
        return self._construct(event, event.tag, path)

    def _construct(self, event: Any, tag: str, path: FieldPath) -> Any:
        if tag == _STR_TAG:
            return event.value
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return _CONSTRUCTOR.construct_object(node)
        except yaml.constructor.ConstructorError:
            self._problem(event, path, f"unsupported YAML tag {tag}")
        except (ValueError, TypeError, yaml.YAMLError):
            self._problem(event, path, f"'{event.value}' is not a valid {tag.rsplit(':', 1)[-1]}")
        return event.value

    def _problem(self, event: Any, path: FieldPath, message: str) -> None:
        self.diagnostics.append(Diagnostic(self._at(event.start_mark), path, message))


def _is_merge_key(event: Any) -> bool:
    return isinstance(event, yaml.ScalarEvent) and event.value == _MERGE_KEY and event.implicit[0]


def _syntax_error(file: Path, text: str, error: yaml.MarkedYAMLError) -> Diagnostic:
    """One diagnostic at the problem, naming where the unclosed construct began and any tab."""
    mark = error.problem_mark or error.context_mark
    where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
    context = error.context or ""
    if error.context_mark and error.problem_mark and context:
        context += f" (opened on line {error.context_mark.line + 1})"
    reason = " ".join(part for part in (context, error.problem) if part)
    if mark and text[mark.index : mark.index + 1] == "\t":
        reason = "a tab character; YAML indents with spaces only"
    return Diagnostic(where, (), f"YAML syntax error: {reason}")
