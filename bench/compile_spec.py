"""PF7: compile and validate a generated spec of about 10,000 (or 50,000) resources.

Writes a spec whose graph has ~10,000 nodes by default (networks, subnets, security groups
with peer rules, key pairs, VMs and role instances), then, in a fresh process
each time, loads, validates and compiles it. Reports the median wall time and
the peak resident memory of that process.

    .venv/bin/python bench/compile_spec.py [--resources 10000] [--runs 3] [--json]

The spec layer refuses more than 10,000 resources unless told otherwise, so the
compile raises the limit explicitly (to BENCH_MAX_RESOURCES, or to --resources).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NETWORKS = 20
# The resource limit the benchmark compiles under (the default is 10,000).
BENCH_MAX_RESOURCES = 50_000


def generate(target_resources: int) -> str:
    """A valid spec: per network 100 subnets and 100 groups; VM groups of 1 VM with 1 role."""
    subnets_per_network = groups_per_network = 100
    fixed = NETWORKS * (1 + subnets_per_network + groups_per_network) + NETWORKS
    vm_groups = max(1, (target_resources - fixed) // 2)  # each group: 1 VM + 1 role instance
    lines = ["name: bench", "cloud: local", "region: us-east-1", "networks:"]
    lines += [f"  net{n}:\n    cidr: 10.{n}.0.0/16" for n in range(NETWORKS)]
    lines.append("subnets:")
    for n in range(NETWORKS):
        for s in range(subnets_per_network):
            lines.append(f"  s{n}-{s}: {{network: net{n}, cidr: 10.{n}.{s}.0/24}}")
    lines.append("security_groups:")
    for n in range(NETWORKS):
        for g in range(groups_per_network):
            peer = f", ingress: [{{protocol: tcp, ports: 22, group: g{n}-{g - 1}}}]" if g else ""
            lines.append(f"  g{n}-{g}: {{network: net{n}{peer}}}")
    lines.append("key_pairs:")
    lines += [f"  k{n}: {{}}" for n in range(NETWORKS)]
    lines += ["roles:", "  app: {playbook: site.yml, vars: {peer: '${vm.v0[0].private_ip}'}}"]
    lines.append("vms:")
    for v in range(vm_groups):
        n, s = v % NETWORKS, (v // NETWORKS) % subnets_per_network
        lines.append(
            f"  v{v}: {{instance_type: t3.micro, image: ami-12c6146b, subnet: s{n}-{s}, "
            f"security_groups: [g{n}-{s}], key_pair: k{n}, roles: [app]}}"
        )
    return "\n".join(lines) + "\n"


def measure(spec: Path, max_resources: int) -> dict[str, float]:
    """Run one compile in this process (called in a child) and report time, nodes, peak RSS."""
    start = time.perf_counter()
    from provisioner.graph import compile_source
    from provisioner.spec import resolve_environment
    from provisioner.spec.limits import Limits

    imported = time.perf_counter()
    limits = Limits(max_resources=max_resources, raise_hint="raise it with --resources")
    compiled = compile_source(resolve_environment(str(spec), spec.parent), limits)
    done = time.perf_counter()
    return {
        "import_seconds": imported - start,
        "compile_seconds": done - imported,
        "nodes": len(compiled.graph),
        "edges": len(compiled.graph.edges()),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--max-resources", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    max_resources = max(BENCH_MAX_RESOURCES, args.resources)
    if args.child:
        print(json.dumps(measure(args.child, args.max_resources or max_resources)))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        spec = Path(folder) / "bench.yaml"
        (Path(folder) / "playbooks").mkdir()
        (Path(folder) / "playbooks" / "site.yml").write_text("- hosts: all\n  tasks: []\n")
        spec.write_text(generate(args.resources))
        runs = []
        for _ in range(args.runs):
            child = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(spec),
                    "--max-resources",
                    str(max_resources),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(child.stdout))
        size_kb = spec.stat().st_size / 1024
    result = {
        "figure": "PF7 compile",
        "nodes": runs[0]["nodes"],
        "edges": runs[0]["edges"],
        "spec_kb": round(size_kb),
        "compile_seconds_median": statistics.median(r["compile_seconds"] for r in runs),
        "peak_rss_mb_median": statistics.median(r["peak_rss_mb"] for r in runs),
        "runs": runs,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"PF7 compile: {result['nodes']} resources, {result['edges']} edges, "
            f"spec {result['spec_kb']} KiB: {result['compile_seconds_median']:.3f} s median "
            f"(load + validate + compile), peak RSS {result['peak_rss_mb_median']:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
