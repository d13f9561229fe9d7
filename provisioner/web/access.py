"""Who may read the web view: anyone on loopback; with a token, anyone who sends it.

`serve` binds 127.0.0.1 by default. Binding any other address needs a token, and
then every request (pages, the API, event streams) must carry it: as
`Authorization: Bearer TOKEN`, or `?token=TOKEN` for a browser's first visit, whose
answer sets it in a cookie (HttpOnly, SameSite=Strict) that the next pages send.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from provisioner.errors import ConfigurationError

TOKEN_ENV = "PROVISION_SERVE_TOKEN"  # noqa: S105 - the variable's name, not a token
COOKIE = "provision_token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    """The address the view binds and the token its requests need (None: loopback, none)."""

    host: str
    token: str | None = None

    @classmethod
    def checked(cls, host: str, token: str | None) -> Access:
        """Refuse a non-loopback address without a token, before anything starts."""
        if not is_loopback(host) and not token:
            raise ConfigurationError(
                f"refusing to serve on {host} without a token: anyone who can reach it "
                "could read the project",
                hint=f"give --token (or set {TOKEN_ENV}), or bind 127.0.0.1",
            )
        return cls(host, token or None)

    def allows(
        self, authorization: str | None, query_token: str | None, cookie: str | None = None
    ) -> bool:
        """True if a request carrying these may be answered (any one of them right)."""
        if self.token is None:
            return True
        bearer = authorization.removeprefix("Bearer ") if authorization else None
        return any(
            hmac.compare_digest(given.encode(), self.token.encode())
            for given in (bearer if authorization != bearer else None, query_token, cookie)
            if given is not None
        )
