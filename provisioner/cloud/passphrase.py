"""The passphrase that encrypts secrets (SSH private keys) in Pulumi state.

It comes from `PROVISION_PASSPHRASE`. Only for `cloud: local` is one generated
when it is unset, and kept in a 0600 file under the state folder.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from provisioner.errors import ConfigurationError
from provisioner.fsutil import atomic_write_text

PASSPHRASE_ENV = "PROVISION_PASSPHRASE"  # noqa: S105 - the variable's name


def passphrase_for(environment: str, cloud: str, secrets_dir: Path) -> str:
    """The passphrase to use for `environment`; raises ConfigurationError if none can be had."""
    given = os.environ.get(PASSPHRASE_ENV)
    if given:
        return given
    if cloud != "local":
        raise ConfigurationError(
            f"set {PASSPHRASE_ENV}: it encrypts the secrets in the state of '{environment}'"
        )
    path = secrets_dir / f"{environment}.passphrase"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    generated = secrets.token_urlsafe(32)
    atomic_write_text(path, generated + "\n", mode=0o600)
    return generated
