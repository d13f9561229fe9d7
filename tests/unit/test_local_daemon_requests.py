"""Which requests to the local cloud's moto server wake its data plane: those that may change it."""

from __future__ import annotations

import io
from typing import Any

import pytest

from provisioner.local.daemon import may_change_state


def form_post(body: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body.encode()),
    }


@pytest.mark.parametrize(
    ("body", "changes"),
    [
        ("Action=RunInstances&Version=2016-11-15&ImageId=ami-1", True),
        ("Action=ModifyListener&Version=2015-12-01", True),
        ("Action=DescribeInstances&Version=2016-11-15", False),
        ("Action=DescribeTargetHealth&Version=2015-12-01", False),
        ("Action=ListTagsForResource&Version=2014-10-31", False),
        ("Action=GetConsoleOutput&Version=2016-11-15", False),
    ],
)
def test_a_query_api_action_changes_state_unless_it_describes_lists_or_gets(
    body: str, changes: bool
) -> None:
    environ = form_post(body)
    assert may_change_state(environ) is changes
    assert environ["wsgi.input"].read() == body.encode()  # moto still reads the whole body


def test_rest_reads_change_nothing_and_rest_writes_may() -> None:
    assert not may_change_state({"REQUEST_METHOD": "GET", "QUERY_STRING": "list-type=2"})
    assert not may_change_state({"REQUEST_METHOD": "HEAD"})
    assert may_change_state({"REQUEST_METHOD": "GET", "QUERY_STRING": "Action=TerminateInstances"})
    put = {"REQUEST_METHOD": "PUT", "CONTENT_TYPE": "application/xml", "wsgi.input": io.BytesIO()}
    assert may_change_state(put)
    assert may_change_state({"REQUEST_METHOD": "DELETE"})
