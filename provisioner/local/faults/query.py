"""The AWS Query protocol (EC2, ELBv2, RDS): a form body `Action=...&Version=...&...`."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qs

from provisioner.local.faults import ec2
from provisioner.local.faults.calls import Call, Service

# Read-only actions; every other action changes something. No EC2 action starts with
# Download (RDS's DownloadDBLogFilePortion does).
_READ_PREFIXES = ("Describe", "Get", "List", "Download")
_ENVELOPE = ("Action", "Version")
_REDACTED = "<redacted>"


def is_mutating(action: str) -> bool:
    """True for a Query action that changes something: all but Describe*, Get*, List*."""
    return not action.startswith(_READ_PREFIXES)


def form_params(body: bytes) -> dict[str, str]:
    """A Query request's parameters, first value each."""
    parsed = parse_qs(body.decode(errors="replace"), keep_blank_values=True)
    return {key: values[0] for key, values in parsed.items() if values}


def query_call(service: Service, params: Mapping[str, str]) -> Call | None:
    """The call of a Query request with these parameters; None without an `Action`."""
    action = params.get("Action")
    if not action:
        return None
    parameters = {
        key: _REDACTED if "Password" in key else value
        for key, value in params.items()
        if key not in _ENVELOPE
    }
    ids = ec2.named_ids(parameters) if service is Service.EC2 else _named_ids(parameters)
    return Call(service, action, is_mutating(action), parameters, ids)


def _named_ids(params: Mapping[str, str]) -> tuple[str, ...]:
    """What an ELBv2 or RDS request names: ARNs, EC2 ids, and RDS's identifiers and group
    names (`DBInstanceIdentifier`, `DBSubnetGroupName`); not values in filters or tags."""
    found: list[str] = []
    for key, value in params.items():
        parts = [part for part in key.split(".") if not part.isdigit() and part != "member"]
        if any(part.startswith(("Filter", "Tag")) for part in parts):
            continue
        named = parts[-1].endswith(("Identifier", "GroupName"))
        if value.startswith("arn:") or ec2.ID.fullmatch(value) or named:
            found.append(value)
    return tuple(dict.fromkeys(found))
