"""Specs that ask for too much are refused before anything is expanded, with a located reason.

A `count` typo (extra zeros) and a YAML alias bomb would each take minutes and
gigabytes if they were expanded first; both must be refused at once, in little memory.
"""

from __future__ import annotations

import textwrap
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner.cli.specs import compile_ref, spec_limits
from provisioner.errors import ConfigurationError
from provisioner.graph import compile_source
from provisioner.spec import SpecError, resolve_environment
from provisioner.spec.diagnostics import format_path
from provisioner.spec.kinds.vm import VMS
from provisioner.spec.limits import DEFAULT_LIMITS, Limits
from provisioner.spec.loader import check_source
from provisioner.spec.yamldoc import read_yaml

# Lines 1-9. `spec_with` puts `vms:` on line 10, its first group on 11 and its count on 12.
HEAD = """\
name: big
region: us-east-1
networks:
  main: {cidr: 10.0.0.0/16}
subnets:
  a: {network: main, cidr: 10.0.1.0/24}
roles:
  web: {playbook: web.yml}
  db: {playbook: db.yml}
"""


def vm_group(name: str, count: int, roles: str = "[web]", subnet: str = "a") -> str:
    return (
        f"  {name}:\n"
        f"    count: {count}\n"
        f"    instance_type: t3.micro\n"
        f"    image: ami-1\n"
        f"    subnet: {subnet}\n"
        f"    roles: {roles}\n"
    )


def spec_with(*groups: str) -> str:
    return HEAD + "vms:\n" + "".join(groups)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "playbooks").mkdir()
    for playbook in ("web.yml", "db.yml"):
        (tmp_path / "playbooks" / playbook).write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PROVISION_MAX_RESOURCES", raising=False)
    monkeypatch.delenv("PROVISION_ENVIRONMENTS_DIR", raising=False)
    return tmp_path


def write(project: Path, text: str, name: str = "big.yaml") -> Path:
    spec = project / name
    spec.write_text(textwrap.dedent(text), encoding="utf-8")
    return spec


def problems(spec: Path, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """`LINE:COLUMN PATH: message` of every diagnostic compiling `spec` reports."""
    source = resolve_environment(str(spec), spec.parent)
    with pytest.raises(SpecError) as caught:
        compile_source(source, limits)
    return [
        f"{d.location.line}:{d.location.column} {format_path(d.path)}: {d.message}"
        for d in caught.value.diagnostics
    ]


@dataclass
class Cost:
    seconds: float = 0.0
    peak_mb: float = 0.0


@contextmanager
def measured() -> Iterator[Cost]:
    """Wall time and the peak of memory allocated by Python inside the block."""
    cost = Cost()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        yield cost
    finally:
        cost.seconds = time.perf_counter() - start
        cost.peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()


def test_a_count_typo_is_refused_before_the_graph_is_expanded(project: Path) -> None:
    spec = write(project, spec_with(vm_group("web", 100_000_000)))
    with measured() as cost:
        found = problems(spec)
    # 100,000,000 VMs with one role each, the network and the subnet.
    assert found == [
        "12:5 vms.web.count: 100000000 VMs would make about 200000002 resources, "
        "over the limit of 10000"
    ]
    # Expanding would allocate gigabytes; refusing allocates a few megabytes.
    assert cost.peak_mb < 50, cost
    assert cost.seconds < 20, cost  # a loose bound: expanding takes minutes


def test_every_other_problem_is_reported_with_the_limit(project: Path) -> None:
    # On each VM `db` runs after `web`, against `web: after: [db]`: a cycle, found on one VM.
    text = spec_with(vm_group("web", 100_000_000, roles="[web, db]", subnet="b")).replace(
        "  web: {playbook: web.yml}\n", "  web: {playbook: web.yml, after: [db]}\n"
    )
    found = problems(write(project, text))
    assert found == [
        "8:36 roles.web.after[0]: "
        "dependency cycle: software.db@vm.web[0] -> software.web@vm.web[0] "
        "-> software.db@vm.web[0]",
        "12:5 vms.web.count: 100000000 VMs would make about 300000002 resources, "
        "over the limit of 10000",
        "15:5 vms.web.subnet: unknown subnet 'b' (did you mean 'a'?)",
    ]


def test_groups_that_are_over_only_together_are_blamed_at_the_largest(project: Path) -> None:
    spec = write(project, spec_with(vm_group("web", 3_000), vm_group("api", 2_000)))
    assert problems(spec) == [
        "12:5 vms.web.count: 3000 VMs would make about 10002 resources, over the limit of 10000"
    ]


def test_the_default_limit_is_10000_resources(project: Path) -> None:
    # The network, the subnet, and count x (the VM and its web role).
    at_limit = resolve_environment(str(write(project, spec_with(vm_group("web", 4_999)))), project)
    assert check_source(at_limit).diagnostics == []
    over = resolve_environment(str(write(project, spec_with(vm_group("web", 5_000)))), project)
    [problem] = check_source(over).diagnostics
    assert problem.message.endswith("about 10002 resources, over the limit of 10000")


def test_a_limits_parameter_raises_or_lowers_the_limit(project: Path) -> None:
    spec = write(project, spec_with(vm_group("web", 6_000)))
    source = resolve_environment(str(spec), project)
    assert len(compile_source(source, Limits(max_resources=12_002)).graph) == 12_002
    assert problems(spec, Limits(max_resources=20, raise_hint="raise it with --limit")) == [
        "12:5 vms.web.count: 6000 VMs would make about 12002 resources, "
        "over the limit of 20 (raise it with --limit)"
    ]


def test_provision_max_resources_raises_the_limit_of_the_cli(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = write(project, spec_with(vm_group("web", 6_000)))
    with pytest.raises(SpecError) as caught:
        compile_ref(str(spec))
    [problem] = caught.value.diagnostics
    assert problem.message.endswith(
        "over the limit of 10000 (raise it with PROVISION_MAX_RESOURCES)"
    )
    monkeypatch.setenv("PROVISION_MAX_RESOURCES", "50000")
    assert len(compile_ref(str(spec)).graph) == 12_002


@pytest.mark.parametrize("value", ["lots", "0", "-5", "1.5"])
def test_a_provision_max_resources_that_is_not_a_positive_number_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PROVISION_MAX_RESOURCES", value)
    with pytest.raises(ConfigurationError, match="PROVISION_MAX_RESOURCES must be a positive"):
        spec_limits()


def alias_bomb(levels: int) -> str:
    """The classic "billion laughs": each level lists the one before ten times."""
    lines = [
        "vars:",
        '  lol0: &lol0 "lol"',
        *(f"  lol{n}: &lol{n} [{', '.join([f'*lol{n - 1}'] * 10)}]" for n in range(1, levels + 1)),
    ]
    return spec_with(vm_group("web", 1)) + textwrap.indent("\n".join(lines), "    ") + "\n"


def test_a_yaml_alias_bomb_is_refused_at_the_alias_quickly_and_in_little_memory(
    project: Path,
) -> None:
    spec = write(project, alias_bomb(9))  # 10**9 values once expanded
    with measured() as cost:
        found = problems(spec)
    # lol6 alone expands to 1,111,111 values: its 8th alias of lol5 goes past 1,000,000.
    assert found == [
        "24:69 vms.web.vars.lol6[7]: "
        "YAML aliases expand this document beyond 1000000 values (an alias bomb?)"
    ]
    assert cost.peak_mb < 50, cost
    assert cost.seconds < 20, cost


def test_a_small_alias_tree_within_the_bound_is_read_and_shared(project: Path) -> None:
    spec = write(project, alias_bomb(4))  # about 11,000 values
    compiled = compile_source(resolve_environment(str(spec), project))
    lol4 = VMS.items(compiled.environment)["web"].vars["lol4"]
    assert len(lol4) == 10 and lol4[0][0][0] == ["lol"] * 10


def test_each_alias_adds_the_expanded_size_of_its_anchor(project: Path) -> None:
    # Values: the top mapping, the list and its 2 items (4); each alias adds the list's 3.
    spec = write(project, "a: &x [1, 2]\nb: *x\nc: *x\n", name="small.yaml")
    doc, diagnostics = read_yaml(spec, max_values=10)
    assert doc is not None and diagnostics == []
    assert doc.data == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}
    refused, [problem] = read_yaml(spec, max_values=9)
    assert refused is None
    assert (problem.location.line, problem.location.column, problem.path) == (3, 4, ("c",))
    assert problem.message == "YAML aliases expand this document beyond 9 values (an alias bomb?)"


def test_anchors_aliases_and_merge_keys_still_build_the_spec(project: Path) -> None:
    text = HEAD + textwrap.dedent(
        """\
        vms:
          web: &vm
            count: 2
            instance_type: t3.micro
            image: ami-1
            subnet: a
            roles: &roles [web]
          api:
            <<: *vm
            count: 1
            roles: *roles
          worker:
            <<: [*vm]
            instance_type: t3.small
        """
    )
    environment = compile_source(resolve_environment(str(write(project, text)), project))
    vms = VMS.items(environment.environment)
    assert {name: (g.count, g.instance_type, g.roles) for name, g in vms.items()} == {
        "web": (2, "t3.micro", ["web"]),
        "api": (1, "t3.micro", ["web"]),
        "worker": (2, "t3.small", ["web"]),
    }
    assert len(environment.graph) == 2 + 2 * (2 + 1 + 2)


def test_the_cli_limit_defaults_to_10000_and_reads_provision_max_resources(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PROVISION_MAX_RESOURCES", raising=False)
    assert spec_limits().max_resources == 10_000
    monkeypatch.setenv("PROVISION_MAX_RESOURCES", "50000")
    assert spec_limits().max_resources == 50_000
