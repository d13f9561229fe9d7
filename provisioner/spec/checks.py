"""Checks across the spec: names that must exist, references, and each kind's own checks.

They run on the items that passed schema validation. Names of items that failed
it still count as declared, so one broken item does not cascade into dangling
reference reports from everything that uses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from provisioner.spec.diagnostics import Diagnostic, FieldPath
from provisioner.spec.kind import CheckContext, Link, SpecKind, dangling
from provisioner.spec.kinds import SECTIONS, SPEC_KINDS, spec_kind
from provisioner.spec.model import Environment
from provisioner.spec.references import (
    find_expressions,
    is_environment_reference,
    parse_environment_reference,
    parse_reference,
)
from provisioner.spec.schema_errors import suggest
from provisioner.spec.uses import check_environment_reference

__all__ = ["CheckContext", "check_environment"]


def check_environment(env: Environment, ctx: CheckContext) -> list[Diagnostic]:
    """Every cross-item problem in `env`."""
    found: list[Diagnostic] = []
    for spec in SPEC_KINDS:
        found.extend(_links(spec, env, ctx))
        if spec.check is not None:
            found.extend(spec.check(env, ctx))
    found.extend(_references(env, ctx))
    return found


def _links(spec: SpecKind[Any], env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    """Each name a linking field gives must be declared in its section, or be a resource
    of that kind in an environment this one uses (where the link allows it)."""
    for name, item in spec.items(env).items():
        for link in spec.links:
            for below, value in link.values(item):
                path: FieldPath = (spec.section, name, *below)
                if _is_placement(value):
                    yield from _external_link(env, ctx, path, link, value)
                elif not link.local:
                    identity = SECTIONS[link.section].identity
                    kind = SECTIONS[link.section].kind.value
                    yield ctx.problem(
                        path,
                        f"a {link.what} here is another environment's, as "
                        f"${{env.NAME.{kind}.ITEM.{identity}}}",
                    )
                else:
                    yield from dangling(ctx, path, link.section, link.what, value)


def _is_placement(value: str) -> bool:
    return value.startswith("${") and is_environment_reference(value[2:])


def _external_link(
    env: Environment, ctx: CheckContext, path: FieldPath, link: Link, value: str
) -> Iterator[Diagnostic]:
    """`${env.NAME.KIND.ITEM.ATTRIBUTE}` in a link: a resource of the link's kind, read
    by the attribute that identifies it, in an environment this one uses."""
    target = SECTIONS[link.section]
    kind, identity = target.kind, target.identity
    example = f"${{env.NAME.{kind.value}.ITEM.{identity}}}"
    if not link.external or identity is None:
        yield ctx.problem(path, f"a {link.what} here is one of this environment's, by name")
        return
    expressions = list(find_expressions(value, ()))
    if len(expressions) != 1 or f"${{{expressions[0][1]}}}" != value:
        yield ctx.problem(path, f"'{value}' is not one reference such as {example}")
        return
    expression = expressions[0][1]
    try:
        reference = parse_environment_reference(expression)
    except ValueError as error:
        yield ctx.problem(path, str(error))
        return
    read = reference.resource
    if read is None or read.target.kind != kind or read.attribute != identity:
        yield ctx.problem(path, f"a {link.what} in another environment is given as {example}")
        return
    yield from check_environment_reference(env, ctx, path, expression, reads_secrets=False)


def _references(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    sources: list[tuple[object, FieldPath, bool]] = [
        (getattr(item, field), (spec.section, name, field), spec.reads_secrets)
        for spec in SPEC_KINDS
        for name, item in spec.items(env).items()
        for field in spec.references_in
    ]
    sources.append((env.outputs, ("outputs",), False))
    for value, path, reads_secrets in sources:
        for where, expression in find_expressions(value, path):
            yield from _reference(env, ctx, where, expression, reads_secrets=reads_secrets)


def _reference(
    env: Environment, ctx: CheckContext, path: FieldPath, expression: str, *, reads_secrets: bool
) -> Iterator[Diagnostic]:
    if is_environment_reference(expression):
        yield from check_environment_reference(
            env, ctx, path, expression, reads_secrets=reads_secrets
        )
        return
    try:
        reference = parse_reference(expression)
    except ValueError as error:
        yield ctx.problem(path, str(error))
        return
    target = reference.target
    spec = spec_kind(target.kind)
    if reference.attribute in spec.secrets and not reads_secrets:
        yield ctx.problem(
            path,
            f"${{{expression}}} is a secret: only roles' and VM groups' vars may read it "
            "(they reach the hosts at run time, never shown)",
        )
        return
    names = ctx.declared.get(spec.section, frozenset())
    if target.name not in names:
        yield ctx.problem(
            path,
            f"${{{expression}}} refers to unknown {target.kind.value} "
            f"'{target.name}'{suggest(target.name, names)}",
        )
        return
    item = spec.items(env).get(target.name)
    if item is None:
        return
    if spec.count is not None and target.index is not None:
        count = spec.count(item)
        if target.index >= count:
            yield ctx.problem(
                path,
                f"${{{expression}}} refers to {target}, but {spec.noun} '{target.name}' has "
                f"count {count}",
            )
    if spec.keys is not None and reference.key is not None:
        keys = spec.keys(item, env)
        if keys is not None and reference.key not in keys:
            yield ctx.problem(
                path,
                f"${{{expression}}}: {target} has no '{reference.key}'"
                f"{suggest(reference.key, keys)}",
            )
