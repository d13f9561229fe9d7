"""Environments that use each other: `uses:`, `${env.NAME...}` references, and their
located errors (file:line:col and field path), every one reported at once."""

from __future__ import annotations

from pathlib import Path

from provisioner.graph import compile_source
from provisioner.graph.kinds.dns import DnsZoneNode
from provisioner.graph.kinds.vm import VmNode
from provisioner.spec.addresses import Address
from provisioner.spec.diagnostics import Diagnostic
from provisioner.spec.kinds.dns import DNS
from provisioner.spec.kinds.vm import VM
from provisioner.spec.loader import EnvironmentSource, check_source
from provisioner.spec.references import parse_environment_reference
from provisioner.spec.uses import EnvironmentGraph

NETWORK = """\
name: network
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.20.0.0/16}
subnets:
  private-a: {network: main, cidr: 10.20.2.0/24, availability_zone: us-east-1a}
outputs:
  vpc_id: ${network.main.id}
"""

APP_HEAD = """\
name: app
cloud: local
region: us-east-1
uses: [network]
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def problems(file: Path) -> list[Diagnostic]:
    return check_source(EnvironmentSource(file, file.parent / "playbooks")).diagnostics


def where(found: list[Diagnostic]) -> list[tuple[int, tuple[str | int, ...]]]:
    return [(d.location.line, d.path) for d in found]


def test_references_to_a_used_environments_resource_and_output_validate(tmp_path: Path) -> None:
    write(tmp_path, "network", NETWORK)
    app = write(
        tmp_path,
        "app",
        APP_HEAD + "outputs:\n"
        "  subnet: ${env.network.subnet.private-a.id}\n"
        "  vpc: ${env.network.outputs.vpc_id}\n",
    )
    assert problems(app) == []


def test_every_wrong_reference_is_reported_at_its_line_and_field(tmp_path: Path) -> None:
    write(tmp_path, "network", NETWORK)
    write(tmp_path, "other", NETWORK.replace("name: network", "name: other"))
    app = write(
        tmp_path,
        "app",
        APP_HEAD + "outputs:\n"
        "  a: ${env.other.outputs.vpc_id}\n"  # line 6: not in `uses`
        "  b: ${env.network.subnet.private-b.id}\n"  # line 7: no such subnet
        "  c: ${env.network.outputs.vpc}\n"  # line 8: no such output
        "  d: ${env.network.subnet.private-a.nope}\n"  # line 9: no such attribute
        "  e: ${env.network}\n",  # line 10: names nothing
    )
    found = problems(app)
    assert where(found) == [
        (6, ("outputs", "a")),
        (7, ("outputs", "b")),
        (8, ("outputs", "c")),
        (9, ("outputs", "d")),
        (10, ("outputs", "e")),
    ]
    messages = [d.message for d in found]
    assert "reads environment 'other', which this environment does not use" in messages[0]
    assert (
        "environment 'network' has no subnet 'private-b' (did you mean 'private-a'?)"
        in (messages[1])
    )
    assert "has no output 'vpc' (did you mean 'vpc_id'?)" in messages[2]
    assert "'subnet' has no attribute 'nope'" in messages[3]
    assert all(d.location.file == app and d.location.column > 0 for d in found)


def test_an_unknown_used_environment_is_named_with_a_suggestion(tmp_path: Path) -> None:
    write(tmp_path, "network", NETWORK)
    app = write(tmp_path, "app", APP_HEAD.replace("[network]", "[network, netwrok]"))
    [problem] = problems(app)
    assert (problem.location.line, problem.path) == (4, ("uses", 1))
    assert problem.message == "uses unknown environment 'netwrok' (did you mean 'network'?)"


def test_a_cycle_between_environments_names_its_members_at_the_uses_entry(
    tmp_path: Path,
) -> None:
    write(tmp_path, "network", NETWORK + "uses: [app]\n")
    app = write(tmp_path, "app", APP_HEAD)
    [problem] = problems(app)
    assert problem.path == ("uses", 0)
    assert problem.message == "environments use each other in a cycle: app -> network -> app"


def test_environments_that_use_each_other_share_a_cloud_and_a_state_backend(
    tmp_path: Path,
) -> None:
    write(tmp_path, "network", NETWORK.replace("cloud: local", "cloud: aws"))
    app = write(tmp_path, "app", APP_HEAD + "state: s3://bucket/state\n")
    found = problems(app)
    assert [d.path for d in found] == [("uses", 0), ("uses", 0)]
    assert "runs on cloud 'aws', not 'local'" in found[0].message
    assert "share a state backend" in found[1].message


def test_an_environment_cannot_use_itself(tmp_path: Path) -> None:
    app = write(tmp_path, "app", APP_HEAD.replace("[network]", "[app]"))
    [problem] = problems(app)
    assert problem.message == "environment 'app' cannot use itself"


def test_the_environment_graph_orders_what_is_used_first(tmp_path: Path) -> None:
    write(tmp_path, "network", NETWORK)
    write(tmp_path, "dns", NETWORK.replace("name: network", "name: dns") + "uses: [network]\n")
    write(tmp_path, "app", APP_HEAD.replace("[network]", "[dns, network]"))
    graph = EnvironmentGraph.of_folder(tmp_path)
    assert graph.upstream("app") == ["network", "dns"]
    assert graph.downstream("network") == ["dns", "app"]
    assert graph.waves() == [["network"], ["dns"], ["app"]]
    assert graph.cycles() == []


def test_a_reference_prints_as_it_was_written() -> None:
    for text in ("env.network.subnet.private-a.id", "env.network.outputs.vpc_id"):
        assert str(parse_environment_reference(text)) == f"${{{text}}}"


def test_hosts_vars_may_read_another_environment_and_its_secrets(tmp_path: Path) -> None:
    write(tmp_path, "network", NETWORK)
    app = write(
        tmp_path,
        "app",
        APP_HEAD + "roles:\n  web:\n    playbook: web.yml\n"
        "    vars: {vpc: '${env.network.outputs.vpc_id}', cidr: '${env.network.subnet.nope.id}'}\n",
    )
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "web.yml").write_text("- hosts: all\n  tasks: []\n")
    [problem] = problems(app)
    assert problem.path == ("roles", "web", "vars", "cidr")
    assert "environment 'network' has no subnet 'nope'" in problem.message


PLACED = """\
security_groups:
  web: {network: "${env.network.network.main.id}", description: web}
  elsewhere: {network: main, description: in this environment's own network}
networks:
  main: {cidr: 10.30.0.0/16}
key_pairs:
  deploy: {type: ed25519}
vms:
  web:
    instance_type: t3.micro
    image: ami-12c6146b
    subnet: "${env.network.subnet.private-a.id}"
    security_groups: [web]
"""


def test_resources_placed_in_a_used_environments_subnet_and_network_validate_and_compile(
    tmp_path: Path,
) -> None:
    write(tmp_path, "network", NETWORK)
    app = write(tmp_path, "app", APP_HEAD + PLACED)
    assert problems(app) == []
    graph = compile_source(EnvironmentSource(app, tmp_path / "playbooks")).graph
    vm = graph.node(Address(VM, "web", 0))
    assert isinstance(vm, VmNode)
    assert vm.subnet == parse_environment_reference("env.network.subnet.private-a.id")
    # Another environment's resource is no node here: nothing waits for it in this graph.
    assert {str(a) for a in graph.dependencies(vm.address)} == {"sg.web"}
    assert "subnet.private-a" not in {str(node.address) for node in graph.nodes()}


def test_a_wrong_placement_is_reported_at_its_line_with_what_a_link_takes(tmp_path: Path) -> None:
    write(tmp_path, "network", NETWORK)
    wrong = (
        PLACED.replace(
            'subnet: "${env.network.subnet.private-a.id}"',
            'subnet: "${env.network.subnet.private-a.cidr}"',  # line 16: not its identity
        )
        .replace(
            "security_groups: [web]\n",
            "security_groups: [web]\n"
            '    key_pair: "${env.network.key.deploy.name}"\n',  # line 18: not placeable
        )
        .replace(
            '{network: "${env.network.network.main.id}"',
            '{network: "${env.network.network.nope.id}"',  # line 6: no such network
        )
    )
    found = problems(write(tmp_path, "app", APP_HEAD + wrong))
    assert where(found) == [
        (6, ("security_groups", "web", "network")),
        (16, ("vms", "web", "subnet")),
        (18, ("vms", "web", "key_pair")),
    ]
    messages = [d.message for d in found]
    assert "environment 'network' has no network 'nope'" in messages[0]
    assert messages[1] == "a subnet in another environment is given as ${env.NAME.subnet.ITEM.id}"
    assert messages[2] == "a key pair here is one of this environment's, by name"


def test_a_vms_group_in_another_network_than_its_placed_subnet_is_reported(
    tmp_path: Path,
) -> None:
    write(tmp_path, "network", NETWORK)
    wrong = PLACED.replace("security_groups: [web]\n", "security_groups: [elsewhere]\n")
    [found] = problems(write(tmp_path, "app", APP_HEAD + wrong))
    assert found.path == ("vms", "web", "security_groups", 0)
    assert found.message == (
        "security group 'elsewhere' is in network 'main', but subnet "
        "'${env.network.subnet.private-a.id}' is in '${env.network.network.main.id}'"
    )


ZONED_NETWORK = NETWORK.replace(
    "outputs:",
    "dns_zones:\n  internal: {domain: dev.internal, network: main}\noutputs:",
)


def test_records_in_a_used_environments_zone_take_its_domain_and_no_zone_of_their_own(
    tmp_path: Path,
) -> None:
    write(tmp_path, "network", ZONED_NETWORK)
    app = write(
        tmp_path,
        "app",
        APP_HEAD + PLACED + "dns_zones:\n"
        "  internal:\n"
        '    zone: "${env.network.dns.internal.zone_id}"\n'
        "    for_each_vm: [web]\n"
        "    records: {app: {type: CNAME, value: web-0.dev.internal}}\n",
    )
    assert problems(app) == []
    graph = compile_source(EnvironmentSource(app, tmp_path / "playbooks")).graph
    zone = graph.node(Address(DNS, "internal"))
    assert isinstance(zone, DnsZoneNode)
    assert zone.zone == parse_environment_reference("env.network.dns.internal.zone_id")
    assert zone.domain == "dev.internal"
    assert [zone.fqdn(r.name) for r in zone.records] == ["app.dev.internal", "web-0.dev.internal"]
    assert {str(a) for a in graph.dependencies(zone.address)} == {"vm.web[0]"}


def test_a_zone_is_its_own_or_another_environments_never_both(tmp_path: Path) -> None:
    write(tmp_path, "network", ZONED_NETWORK)
    app = write(
        tmp_path,
        "app",
        APP_HEAD + "networks:\n  main: {cidr: 10.30.0.0/16}\n"
        "dns_zones:\n"
        '  both: {zone: "${env.network.dns.internal.zone_id}", domain: a.internal}\n'  # 8
        "  neither: {records: {}}\n"  # 9
        "  named: {zone: internal}\n"  # 10: not another environment's
        '  other: {zone: "${env.network.dns.internal.domain}"}\n',  # 11: not its identity
    )
    found = problems(app)
    assert where(found) == [
        (8, ("dns_zones", "both")),
        (9, ("dns_zones", "neither")),
        (10, ("dns_zones", "named", "zone")),
        (11, ("dns_zones", "other", "zone")),
    ]
    assert "leave out `domain` and `network`" in found[0].message
    assert "a zone needs `domain` and `network`" in found[1].message
    assert found[2].message == (
        "a zone here is another environment's, as ${env.NAME.dns.ITEM.zone_id}"
    )
    assert (
        found[3].message == "a zone in another environment is given as ${env.NAME.dns.ITEM.zone_id}"
    )
