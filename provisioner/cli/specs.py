"""Finding and compiling the environment a command names."""

from __future__ import annotations

import os
from pathlib import Path

from provisioner.errors import ConfigurationError
from provisioner.graph import CompiledEnvironment, compile_source
from provisioner.spec import EnvironmentSource, resolve_environment
from provisioner.spec.limits import Limits
from provisioner.spec.overlay import SpecFolder, scan_folder

ENVIRONMENTS_DIR_ENV = "PROVISION_ENVIRONMENTS_DIR"
MAX_RESOURCES_ENV = "PROVISION_MAX_RESOURCES"


def environments_dir() -> Path:
    """`$PROVISION_ENVIRONMENTS_DIR`, else `./environments`."""
    return Path(os.environ.get(ENVIRONMENTS_DIR_ENV, "environments"))


def spec_folder() -> SpecFolder:
    """The environments folder's environments and shared bases."""
    return scan_folder(environments_dir())


def spec_limits() -> Limits:
    """The resource limit: `$PROVISION_MAX_RESOURCES`, else the default."""
    raise_hint = f"raise it with {MAX_RESOURCES_ENV}"
    text = os.environ.get(MAX_RESOURCES_ENV, "").strip()
    if not text:
        return Limits(raise_hint=raise_hint)
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ConfigurationError(
            f"{MAX_RESOURCES_ENV} must be a positive whole number, got {text!r}"
        )
    return Limits(max_resources=limit, raise_hint=raise_hint)


def resolve_ref(ref: str) -> EnvironmentSource:
    """ENV's spec file (a name in environments/ or a path), shared bases included."""
    return resolve_environment(ref, environments_dir())


def shared_base_users(source: EnvironmentSource) -> tuple[Path, ...]:
    """The environments built on `source` if it is a shared base in environments/; ()."""
    folder = environments_dir()
    if source.file.parent != folder.resolve():
        return ()
    return scan_folder(folder).built_on(source.file)


def source_of(ref: str) -> EnvironmentSource:
    """ENV's spec file; a shared base is refused, since it is part of environments, not one."""
    source = resolve_ref(ref)
    users = shared_base_users(source)
    if users:
        raise ConfigurationError(
            f"'{source.name}' is a shared base that {names_and(users)} "
            f"{'extends' if len(users) == 1 else 'extend'}, not an environment"
        )
    return source


def compile_ref(ref: str) -> CompiledEnvironment:
    """Compile ENV (a name in environments/ or a path); raises SpecError with every problem."""
    return compile_source(source_of(ref), spec_limits())


def names_and(files: tuple[Path, ...]) -> str:
    """(dev.yaml, prod.yaml, staging.yaml) -> "dev, prod and staging"."""
    names = [file.stem for file in files]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
