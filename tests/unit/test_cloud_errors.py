"""Failures of Pulumi and of boto3 are sorted, in one place, into the CloudError a user acts on."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from provisioner.cloud.errors import boto_errors, boto_failure, engine_failure
from provisioner.errors import (
    CloudCredentialsError,
    CloudError,
    CloudUnreachableError,
    StackBusyError,
)

# How a failed command reads (`str` of the Automation API's CommandError).
ENGINE_OUTPUT = "\n code: 255\n stdout: Updating (dev):\n    error: {error}\n\n stderr: \n"


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}}, "DescribeVpcs")


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("the stack is currently locked by 1 lock(s). Either wait", StackBusyError),
        ("[409] Conflict: Another update is currently in progress.", StackBusyError),
        ("Exception calling application: Unable to locate credentials", CloudCredentialsError),
        ("An error occurred (AuthFailure) when calling RunInstances", CloudCredentialsError),
        ('Could not connect to the endpoint URL: "http://127.0.0.1:1/"', CloudUnreachableError),
        ("An error occurred (InvalidSubnet.Range) when calling CreateSubnet", CloudError),
    ],
)
def test_a_failed_pulumi_command_is_sorted_by_what_its_output_says(
    error: str, kind: type[CloudError]
) -> None:
    failure = engine_failure("up", ENGINE_OUTPUT.format(error=error))
    assert type(failure) is kind
    assert failure.message == f"pulumi up failed: error: {error}"


def test_the_failing_resources_own_error_is_the_reason_given() -> None:
    output = ENGINE_OUTPUT.format(error="update failed")
    failure = engine_failure("up", output, "vm.web[0]: (AuthFailure) no")
    assert failure.message == "pulumi up failed: vm.web[0]: (AuthFailure) no"


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (client_error("AuthFailure"), CloudCredentialsError),
        (client_error("InvalidClientTokenId"), CloudCredentialsError),
        (NoCredentialsError(), CloudCredentialsError),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), CloudUnreachableError),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), CloudUnreachableError),
        (client_error("InvalidVpcID.Malformed"), CloudError),
    ],
)
def test_a_failed_boto3_call_is_sorted_by_its_kind_and_code(
    error: BotoCoreError | ClientError, kind: type[CloudError]
) -> None:
    assert type(boto_failure("reading", error)) is kind


def test_each_kind_says_what_to_do_besides_what_failed() -> None:
    for kind in (CloudCredentialsError, CloudUnreachableError, StackBusyError):
        assert kind("x").hint


def test_a_boto3_failure_inside_leaves_as_a_cloud_error_naming_the_action() -> None:
    expected = "sweeping orphans failed: Could not connect"
    with pytest.raises(CloudUnreachableError, match=expected), boto_errors("sweeping orphans"):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
