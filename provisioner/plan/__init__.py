"""Plans: what an apply would do to each resource, as typed, renderable data."""

from provisioner.plan.model import (
    Action,
    Plan,
    PropertyChange,
    ResourceChange,
    SoftwareChange,
    TaskChange,
    TaskOutlook,
)

__all__ = [
    "Action",
    "Plan",
    "PropertyChange",
    "ResourceChange",
    "SoftwareChange",
    "TaskChange",
    "TaskOutlook",
]
