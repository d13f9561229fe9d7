"""The REST-XML protocol (S3, Route53): the action from the method, the path and the query.

The routes are read from botocore's model of each service: every operation's
method and URI template (`PUT /{Bucket}?versioning`, `POST /2013-04-01/hostedzone/{Id}/rrset/`),
and the query-string and header members it requires. Operations that share a
template are told apart by what they require: `PUT /{Bucket}/{Key+}` is UploadPart
with `partNumber` and `uploadId`, CopyObject with `x-amz-copy-source`, else PutObject.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from provisioner.local.faults import ec2
from provisioner.local.faults.calls import Call, Request, Service

_CHANGING_METHODS = frozenset({"PUT", "POST", "DELETE", "PATCH"})
# Operations sent with a changing method that change nothing (S3's SelectObjectContent,
# Route53's ListTagsForResources).
_READ_PREFIXES = ("Describe", "Get", "List", "Select")
_PLACEHOLDER = re.compile(r"\{(\w+)(\+?)\}")
# A virtual-hosted S3 request: the bucket is the first part of the host name.
_VIRTUAL_HOST = re.compile(r"(?P<bucket>[a-z0-9][a-z0-9.-]*?)\.(?:s3[.-].*|localhost)")
_LARGEST_PARSED_BODY = 1 << 20


@dataclass(frozen=True)
class _Route:
    """One operation's place in the service's URI space."""

    action: str
    method: str
    path: re.Pattern[str]
    members: tuple[str, ...]  # the members the path's placeholders hold, in order
    fixed: tuple[tuple[str, str | None], ...]  # query keys (and values) the URI fixes
    required: tuple[tuple[str, str], ...]  # ("querystring" | "header", wire name)
    deprecated: bool

    def specificity(self, query: Mapping[str, str], headers: Mapping[str, str]) -> int | None:
        """How much of the request this route explains; None if the request lacks a part."""
        for key, value in self.fixed:
            if key not in query or (value is not None and query[key] != value):
                return None
        for location, name in self.required:
            present = name in query if location == "querystring" else name.lower() in headers
            if not present:
                return None
        return len(self.fixed) + len(self.required)


def rest_call(service: Service, request: Request) -> Call | None:
    """The call of a REST-XML request to `service`; None if no operation has its shape."""
    parts = urlsplit(request.target)
    path = _path_style(service, parts.path or "/", request.headers.get("host", ""))
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    method = request.method.upper()
    best: tuple[tuple[int, bool, int], _Route, re.Match[str]] | None = None
    for route in _routes(service):
        match = route.path.fullmatch(path) if route.method == method else None
        score = route.specificity(query, request.headers) if match else None
        if match is None or score is None:
            continue
        # The most specific route; on a tie the current one, then the plainer name
        # (ListBuckets over ListDirectoryBuckets).
        rank = (score, not route.deprecated, -len(route.action))
        if best is None or rank > best[0]:
            best = (rank, route, match)
    if best is None:
        return None
    _, route, match = best
    operation = _model(service).operation_model(route.action)
    values = map(unquote, match.groups())
    params = dict(zip(route.members, values, strict=True))
    params |= _query_members(operation, query) | _body_members(operation, request.body)
    mutating = method in _CHANGING_METHODS and not route.action.startswith(_READ_PREFIXES)
    return Call(service, route.action, mutating, params, _named_ids(route.members, params))


def _path_style(service: Service, path: str, host: str) -> str:
    """The path with the bucket in it, for a virtual-hosted S3 request."""
    virtual = _VIRTUAL_HOST.fullmatch(host.split(":")[0]) if service is Service.S3 else None
    if virtual is None:
        return path
    return "/" + virtual.group("bucket") + ("" if path == "/" else path)


def _named_ids(path_members: tuple[str, ...], params: Mapping[str, str]) -> tuple[str, ...]:
    """The bucket or the ids in the path (a zone's), then EC2 ids named elsewhere (a VPC)."""
    found = [params[name] for name in path_members if name == "Bucket" or name.endswith("Id")]
    for key, value in params.items():
        if ec2.ID.fullmatch(value) and not any("Tag" in part for part in key.split(".")):
            found.append(value)
    return tuple(dict.fromkeys(found))


@functools.cache
def _model(service: Service) -> Any:
    import botocore.session  # only where a REST request is read

    return botocore.session.get_session().get_service_model(service.value)


@functools.cache
def _routes(service: Service) -> tuple[_Route, ...]:
    model = _model(service)
    return tuple(_route(model.operation_model(action)) for action in model.operation_names)


def _route(operation: Any) -> _Route:
    path, _, fixed = str(operation.http["requestUri"]).partition("?")
    shape = operation.input_shape
    members = shape.members if shape is not None else {}
    by_wire = {member.serialization.get("name", name): name for name, member in members.items()}
    located = {
        name: (member.serialization["location"], member.serialization["name"])
        for name, member in members.items()
        if member.serialization.get("location") in ("querystring", "header")
    }
    required = [] if shape is None else shape.required_members
    items = [item.partition("=") for item in fixed.split("&") if item]
    return _Route(
        action=operation.name,
        method=str(operation.http["method"]).upper(),
        path=_path_pattern(path),
        members=tuple(by_wire.get(name, name) for name, _ in _PLACEHOLDER.findall(path)),
        fixed=tuple((key, value if sep else None) for key, sep, value in items),
        required=tuple(located[name] for name in required if name in located),
        deprecated=bool(operation.deprecated),
    )


def _path_pattern(template: str) -> re.Pattern[str]:
    """`/{Bucket}/{Key+}` as a pattern: a greedy placeholder may hold slashes, others not; a
    trailing slash is optional (boto3 sends Route53's `.../rrset/`)."""
    pattern, position = "", 0
    for placeholder in _PLACEHOLDER.finditer(template):
        pattern += re.escape(template[position : placeholder.start()])
        pattern += "(.+)" if placeholder.group(2) else "([^/]+)"
        position = placeholder.end()
    tail = template[position:]
    if template == "/" or template.endswith("+}"):
        return re.compile(pattern + re.escape(tail))
    return re.compile(pattern + re.escape(tail.rstrip("/")) + "/?")


def _query_members(operation: Any, query: Mapping[str, str]) -> dict[str, str]:
    shape = operation.input_shape
    if shape is None:
        return {}
    found = {}
    for name, member in shape.members.items():
        wire = member.serialization.get("name", name)
        if member.serialization.get("location") == "querystring" and wire in query:
            found[name] = query[wire]
    return found


def _body_members(operation: Any, body: bytes) -> dict[str, str]:
    """An XML body's members by their API names, lists numbered from 1 (not object data)."""
    shape = operation.input_shape
    if shape is None or not body.strip() or len(body) > _LARGEST_PARSED_BODY:
        return {}
    payload = shape.serialization.get("payload")
    target, prefix = (shape.members[payload], payload) if payload else (shape, "")
    if target.type_name != "structure":
        return {}  # a blob: an object's data
    try:
        # Bodies come from the test's own boto3 clients on loopback.
        root = ElementTree.fromstring(body)  # noqa: S314
    except ElementTree.ParseError:
        return {}
    found: dict[str, str] = {}
    _flatten(root, target, prefix, found)
    return found


def _flatten(element: ElementTree.Element, shape: Any, key: str, found: dict[str, str]) -> None:
    if shape.type_name == "structure":
        by_wire = {m.serialization.get("name", n): (n, m) for n, m in shape.members.items()}
        counts: dict[str, int] = {}
        for child in element:
            named = by_wire.get(child.tag.rpartition("}")[2])
            if named is None:
                continue
            name, member = named
            inner = f"{key}.{name}" if key else name
            if member.type_name == "list" and member.serialization.get("flattened"):
                counts[name] = counts.get(name, 0) + 1
                _flatten(child, member.member, f"{inner}.{counts[name]}", found)
            else:
                _flatten(child, member, inner, found)
    elif shape.type_name == "list":
        for index, child in enumerate(element, start=1):
            _flatten(child, shape.member, f"{key}.{index}", found)
    elif shape.type_name != "map":
        found[key] = element.text or ""
