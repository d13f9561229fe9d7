"""A boto3 client of a service that holds nothing, for tests of one service among several."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


class EmptyService:
    """Every call answers an empty response, and every listing has one empty page."""

    meta = SimpleNamespace(region_name="us-east-1")

    def can_paginate(self, operation: str) -> bool:
        return True

    def get_paginator(self, operation: str) -> Any:
        return SimpleNamespace(paginate=lambda **_request: iter([{}]))

    def __getattr__(self, operation: str) -> Any:
        return lambda *_args, **_request: {}
