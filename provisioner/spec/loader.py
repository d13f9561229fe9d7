"""Load an environment: read and merge its files, validate every item, check across items.

Every problem is collected; nothing stops at the first one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError, create_model

from provisioner.errors import ConfigurationError
from provisioner.spec.checks import CheckContext, check_environment
from provisioner.spec.diagnostics import Diagnostic, FieldPath, SpecError
from provisioner.spec.kinds import SECTIONS
from provisioner.spec.limits import DEFAULT_LIMITS, Limits, check_resource_limit
from provisioner.spec.model import NAME_PATTERN, Environment, EnvironmentHeader, TimeoutsSpec
from provisioner.spec.overlay import SPEC_SUFFIXES, load_with_overlays, scan_folder
from provisioner.spec.schema_errors import MISSING_FIELD, suggest, to_diagnostics
from provisioner.spec.uses import linkable, load_upstreams
from provisioner.spec.yamldoc import LocatedDocument

_DEFAULTS = {"cloud": "local"}

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class EnvironmentSource:
    """An environment file and the playbooks directory its roles refer to."""

    file: Path
    playbooks_dir: Path

    @property
    def name(self) -> str:
        return self.file.stem


@dataclass(frozen=True)
class LoadResult:
    """The environment built from the items that validated, and every problem found.

    `within_limits` is False when the spec would make more resources than allowed:
    then its VM groups must not be expanded (one of the diagnostics says so).
    """

    environment: Environment
    diagnostics: list[Diagnostic]
    document: LocatedDocument | None
    within_limits: bool = True


def resolve_environment(ref: str, environments_dir: Path) -> EnvironmentSource:
    """ENV is a name in `environments_dir` (`dev`) or a path to a YAML file."""
    as_path = Path(ref)
    if as_path.suffix in SPEC_SUFFIXES or len(as_path.parts) > 1:
        if not as_path.is_file():
            raise ConfigurationError(f"no environment file {as_path}")
        file = as_path.resolve()
    else:
        candidates = [environments_dir / f"{ref}{suffix}" for suffix in SPEC_SUFFIXES]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            known = scan_folder(environments_dir).environment_names()
            listing = ", ".join(known) if known else "none"
            raise ConfigurationError(
                f"unknown environment '{ref}'{suggest(ref, known)}",
                hint=f"available in {environments_dir}: {listing}",
            )
        file = found.resolve()
    return EnvironmentSource(file=file, playbooks_dir=_playbooks_dir(file))


def load_environment(source: EnvironmentSource, limits: Limits = DEFAULT_LIMITS) -> Environment:
    """The validated environment; raises SpecError listing every problem."""
    result = check_source(source, limits)
    if result.diagnostics:
        raise SpecError(result.diagnostics)
    return result.environment


def check_source(
    source: EnvironmentSource, limits: Limits = DEFAULT_LIMITS, *, upstreams: bool = True
) -> LoadResult:
    """Load as much as is valid and collect every problem (the graph layer adds cycle checks).

    `limits` bounds the resources the spec may make and the values its YAML may expand to.
    With `upstreams`, the environments it `uses` are loaded too (from its folder), to
    check what it reads of them.
    """
    doc, diagnostics = load_with_overlays(source.file, limits)
    if doc is None:
        return LoadResult(_empty(source), diagnostics, None)
    reported_by_yaml = {diagnostic.path for diagnostic in diagnostics if diagnostic.path}
    data: dict[str, Any] = {**_DEFAULTS, "name": source.name, **doc.data}
    over_limit = check_resource_limit(data, doc, limits)
    diagnostics.extend(over_limit)
    header = _validate(_header_model(), data, (), doc, diagnostics)
    sections: dict[str, dict[str, Any]] = {}
    declared: dict[str, frozenset[str]] = {}
    for section, spec in SECTIONS.items():
        raw = data.get(section)
        items = raw if isinstance(raw, dict) else {}
        declared[section] = frozenset(items)
        sections[section] = _validate_items(section, spec.model, items, doc, diagnostics)
    environment = Environment.model_construct(
        name=header.name if header else source.name,
        cloud=header.cloud if header else "local",
        region=header.region if header else _text(data.get("region")),
        uses=header.uses if header else [],
        tags=header.tags if header else {},
        state=header.state if header else None,
        outputs=header.outputs if header else {},
        timeouts=header.timeouts if header else TimeoutsSpec(),
        resources=sections,
    )
    used: dict[str, Environment | None] = {}
    if upstreams and environment.uses:
        used, problems = load_upstreams(
            environment, doc, source.file.parent, lambda file: _upstream(file, source, limits)
        )
        diagnostics.extend(problems)
    context = CheckContext(
        doc=doc,
        declared=declared,
        playbooks_dir=source.playbooks_dir,
        upstreams=used,
        linked=linkable(used),
    )
    environment = environment.model_copy(
        update={"used": {name: upstream for name, upstream in used.items() if upstream}}
    )
    diagnostics.extend(check_environment(environment, context))
    kept = _without_echoes(diagnostics, reported_by_yaml, doc)
    return LoadResult(environment, kept, doc, within_limits=not over_limit)


def _upstream(file: Path, source: EnvironmentSource, limits: Limits) -> Environment | None:
    """A used environment as far as it validates (its own problems are its own to report)."""
    loaded = check_source(EnvironmentSource(file, source.playbooks_dir), limits, upstreams=False)
    return loaded.environment if loaded.document is not None else None


def _without_echoes(
    diagnostics: list[Diagnostic], reported_by_yaml: set[FieldPath], doc: LocatedDocument
) -> list[Diagnostic]:
    """Drop problems that only repeat an earlier one.

    A value the YAML layer already rejected (a duplicate key, an unknown alias) gets
    no second report from the schema; and when a file that is extended could not be
    read, the fields it would have given are not reported missing.
    """
    kept: list[Diagnostic] = []
    for diagnostic in diagnostics:
        echo = diagnostic.path in reported_by_yaml and diagnostic not in kept
        if echo and any(d.path == diagnostic.path for d in kept):
            continue
        if not doc.complete and diagnostic.message.startswith(MISSING_FIELD):
            continue
        kept.append(diagnostic)
    return kept


def _validate_items(
    section: str,
    model: type[BaseModel],
    items: dict[str, Any],
    doc: LocatedDocument,
    diagnostics: list[Diagnostic],
) -> dict[str, Any]:
    valid: dict[str, Any] = {}
    for name, item in items.items():
        path = (section, name)
        if not NAME_PATTERN.match(name):
            diagnostics.append(
                Diagnostic(
                    doc.locate(path),
                    path,
                    f"invalid name '{name}': use lowercase letters, digits and '-' "
                    "(not at the ends)",
                )
            )
            continue
        if item is None:
            item = {}
        parsed = _validate(model, item, path, doc, diagnostics)
        if parsed is not None:
            valid[name] = parsed
    return valid


def _validate(
    model: type[M],
    data: Any,
    path: tuple[str, ...],
    doc: LocatedDocument,
    diagnostics: list[Diagnostic],
) -> M | None:
    if not isinstance(data, dict):
        diagnostics.append(Diagnostic(doc.locate(path), path, f"expected a mapping, got {data!r}"))
        return None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        diagnostics.extend(to_diagnostics(error, model, path, doc))
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _empty(source: EnvironmentSource) -> Environment:
    return Environment.model_construct(
        name=source.name,
        cloud="local",
        region="",
        tags={},
        state=None,
        outputs={},
        timeouts=TimeoutsSpec(),
        resources={section: {} for section in SECTIONS},
    )


@functools.cache
def _header_model() -> type[EnvironmentHeader]:
    """The top level: the header's fields and one mapping per kind's section."""
    sections: dict[str, Any] = {
        section: (dict[str, Any], Field(default_factory=dict)) for section in SECTIONS
    }
    return create_model("EnvironmentHeader", __base__=EnvironmentHeader, **sections)


def _playbooks_dir(file: Path) -> Path:
    """The nearest `playbooks/` directory at or above the spec's folder."""
    for folder in (file.parent, *file.parent.parents):
        if (folder / "playbooks").is_dir():
            return folder / "playbooks"
    return file.parent / "playbooks"
