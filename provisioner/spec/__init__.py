"""Environment specs: YAML files with overlays, validated by pydantic, with located diagnostics.

Public entry point: `load_environment(ref, environments_dir)`.
"""

from provisioner.spec.diagnostics import Diagnostic, Location, SpecError
from provisioner.spec.loader import EnvironmentSource, load_environment, resolve_environment
from provisioner.spec.model import Environment

__all__ = [
    "Diagnostic",
    "Environment",
    "EnvironmentSource",
    "Location",
    "SpecError",
    "load_environment",
    "resolve_environment",
]
