"""The local cloud may reach loopback only; every other address is refused."""

from __future__ import annotations

import pytest

from provisioner.errors import UnsafeEndpointError
from provisioner.netsafety import require_loopback_url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5000",
        "http://127.8.9.10:80/path",
        "http://localhost:4566",
        "http://[::1]:5000",
    ],
)
def test_loopback_urls_are_allowed(url: str) -> None:
    assert require_loopback_url(url) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://10.0.1.5:22", "10.0.1.5 is not a loopback address"),
        ("http://192.168.1.1", "192.168.1.1 is not a loopback address"),
        ("http://172.16.0.1:5000", "172.16.0.1 is not a loopback address"),
        ("https://8.8.8.8", "8.8.8.8 is not a loopback address"),
        ("https://ec2.us-east-1.amazonaws.com", "reached by loopback address only"),
        ("http://[fd00::1]:5000", "fd00::1 is not a loopback address"),
        ("not a url", "the URL has no host"),
    ],
)
def test_other_addresses_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(UnsafeEndpointError, match=reason):
        require_loopback_url(url)
