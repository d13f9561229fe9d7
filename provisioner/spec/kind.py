"""What the spec layer knows of a resource kind: its section, its schema, its checks.

Each kind's module under `provisioner/spec/kinds/` declares one `SpecKind`; the
loader, the checks, the reference parser and the resource limit work from those
declarations alone, so a new kind is one module here (and one per layer above).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from provisioner.spec.addresses import ResourceKind
from provisioner.spec.diagnostics import Diagnostic, FieldPath
from provisioner.spec.model import Environment, SpecModel
from provisioner.spec.schema_errors import suggest
from provisioner.spec.yamldoc import LocatedDocument

M = TypeVar("M", bound=SpecModel)


@dataclass(frozen=True)
class CheckContext:
    """What the checks need besides the environment itself."""

    doc: LocatedDocument
    declared: Mapping[str, frozenset[str]]  # section -> every declared name, valid or not
    playbooks_dir: Path
    # The environments this one uses, as loaded (None: it did not load; reported at `uses`).
    upstreams: Mapping[str, Environment | None] = field(default_factory=dict)
    # Their items that a link may name (section -> `${env.NAME.KIND.ITEM.ATTRIBUTE}` -> item),
    # with their own links written as seen from here (see `seen_from`).
    linked: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def problem(self, path: FieldPath, message: str) -> Diagnostic:
        return Diagnostic(self.doc.locate(path), path, message)


@dataclass(frozen=True)
class Link:
    """A field whose value names items of another section (one name, or a list of names).

    With `external`, a value may instead name a resource of an environment this one
    uses, by the attribute that identifies it (the kind's `identity`):
    `${env.network.subnet.public-a.id}` places a VM in another environment's subnet.
    Without `local`, only such a reference (a zone to add records to).
    """

    field: str
    section: str
    what: str  # "subnet", "security group": how the message names the target
    external: bool = False
    local: bool = True

    def values(self, item: SpecModel) -> list[tuple[FieldPath, str]]:
        """The names the field gives, each with its path below the item."""
        value = getattr(item, self.field)
        if isinstance(value, str):
            return [((self.field,), value)]
        if isinstance(value, list):
            return [((self.field, index), name) for index, name in enumerate(value)]
        return []


@dataclass(frozen=True)
class Share:
    """The resources one part of the spec makes: a VM group, or a whole section."""

    path: FieldPath
    what: str
    resources: int


Check = Callable[[Environment, CheckContext], Iterator[Diagnostic]]
# The resources a section makes, from its raw (unvalidated) items and the whole raw spec.
Shares = Callable[[str, Mapping[str, Any], Mapping[str, Any]], list[Share]]


def one_per_item(section: str, items: Mapping[str, Any], _spec: Mapping[str, Any]) -> list[Share]:
    """Each item of the section is one resource."""
    if not items:
        return []
    return [Share((section,), f"{len(items)} {section.replace('_', ' ')}", len(items))]


def no_resources(_section: str, _items: Mapping[str, Any], _spec: Mapping[str, Any]) -> list[Share]:
    """The section's items make no resources by themselves (they are counted elsewhere)."""
    return []


@dataclass(frozen=True)
class SpecKind(Generic[M]):
    """One resource kind as the spec declares it.

    - `section`: the top-level key of its items, validated one by one with `model`;
    - `attributes`: what `${kind.name.attribute}` may read, `secrets` those of them
      that are secret (masked wherever they are shown), `keyed` those read one
      entry at a time (`${dns.internal.fqdn[web-0]}`), whose keys an item has `keys`
      (None when they cannot be told: an item it names is invalid);
    - `links`: fields naming items of other sections (checked to exist);
    - `identity`: the attribute by which another environment names one of its items
      (`${env.network.subnet.public-a.id}`), if a link may;
    - `references_in`: fields whose values may hold `${...}`; `reads_secrets`: they
      may read secret attributes too (values that reach hosts only at run time);
    - `check`: its own cross-item checks;
    - `count`: how many instances an item makes, for kinds addressed by index
      (an item is then a `noun`, such as "VM group");
    - `shares`: how many resources its raw items make, for the resource limit;
    - `smallest`: an item cut to the fewest nodes with the same dependencies.
    """

    kind: ResourceKind
    section: str
    model: type[M]
    attributes: frozenset[str] = frozenset()
    secrets: frozenset[str] = frozenset()
    keyed: frozenset[str] = frozenset()
    keys: Callable[[M, Environment], Collection[str] | None] | None = None
    links: tuple[Link, ...] = ()
    identity: str | None = None
    references_in: tuple[str, ...] = ()
    reads_secrets: bool = False
    check: Check | None = None
    count: Callable[[M], int] | None = None
    noun: str = ""
    shares: Shares = one_per_item
    smallest: Callable[[M], M] | None = None

    def items(self, env: Environment) -> Mapping[str, M]:
        """The environment's valid items of this kind, by name."""
        return cast("Mapping[str, M]", env.resources.get(self.section, {}))

    def in_reach(self, env: Environment, ctx: CheckContext) -> Mapping[str, M]:
        """The items a link may name: the environment's own, by name, and those of the
        environments it uses, by their references (`${env.network.subnet.public-a.id}`)."""
        linked = cast("Mapping[str, M]", ctx.linked.get(self.section, {}))
        return {**self.items(env), **linked}


def dangling(
    ctx: CheckContext, path: FieldPath, section: str, what: str, name: str
) -> Iterator[Diagnostic]:
    """A problem if no item of `section` is called `name` (valid or not)."""
    names = ctx.declared.get(section, frozenset())
    if name not in names:
        yield ctx.problem(path, f"unknown {what} '{name}'{suggest(name, names)}")


def duplicates(ctx: CheckContext, path: FieldPath, names: Iterable[str]) -> Iterator[Diagnostic]:
    """A problem for each name listed again."""
    seen: set[str] = set()
    for index, name in enumerate(names):
        if name in seen:
            yield ctx.problem((*path, index), f"'{name}' is listed twice")
        seen.add(name)
