"""The one place that sorts the cloud's failures into CloudError kinds.

Two sources: a failed Pulumi command (its output, and the failing resource's
own error), and a boto3 call made in this process (drift's reads, the orphan
sweep, the S3 lock and state bucket). Both become a CloudError; the kinds a
user acts on differently get their own class and hint:

- `CloudCredentialsError`: no credentials, or refused ones;
- `CloudUnreachableError`: the cloud's endpoint did not answer;
- `StackBusyError`: another Pulumi operation holds the stack's lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from provisioner.cloud.aws.exactly_once import error_code
from provisioner.errors import (
    CloudCredentialsError,
    CloudError,
    CloudUnreachableError,
    StackBusyError,
)

# Error codes of AWS APIs that mean the credentials are missing, wrong or expired.
_CREDENTIAL_CODES = (
    "AuthFailure",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
)
# What Pulumi's output says in each case (a provider's boto3 error is quoted in it).
_CREDENTIAL_TEXT = (
    "Unable to locate credentials",
    "Partial credentials found",
    "NoCredentialProviders",
    *(f"({code})" for code in _CREDENTIAL_CODES),
)
_UNREACHABLE_TEXT = (
    "Could not connect to the endpoint URL",
    "Connect timeout on endpoint URL",
    "Read timeout on endpoint URL",
    "Connection was closed before we received a valid response",
)
# The service's 409 for a stack being updated, and the lock of state in files or S3.
_BUSY_TEXT = ("[409] Conflict", "the stack is currently locked by")


def engine_failure(operation: str, output: str, reason: str | None = None) -> CloudError:
    """A failed Pulumi command as a CloudError of its kind.

    `output` is what the command printed; `reason` the failing resource's own
    error, which explains a failure better than the engine's last line.
    """
    message = f"pulumi {operation} failed: {reason or _last_error_line(output)}"
    if any(text in output for text in _BUSY_TEXT):
        return StackBusyError(message)
    if any(text in output for text in _CREDENTIAL_TEXT):
        return CloudCredentialsError(message)
    if any(text in output for text in _UNREACHABLE_TEXT):
        return CloudUnreachableError(message)
    return CloudError(message)


def boto_failure(action: str, error: BotoCoreError | ClientError) -> CloudError:
    """A failed boto3 call, made to do `action`, as a CloudError of its kind."""
    message = f"{action} failed: {error}"
    if isinstance(error, BotoConnectionError | HTTPClientError):
        return CloudUnreachableError(message)
    if error_code(error) in _CREDENTIAL_CODES or any(
        text in str(error) for text in _CREDENTIAL_TEXT
    ):
        return CloudCredentialsError(message)
    return CloudError(message)


@contextlib.contextmanager
def boto_errors(action: str) -> Iterator[None]:
    """Raise a failed boto3 call inside as a CloudError of its kind, naming `action`."""
    try:
        yield
    except (BotoCoreError, ClientError) as error:
        raise boto_failure(action, error) from error


def _last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["(no message)"])[-1]
