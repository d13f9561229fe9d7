"""Finding and compiling the environment a command names."""

from __future__ import annotations

import os
from pathlib import Path

from provisioner.graph import CompiledEnvironment, compile_source
from provisioner.spec import EnvironmentSource, resolve_environment
from provisioner.spec.overlay import SPEC_SUFFIXES

ENVIRONMENTS_DIR_ENV = "PROVISION_ENVIRONMENTS_DIR"


def environments_dir() -> Path:
    """`$PROVISION_ENVIRONMENTS_DIR`, else `./environments`."""
    return Path(os.environ.get(ENVIRONMENTS_DIR_ENV, "environments"))


def source_of(ref: str) -> EnvironmentSource:
    return resolve_environment(ref, environments_dir())


def compile_ref(ref: str) -> CompiledEnvironment:
    """Compile ENV (a name in environments/ or a path); raises SpecError with every problem."""
    return compile_source(source_of(ref))


def all_environment_refs() -> list[str]:
    """Every spec file in the environments directory."""
    directory = environments_dir()
    if not directory.is_dir():
        return []
    return sorted(str(p) for p in directory.iterdir() if p.suffix in SPEC_SUFFIXES)
