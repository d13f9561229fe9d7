"""Pulumi's state as we read it: resource names, recorded values, and the files of state in files.

Exported state is Pulumi's JSON (a deployment: resources with type, urn, id,
inputs and outputs, and pending operations). State in files sits under the
state URL's folder: checkpoints in `.pulumi/stacks/PROJECT/STACK.json[.gz]`,
locks in `.pulumi/locks/`. Nothing here starts Pulumi.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from provisioner.paths import StatePaths
from provisioner.plan.model import KNOWN_AFTER_APPLY, SENSITIVE
from provisioner.procs import is_running
from provisioner.spec.addresses import ResourceAddress

Deployment = dict[str, Any]  # the `deployment` of an exported stack

# A Pulumi resource name is the node's address, then a part for a node's extra resources.
STACK_TYPE = "pulumi:pulumi:Stack"
# The deployment schema of a checkpoint that uses no optional feature (`pulumi stack
# export` prints it as is; a checkpoint of schema 4 lists the features it needs).
PLAIN_SCHEMA = 3
# The stack output that lists the environments a stack's environment uses.
USES_OUTPUT = "uses"
# Types of the resources Pulumi itself records: the stack, and the providers.
PULUMI_TYPES = (STACK_TYPE, "pulumi:providers:")
SENSITIVE_KEYS = frozenset({"private_key", "passphrase", "password"})
# Pulumi marks a secret value in serialized state with this key; it is no secret itself.
_SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"  # noqa: S105
# Inputs that tune how an operation runs rather than describe the resource.
_OPERATIONAL_KEYS = frozenset({"op_timeout"})
# Pulumi's placeholder, in previews, for a value that exists only after apply.
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def address_of(urn: str) -> str:
    """Our resource address is the Pulumi resource name, the URN's last part."""
    return urn.rsplit("::", 1)[-1]


def resource_address_of(urn: str) -> ResourceAddress:
    """The address of a cloud resource from its URN."""
    return ResourceAddress.parse(address_of(urn))


def is_cloud_resource(resource: Mapping[str, Any]) -> bool:
    """True for a cloud resource in exported state (not the stack, not a provider)."""
    return "urn" in resource and not str(resource.get("type", "")).startswith(PULUMI_TYPES)


def managed_keys(inputs: Mapping[str, Any]) -> list[str]:
    """The inputs the spec manages: set, and neither Pulumi's own nor operational, sorted."""
    return sorted(
        key
        for key, value in inputs.items()
        if not key.startswith("__") and key not in _OPERATIONAL_KEYS and value is not None
    )


def masked(key: str, value: Any) -> Any:
    """`value` as a plan may show it: secrets and private keys masked, unknowns named."""
    if key in SENSITIVE_KEYS or value == "[secret]":
        return SENSITIVE
    if value == _UNKNOWN:
        return KNOWN_AFTER_APPLY
    if isinstance(value, dict):
        if is_secret(value):
            return SENSITIVE
        return {k: masked(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(key, item) for item in value]
    if isinstance(value, str) and "PRIVATE KEY-----" in value:
        return SENSITIVE
    return value


def is_secret(value: Any) -> bool:
    """True for a secret as exported state holds it: encrypted, so not comparable."""
    return isinstance(value, dict) and _SECRET_SIGNATURE in value


def is_unknown(value: Any) -> bool:
    """True if `value` is, or holds, a value that a preview does not know yet."""
    if value == _UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(is_unknown(item) for item in value.values())
    if isinstance(value, list):
        return any(is_unknown(item) for item in value)
    return False


def fingerprint(resources: Iterable[Mapping[str, Any]]) -> str:
    """A digest of recorded resources (ids, inputs, outputs): changes when state does."""
    recorded = [{key: r.get(key) for key in ("urn", "id", "inputs", "outputs")} for r in resources]
    text = json.dumps(recorded, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def without_pending(deployment: Deployment) -> tuple[Deployment, list[str]]:
    """The deployment with no pending operations, and the addresses those were on, sorted."""
    pending = deployment.get("pending_operations") or []
    addresses = sorted(address_of(op.get("resource", {}).get("urn", "")) for op in pending)
    return {**deployment, "pending_operations": []}, addresses


def stack_in_files(state_url: str, project: str, stack: str) -> Path | None:
    """Where state in files keeps the stack's checkpoint; None for state elsewhere (S3)."""
    folder = _folder(state_url)
    return None if folder is None else folder / ".pulumi" / "stacks" / project / f"{stack}.json"


def resources_in_files(
    spec_state: str | None, paths: StatePaths, project: str, stack: str
) -> int | None:
    """How many resources Pulumi's state files record for the stack; None if the state is in S3.

    This reads the checkpoint (`STACK.json`, or `STACK.json.gz`), so a command can
    tell "nothing recorded here" without starting anything. A missing or
    unreadable checkpoint counts as none recorded only if it does not exist.
    """
    checkpoint = stack_in_files(spec_state or paths.pulumi_state.as_uri(), project, stack)
    if checkpoint is None:
        return None
    latest = _latest(checkpoint)
    return None if latest is None else len(latest.get("resources") or [])


def recorded_resource_addresses(
    spec_state: str | None, paths: StatePaths, project: str, stack: str
) -> list[str] | None:
    """The addresses of the cloud resources state in files records for the stack (parts
    included: `lb.web/listener-80`); None if the state is in S3 or cannot be read."""
    checkpoint = stack_in_files(spec_state or paths.pulumi_state.as_uri(), project, stack)
    latest = _latest(checkpoint) if checkpoint is not None else None
    if latest is None:
        return None
    resources = latest.get("resources") or []
    return sorted(address_of(r["urn"]) for r in resources if is_cloud_resource(r))


def recorded_output(
    spec_state: str | None, paths: StatePaths, project: str, stack: str, name: str
) -> Any:
    """One output of the stack as its last apply recorded it (None if none); state in
    files only. A secret output is recorded encrypted, never in clear."""
    checkpoint = stack_in_files(spec_state or paths.pulumi_state.as_uri(), project, stack)
    latest = _latest(checkpoint) if checkpoint is not None else None
    resources = (latest or {}).get("resources") or []
    root: dict[str, Any] = next((r for r in resources if r.get("type") == STACK_TYPE), {})
    return (root.get("outputs") or {}).get(name)


def recorded_uses(spec_state: str | None, paths: StatePaths, project: str) -> dict[str, list[str]]:
    """Every stack that state in files records resources for, with the environments its last
    apply said it uses (its `uses` output); none for state in S3."""
    folder = _folder(spec_state or paths.pulumi_state.as_uri())
    stacks = folder / ".pulumi" / "stacks" / project if folder is not None else None
    if stacks is None or not stacks.is_dir():
        return {}
    found: dict[str, list[str]] = {}
    names = {p.name.removesuffix(".gz").removesuffix(".json") for p in stacks.glob("*.json*")}
    for name in sorted(names):
        latest = _latest(stacks / f"{name}.json")
        if not latest or not latest.get("resources"):
            continue
        root: dict[str, Any] = next(
            (r for r in latest["resources"] if r.get("type") == STACK_TYPE), {}
        )
        uses = (root.get("outputs") or {}).get(USES_OUTPUT) or []
        found[name] = [str(used) for used in uses if isinstance(used, str)]
    return found


def _latest(checkpoint: Path) -> dict[str, Any] | None:
    """The latest deployment a checkpoint (or its gzipped form) holds: empty if there is no
    checkpoint, None if there is one that cannot be read."""
    zipped = checkpoint.with_name(f"{checkpoint.name}.gz")
    for path, opener in ((checkpoint, open), (zipped, gzip.open)):
        if not path.is_file():
            continue
        try:
            with opener(path, "rt", encoding="utf-8") as handle:
                state = json.load(handle)
        except (OSError, ValueError):
            return None  # there is a stack we cannot read here: let Pulumi say
        latest = (state.get("checkpoint") or {}).get("latest") or {}
        return dict(latest)
    return {}


@dataclass(frozen=True)
class Exported:
    """What `pulumi stack export` prints: the deployment and its schema version."""

    version: int
    deployment: dict[str, Any]


def exported_in_files(checkpoint: Path) -> Exported | None:
    """The export of a stack in files, read from its checkpoint; None when the CLI must say.

    Only a plain `STACK.json` of schema 3 without optional features is read here:
    a compressed checkpoint (Pulumi takes the newer of two forms), a missing one, or
    one of another schema is left to `pulumi stack export`.
    """
    siblings = [checkpoint.with_name(f"{checkpoint.name}{suffix}") for suffix in (".gz", ".zst")]
    if not checkpoint.is_file() or any(path.exists() for path in siblings):
        return None
    try:
        state = json.loads(checkpoint.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    inner = state.get("checkpoint") or {}
    if state.get("version") != PLAIN_SCHEMA or "features" in state or "features" in inner:
        return None
    return Exported(PLAIN_SCHEMA, dict(inner.get("latest") or {}))


def repair_interrupted_writes(state_url: str, project: str, stack: str) -> list[Path]:
    """Remove the stack's attribute files that a killed write left empty (state in files only).

    Pulumi's file storage (gocloud's fileblob) writes a checkpoint atomically, but
    the `.attrs` file beside it in place; a process killed in between leaves it
    empty, and every later operation fails with "failed to load checkpoint: EOF".
    A missing attribute file is read as "no attributes", so removing it is safe.
    """
    checkpoint = stack_in_files(state_url, project, stack)
    if checkpoint is None:
        return []
    removed = []
    for path in checkpoint.parent.glob(f"{stack}.json*.attrs"):
        try:
            json.loads(path.read_text())
        except (OSError, ValueError):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def remove_dead_locks(state_url: str, stack: str) -> int:
    """Remove the stack's Pulumi locks whose process died on this host (state in files only).

    A killed `pulumi up` leaves its lock file behind, and every later operation
    on the stack would refuse to start. Returns how many were removed.
    """
    folder = _folder(state_url)
    if folder is None:
        return 0
    removed = 0
    for path in (folder / ".pulumi" / "locks").glob(f"*/*/{stack}/*.json"):
        try:
            holder = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if holder.get("hostname") == socket.gethostname() and not is_running(holder.get("pid")):
            path.unlink(missing_ok=True)
            Path(f"{path}.attrs").unlink(missing_ok=True)
            removed += 1
    return removed


def _folder(state_url: str) -> Path | None:
    """The folder of state in files (a `file://` URL, decoded as Pulumi does); None otherwise."""
    parts = urlsplit(state_url)
    return Path(unquote(parts.path)) if parts.scheme == "file" else None
