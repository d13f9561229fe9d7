"""Render a ResourceGraph, or the environments' graph, as text (the waves), DOT, or a
PNG drawn by Graphviz."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from provisioner.errors import ProvisionError, ToolMissingError
from provisioner.graph.kinds import GRAPH_KINDS, graph_kind
from provisioner.graph.resource_graph import EdgeReason, ResourceGraph
from provisioner.spec.addresses import Address
from provisioner.spec.uses import EnvironmentGraph

# What each kind of edge says, for legends (the README's table, in short).
EDGE_MEANINGS: dict[str, tuple[str, str]] = {
    EdgeReason.CONTAINS.value: ("solid", "a network holds a subnet, group or zone; a VM its roles"),
    EdgeReason.USES.value: ("solid", "a subnet, group or key pair is used by a VM, balancer, ..."),
    EdgeReason.PEER.value: ("dashed", "a group named in another group's rule"),
    EdgeReason.ORDER.value: ("dotted", "a VM's roles, in the order listed"),
    EdgeReason.AFTER.value: ("bold", "every instance of a role before another (`after`)"),
    EdgeReason.REFERENCE.value: ("dashed", "the resource a `${...}` reads, before its reader"),
}

_EDGE_STYLES: dict[EdgeReason, str] = {
    EdgeReason.CONTAINS: "solid",
    EdgeReason.USES: "solid",
    EdgeReason.PEER: "dashed",
    EdgeReason.ORDER: "dotted",
    EdgeReason.AFTER: "bold",
    EdgeReason.REFERENCE: "dashed",
}


def to_text(graph: ResourceGraph) -> str:
    """The waves (what can run in parallel) and the critical path."""
    waves = graph.waves()
    path, _ = graph.critical_path()
    lines = [
        f"{graph.environment}: {len(graph)} resources, {len(graph.edges())} dependencies, "
        f"{len(waves)} waves",
        "",
    ]
    for number, wave in enumerate(waves, start=1):
        lines.append(f"wave {number}:")
        lines.extend(f"  {address}" for address in wave)
    lines += ["", f"critical path ({len(path)} steps):", "  " + " -> ".join(map(str, path))]
    return "\n".join(lines) + "\n"


def to_dot(
    graph: ResourceGraph,
    *,
    fill: Mapping[Address, str] | None = None,
    legend: Mapping[str, str] | None = None,
    link: Callable[[Address], str] | None = None,
    keys: bool = True,
) -> str:
    """Graphviz DOT: nodes coloured by kind, one rank per wave, edges styled by reason.

    `fill` colours nodes otherwise (by their state after a run, say), with `legend`
    (label -> colour) in place of the kinds'; `link` makes each node a link (in SVG).
    Without `keys`, no legends are drawn (a page shows its own).
    """
    lines = [
        f'digraph "{graph.environment}" {{',
        "  rankdir=LR;",
        '  graph [fontname="Helvetica", nodesep=0.25, ranksep=0.6];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        '  edge [color="#555555", arrowsize=0.7];',
    ]
    for number, wave in enumerate(graph.waves()):
        lines.append(f"  subgraph wave{number} {{ rank=same;")
        for address in wave:
            colour = (fill or {}).get(address) or graph_kind(address.kind).colour
            target = f', URL="{link(address)}"' if link is not None else ""
            lines.append(f'    "{address}" [fillcolor="{colour}"{target}];')
        lines.append("  }")
    for edge in graph.edges():
        style = _EDGE_STYLES[edge.reason]
        lines.append(f'  "{edge.source}" -> "{edge.target}" [style={style}];')
    if not keys:
        lines.append("}")
        return "\n".join(lines) + "\n"
    title = "kinds" if legend is None else "state"
    shown = legend if legend is not None else {k.spec.kind.value: k.colour for k in GRAPH_KINDS}
    lines.append(f'  subgraph cluster_legend {{ label={title}; fontsize=10; color="#bbbbbb";')
    for name, colour in shown.items():
        lines.append(f'    "legend {name}" [label="{name}", fillcolor="{colour}"];')
    lines.append("  }")
    lines.append('  subgraph cluster_edges { label=edges; fontsize=10; color="#bbbbbb";')
    for reason, style in _EDGE_STYLES.items():
        lines.append(f'    "edge {reason.value} a" [label="", shape=point];')
        lines.append(f'    "edge {reason.value} b" [label="{reason.value}", shape=plaintext];')
        lines.append(f'    "edge {reason.value} a" -> "edge {reason.value} b" [style={style}];')
    lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def environments_to_text(graph: EnvironmentGraph) -> str:
    """The environments' waves: each uses only environments of earlier waves."""
    waves = graph.waves()
    lines = [f"{len(graph.uses)} environments, {len(waves)} waves", ""]
    for number, wave in enumerate(waves, start=1):
        lines.append(f"wave {number}:")
        for name in wave:
            used = graph.uses[name]
            lines.append(f"  {name}" + (f"  (uses {', '.join(used)})" if used else ""))
    return "\n".join(lines) + "\n"


def environments_to_json(graph: EnvironmentGraph) -> dict[str, object]:
    return {
        "environments": [{"name": n, "uses": list(graph.uses[n])} for n in sorted(graph.uses)],
        "waves": graph.waves(),
    }


def environments_to_dot(graph: EnvironmentGraph) -> str:
    """Graphviz DOT: one rank per wave, an edge from each environment to its users."""
    lines = [
        'digraph "environments" {',
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fillcolor="#dbe9f6", fontname="Helvetica"];',
    ]
    for number, wave in enumerate(graph.waves()):
        lines.append(f"  subgraph wave{number} {{ rank=same;")
        lines.extend(f'    "{name}";' for name in wave)
        lines.append("  }")
    for name in sorted(graph.uses):
        lines.extend(f'  "{used}" -> "{name}";' for used in graph.uses[name])
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_to_svg(dot_text: str) -> str:
    """DOT text drawn by Graphviz's `dot`, as SVG text."""
    return _dot(dot_text, "-Tsvg")


def render_png(graph: ResourceGraph, output: Path) -> Path:
    """Draw the graph with Graphviz's `dot` into `output`."""
    return dot_to_png(to_dot(graph), output)


def dot_to_png(dot_text: str, output: Path) -> Path:
    """Draw DOT text with Graphviz's `dot` into `output`."""
    output.parent.mkdir(parents=True, exist_ok=True)
    _dot(dot_text, "-Tpng", "-Gdpi=110", "-o", str(output))
    return output


def _dot(dot_text: str, *arguments: str) -> str:
    """Run Graphviz's `dot` on DOT text; its standard output."""
    dot = shutil.which("dot")
    if dot is None:
        raise ToolMissingError("dot", hint="install Graphviz: `make setup` does it")
    result = subprocess.run(
        [dot, *arguments], input=dot_text, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ProvisionError(f"graphviz failed: {result.stderr.strip()}")
    return result.stdout
