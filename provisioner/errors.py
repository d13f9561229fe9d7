"""The project's error hierarchy: every expected failure is a ProvisionError.

The CLI prints an expected error as one line and exits 1; anything else is a
bug and gets a debug log instead.
"""

from __future__ import annotations


class ProvisionError(Exception):
    """Root of every error the project raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} ({self.hint})"


class ConfigurationError(ProvisionError):
    """The machine or the invocation is not set up for the requested work."""


class ToolMissingError(ConfigurationError):
    """A required external program (pulumi, sshd, ip, ...) is not installed."""

    def __init__(self, tool: str, *, hint: str | None = None) -> None:
        super().__init__(f"required tool not found: {tool}", hint=hint)
        self.tool = tool


class LocalCloudError(ProvisionError):
    """The local cloud (moto daemon and its hosts) failed to start, stop or answer."""


class UnsafeEndpointError(ProvisionError):
    """A connection to an address outside the local cloud was refused."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(f"refusing to connect to {target}: {reason}")
        self.target = target
        self.reason = reason


class CloudError(ProvisionError):
    """A cloud operation (through Pulumi or boto3) failed."""


class CloudCredentialsError(CloudError):
    """The cloud found no credentials, or refused the ones it was given."""

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            hint="set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        )


class CloudUnreachableError(CloudError):
    """The cloud's endpoint did not answer (not running, or out of reach)."""

    def __init__(self, message: str) -> None:
        super().__init__(
            message, hint="for the local cloud, `provision local status` says whether it runs"
        )


class StackBusyError(CloudError):
    """Another Pulumi operation holds the stack's lock (a concurrent update)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, hint="another run is changing this environment; let it finish")


class ConfirmationError(ProvisionError):
    """A change needed confirmation: the user declined, or no one could be asked."""


class HostError(ProvisionError):
    """Configuring a host (SSH, Ansible) failed, or a host cannot be reached."""


class RunFailedError(ProvisionError):
    """`up` failed; says why, and what the run created, changed and rolled back."""

    def __init__(
        self,
        cause: str,
        *,
        created: list[str],
        changed: list[str],
        rolled_back: list[str],
        rollback_error: str | None = None,
        interrupted: bool = False,
    ) -> None:
        parts = [f"up failed: {cause}"]
        if rolled_back and not rollback_error:
            parts.append(
                f"rolled back the {len(rolled_back)} resources it created: {', '.join(rolled_back)}"
            )
        elif created and rollback_error:
            kept = [address for address in created if address not in rolled_back]
            parts.append(f"rollback failed ({rollback_error}); kept: {', '.join(kept)}")
        elif created:
            parts.append(f"kept the {len(created)} resources it created (--no-rollback)")
        if changed:
            parts.append(f"changed in place and left as they are: {', '.join(changed)}")
        super().__init__("; ".join(parts))
        self.cause = cause
        self.created = created
        self.changed = changed
        self.rolled_back = rolled_back
        self.rollback_error = rollback_error
        if interrupted:
            self.exit_code = 130
