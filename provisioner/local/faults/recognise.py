"""Which service a request is for, and the call it makes, by one parser per protocol.

The local cloud has one endpoint for every service. A request names its service in
its SigV4 credential scope (`Credential=AKID/20261130/us-east-1/<service>/aws4_request`,
in the Authorization header or a presigned URL's query). EC2, ELBv2 and RDS speak the
Query protocol; S3 and Route53 REST-XML.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from provisioner.local.faults.calls import Call, Request, Service
from provisioner.local.faults.query import form_params, query_call
from provisioner.local.faults.rest import rest_call

_SCOPE = re.compile(r"Credential=[^/,&\s]+/\d{8}/[^/]+/([\w-]+)/aws4_request")
_REST_XML = frozenset({Service.S3, Service.ROUTE53})


def signed_for(request: Request) -> Service | None:
    """The service a request is signed for, if the proxy knows it."""
    signed = request.headers.get("authorization") or unquote(request.target)
    match = _SCOPE.search(signed)
    if match is None:
        return None
    try:
        return Service(match.group(1))
    except ValueError:
        return None  # a service the proxy does not know (tagging, STS): passed through


def recognise(request: Request) -> Call | None:
    """The call a request makes; None for services and requests the proxy does not know."""
    service = signed_for(request)
    if service is None:
        return None
    if service in _REST_XML:
        return rest_call(service, request)
    return query_call(service, form_params(request.body))
