"""The passphrase that encrypts secrets (SSH private keys) in Pulumi state.

It comes from `PROVISION_PASSPHRASE`. Only for `cloud: local` is one generated
when it is unset: one per state folder (`workspace.passphrase`, 0600), shared by
its environments, since a stack reads another's outputs only with the same
passphrase. An environment made when each had its own keeps its own file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from provisioner.errors import ConfigurationError
from provisioner.fsutil import atomic_write_text

PASSPHRASE_ENV = "PROVISION_PASSPHRASE"  # noqa: S105 - the variable's name
WORKSPACE_FILE = "workspace.passphrase"


def passphrase_for(environment: str, cloud: str, secrets_dir: Path) -> str:
    """The passphrase to use for `environment`; raises ConfigurationError if none can be had."""
    given = os.environ.get(PASSPHRASE_ENV)
    if given:
        return given
    if cloud != "local":
        raise ConfigurationError(
            f"set {PASSPHRASE_ENV}: it encrypts the secrets in the state of '{environment}'"
        )
    for path in (secrets_dir / f"{environment}.passphrase", secrets_dir / WORKSPACE_FILE):
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    generated = secrets.token_urlsafe(32)
    atomic_write_text(secrets_dir / WORKSPACE_FILE, generated + "\n", mode=0o600)
    return generated


def check_shared(environment: str, uses: Sequence[str], cloud: str, secrets_dir: Path) -> None:
    """Environments that use each other must share the passphrase (else Pulumi hangs)."""
    own = passphrase_for(environment, cloud, secrets_dir)
    differing = [name for name in uses if passphrase_for(name, cloud, secrets_dir) != own]
    if differing:
        files = ", ".join(
            str(secrets_dir / f"{name}.passphrase")
            for name in [environment, *differing]
            if (secrets_dir / f"{name}.passphrase").exists()
        )
        raise ConfigurationError(
            f"{environment} uses {', '.join(differing)}, whose state is encrypted with "
            "another passphrase; environments that use each other share one",
            hint=f"an environment made before passphrases were shared has its own ({files}): "
            f"set {PASSPHRASE_ENV}, or take it down, delete its file and bring it up again",
        )
