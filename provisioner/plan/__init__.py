"""Plans: what an apply would do to each resource, as typed, renderable data."""

from provisioner.plan.model import (
    Action,
    Plan,
    PlanFormatError,
    PropertyChange,
    ResourceChange,
    SoftwareChange,
    TaskChange,
    TaskOutlook,
)

__all__ = [
    "Action",
    "Plan",
    "PlanFormatError",
    "PropertyChange",
    "ResourceChange",
    "SoftwareChange",
    "TaskChange",
    "TaskOutlook",
]
