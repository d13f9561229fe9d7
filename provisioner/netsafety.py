"""The local cloud's network boundary: what the project may connect to.

When the cloud is `local`, traffic may go only to loopback (the moto API) or,
through a VPC namespace the project created, to that VPC's hosts. Everything
else is refused before a socket is opened.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from provisioner.errors import UnsafeEndpointError


def require_loopback_url(url: str) -> str:
    """Return `url` unchanged if its host is a loopback address, else raise UnsafeEndpointError."""
    host = urlsplit(url).hostname
    if host is None:
        raise UnsafeEndpointError(url, "the URL has no host")
    if host == "localhost":
        return url
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise UnsafeEndpointError(
            url, "the local cloud is reached by loopback address only"
        ) from None
    if not address.is_loopback:
        raise UnsafeEndpointError(url, f"{address} is not a loopback address")
    return url
