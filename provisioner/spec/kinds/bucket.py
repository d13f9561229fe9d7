"""buckets: S3 buckets, named globally; public access blocked unless the spec says otherwise."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterator
from typing import Annotated

from pydantic import AfterValidator, Field

from provisioner.spec.addresses import ResourceKind
from provisioner.spec.diagnostics import Diagnostic
from provisioner.spec.kind import CheckContext, SpecKind
from provisioner.spec.model import Environment, SpecModel

BUCKET = ResourceKind.declare("bucket")

# S3's rules for general purpose bucket names.
_LONGEST = 63
_CHARACTERS = re.compile(r"[a-z0-9][a-z0-9.-]*[a-z0-9]")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# Hex characters of sha256(environment/name) that end a derived name.
SUFFIX_LENGTH = 8


def bucket_name_problem(name: str) -> str | None:
    """Why `name` is not a valid S3 bucket name, or None if it is."""
    if not 3 <= len(name) <= _LONGEST:
        return f"bucket name '{name}' must be 3 to {_LONGEST} characters long, not {len(name)}"
    if not _CHARACTERS.fullmatch(name):
        return (
            f"bucket name '{name}' may hold only lowercase letters, digits, '.' and '-', "
            "and must begin and end with a letter or digit"
        )
    if ".." in name:
        return f"bucket name '{name}' must not hold two adjacent periods"
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        return f"bucket name '{name}' must not be an IP address"
    reserved = [part for part in _RESERVED_PREFIXES if name.startswith(part)]
    reserved += [part for part in _RESERVED_SUFFIXES if name.endswith(part)]
    if reserved:
        return f"bucket name '{name}' uses '{reserved[0]}', which S3 reserves"
    return None


def _check_bucket_name(value: str) -> str:
    problem = bucket_name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


class BucketSpec(SpecModel):
    """An S3 bucket. Its real name is global: derived from the environment unless given."""

    versioning: bool = False
    public_access: bool = False
    force_destroy: bool = False
    bucket_name: Annotated[str, AfterValidator(_check_bucket_name)] | None = None
    tags: dict[str, str] = Field(default_factory=dict)


def real_name(environment: str, name: str, bucket: BucketSpec) -> str:
    """The bucket's name in S3: `bucket_name`, else `ENV-NAME-SUFFIX`.

    Bucket names are shared by every AWS account. The suffix, 8 hex characters of
    sha256 of "ENV/NAME", keeps the name stable from run to run and makes a
    collision with another account's bucket unlikely; the readable part is cut so
    that the whole fits S3's 63 characters.
    """
    if bucket.bucket_name is not None:
        return bucket.bucket_name
    suffix = hashlib.sha256(f"{environment}/{name}".encode()).hexdigest()[:SUFFIX_LENGTH]
    readable = f"{environment}-{name}"[: _LONGEST - SUFFIX_LENGTH - 1].rstrip("-.")
    return f"{readable}-{suffix}"


def _check(env: Environment, ctx: CheckContext) -> Iterator[Diagnostic]:
    """Derived names follow S3's rules too (an environment called `sthree`'s would not), and
    no two buckets have one name."""
    named: dict[str, str] = {}
    for name, bucket in BUCKETS.items(env).items():
        real = real_name(env.name, name, bucket)
        if bucket.bucket_name is None and (problem := bucket_name_problem(real)) is not None:
            yield ctx.problem(("buckets", name), f"{problem}: set bucket_name")
        if (first := named.setdefault(real, name)) != name:
            yield ctx.problem(
                ("buckets", name, "bucket_name"), f"bucket '{first}' is named '{real}' already"
            )


BUCKETS = SpecKind(
    BUCKET, "buckets", BucketSpec, attributes=frozenset({"name", "arn"}), check=_check
)
