"""The resource dependency graph: compiled from a spec, walked in waves.

`nodes` and `compiler` hold the infrastructure knowledge (the generic algorithms
are in `provisioner.dag`); `compile_source` is the entry point.
"""

from provisioner.graph.compiler import CompiledEnvironment, compile_environment, compile_source
from provisioner.graph.nodes import Node
from provisioner.graph.resource_graph import ResourceGraph

__all__ = [
    "CompiledEnvironment",
    "Node",
    "ResourceGraph",
    "compile_environment",
    "compile_source",
]
