"""provision: compile environment specs into a dependency graph and apply them."""

__version__ = "0.1.0"
