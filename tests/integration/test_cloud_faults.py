"""Cloud changes made exactly once, and a teardown order proven, under faults real clouds make.

A fault proxy in front of the local cloud's API loses the answer of 20 % of the
mutating calls *after* forwarding them (the change is made, the client sees a
dropped connection or a 500), and answers calls that name an id created less
than 3 s ago with that id's NotFound, as AWS's eventual consistency does.

One environment with VMs and hosts (a public and a private subnet, two groups,
one rule naming the other group, a key pair, a bucket, three VMs running a one-task
role, a private DNS zone with one record) goes up, is planned and goes down under
those faults, in that order; what exists is counted from the cloud itself. The
delete calls the proxy recorded during `down`, and during the rollback of an
`up` whose instances are refused, prove that each resource was deleted only
after everything that depends on it. A cloud-only environment shows a VM that
never reaches running failing `up` within
`timeouts.vm`, and being rolled back.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from provisioner.cloud.aws.exactly_once import creation_token
from provisioner.cloud.aws.tags import TOKEN_TAG
from provisioner.local.faultproxy import FaultCounts, FaultProxy, Faults, Mutation
from tests.integration.projects import Project

pytestmark = pytest.mark.integration

ENV = "cfault"
SPEC = """\
name: cfault
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.62.0.0/17}
subnets:
  front: {network: main, cidr: 10.62.1.0/24, public: true}
  back: {network: main, cidr: 10.62.2.0/24}
security_groups:
  front:
    network: main
    ingress: [{protocol: tcp, ports: 22, cidr: 10.62.0.0/17}]
  back:
    network: main
    ingress:
      - {protocol: tcp, ports: 22, cidr: 10.62.0.0/17}
      - {protocol: tcp, ports: 5432, group: front}
key_pairs:
  deploy: {type: ed25519}
buckets:
  assets: {versioning: true}
roles:
  mark: {playbook: fault-mark.yml}
vms:
  front: {count: 2, instance_type: t3.micro, image: ami-12c6146b, subnet: front,
          security_groups: [front], key_pair: deploy, roles: [mark]}
  back: {count: 1, instance_type: t3.micro, image: ami-12c6146b, subnet: back,
         security_groups: [back], key_pair: deploy, roles: [mark]}
dns_zones:
  internal:
    domain: cfault.internal
    network: main
    records: {gate: {type: A, value: 10.62.1.250}}
"""
MARK = """\
- name: mark
  hosts: all
  gather_facts: false
  tasks:
    - name: a marker
      ansible.builtin.copy: {dest: /srv/mark, content: "{{ inventory_hostname }}\\n"}
"""
ADDRESSES = {
    "network.main",
    "network.main/internet-gateway",
    "network.main/public-routes",
    "subnet.front",
    "subnet.back",
    "sg.front",
    "sg.back",
    "key.deploy",
    "bucket.assets",
    "vm.front[0]",
    "vm.front[1]",
    "vm.back[0]",
    "dns.internal",
    "dns.internal/record-gate",
}
# The zone and its record, as Route53 lists them (they carry no EC2 tags).
ZONE_RECORDS = {"gate.cfault.internal. A": "10.62.1.250"}
HOSTS = ("front-0", "front-1", "back-0")
SSH_CHECKED = ("front-1", "back-0")  # one host in each subnet

TIMED = "cftimed"
TIMED_SPEC = """\
name: cftimed
cloud: local
region: us-east-1
timeouts: {vm: 5s}
networks:
  main: {cidr: 10.62.128.0/17}
subnets:
  solo: {network: main, cidr: 10.62.129.0/24}
vms:
  solo: {count: 1, instance_type: t3.micro, image: ami-12c6146b, subnet: solo}
"""
VM_TIMEOUT = 5.0
# Generous: the create's own retries, the undo's terminate, a loaded machine.
TIMEOUT_MARGIN = 30.0

# Each delete call: the parameter that names what it deletes, and whether it is the
# call that deletes the resource itself (a detach or disassociate only prepares it).
DELETES: dict[str, tuple[str, bool]] = {
    "TerminateInstances": ("InstanceId.", True),
    "DeleteKeyPair": ("KeyName", True),
    "DeleteSecurityGroup": ("GroupId", True),
    "DisassociateRouteTable": ("AssociationId", False),
    "DeleteSubnet": ("SubnetId", True),
    "DeleteRouteTable": ("RouteTableId", True),
    "DetachInternetGateway": ("InternetGatewayId", False),
    "DeleteInternetGateway": ("InternetGatewayId", True),
    "DeleteVpc": ("VpcId", True),
    "DeleteHostedZone": ("Id", True),
    "ChangeResourceRecordSets": ("ChangeBatch.Changes.", True),  # its DELETE changes
    "DeleteBucket": ("Bucket", True),
}
CLOUD_KINDS = ("network", "subnet", "sg", "key", "bucket", "vm", "dns")


# The proxy draws each kind of fault from its own stream of this seed, restarted for
# each command. Over its first 30 draws this one loses 6 answers (20 %) and answers 10
# NotFounds (33 %), and both streams hit early (the first mutating call of a command
# loses its answer; 3 of its first 8 do), so short commands see faults too.
SEED = 180


def lossy(**extra: Any) -> Faults:
    """20 % of mutating calls lose their answer; 30 % of calls on a 3 s old id meet NotFound."""
    return Faults(lose_answer=0.2, not_found=0.3, young_for=3.0, seed=SEED, **extra)


@dataclass(frozen=True)
class Phase:
    """One command run through the proxy: its result, what the proxy did, its run folder."""

    result: subprocess.CompletedProcess[str]
    counts: FaultCounts
    run: Path


@dataclass(frozen=True)
class StateResource:
    """A cloud resource as Pulumi's state recorded it."""

    address: str
    id: str
    dependencies: frozenset[str]  # addresses
    outputs: Mapping[str, Any]

    def names(self) -> set[str]:
        """What delete calls name it by: its id, a key pair's name, a subnet's association."""
        own = {
            "key_pair_id": "key_name",  # a key pair is deleted by name
            "subnet_id": "association_id",  # a subnet's delete begins with its association
        }
        extra = {
            self.outputs.get(name)
            for id_output, name in own.items()
            if self.outputs.get(id_output) == self.id
        }
        return {self.id} | {name for name in extra if isinstance(name, str) and name}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("cloudfaults"))
    project.write_spec(ENV, SPEC)
    project.write_spec(TIMED, TIMED_SPEC)
    (project.root / "playbooks" / "fault-mark.yml").write_text(MARK)
    project.run("local", "start")
    yield project
    project.extra_env = {}
    project.run("down", TIMED, "--yes", expect=None)
    project.teardown(ENV)


@pytest.fixture(scope="module")
def proxy(project: Project) -> Iterator[FaultProxy]:
    """One fault proxy for the module; each phase sets its faults and counts afresh."""
    with project.through_fault_proxy() as running:
        yield running


def run_phase(
    project: Project, proxy: FaultProxy, faults: Faults, *args: str, expect: int
) -> Phase:
    counts = proxy.use(faults)
    runs = project.state / "runs" / args[1]
    before = set(runs.iterdir()) if runs.exists() else set()
    result = project.run(*args, expect=expect)
    [run] = set(runs.iterdir()) - before
    return Phase(result, counts, run)


def cloud_resources(document: Mapping[str, Any]) -> dict[str, StateResource]:
    """The cloud resources of a Pulumi checkpoint, by address."""
    resources = document["checkpoint"]["latest"].get("resources") or []
    found = {}
    for resource in resources:
        if str(resource.get("type", "")).startswith("pulumi:") or not resource.get("id"):
            continue
        address = str(resource["urn"]).split("::")[-1]
        found[address] = StateResource(
            address,
            str(resource["id"]),
            frozenset(str(urn).split("::")[-1] for urn in resource.get("dependencies") or []),
            resource.get("outputs") or {},
        )
    return found


def state_file(project: Project, environment: str) -> Path:
    return project.state / "state" / ".pulumi" / "stacks" / "provision" / f"{environment}.json"


def checkpoints_since(project: Project, environment: str, since_ns: int) -> list[Path]:
    """Pulumi's history checkpoints of `environment` written after `since_ns`, oldest first."""
    folder = project.state / "state" / ".pulumi" / "history" / "provision" / environment
    stamped = [
        (int(path.name.removesuffix(".checkpoint.json").rsplit("-", 1)[1]), path)
        for path in folder.glob("*.checkpoint.json")
    ]
    return [path for stamp, path in sorted(stamped) if stamp >= since_ns]


def graph_edges(project: Project, environment: str) -> list[tuple[str, str]]:
    """(dependency, dependent) node pairs of the compiled graph, between cloud nodes."""
    graph = json.loads(project.run("graph", environment, "--format", "json").stdout)
    return [
        (edge["from"], edge["to"])
        for edge in graph["edges"]
        if edge["from"].startswith(CLOUD_KINDS) and edge["to"].startswith(CLOUD_KINDS)
    ]


def deleted_names(mutation: Mutation) -> list[str]:
    parameter = DELETES[mutation.action][0]
    if mutation.action == "ChangeResourceRecordSets":  # record sets, named `ZONE/NAME/TYPE`
        params = mutation.params
        changes = sorted({key.split(".")[2] for key in params if key.startswith(parameter)})
        return [
            "/".join((params["HostedZoneId"], record["Name"].rstrip("."), record["Type"]))
            for n in changes
            if params[f"{parameter}{n}.Action"] == "DELETE"
            for record in [
                {
                    field: params[f"{parameter}{n}.ResourceRecordSet.{field}"]
                    for field in ("Name", "Type")
                }
            ]
        ]
    return [value for key, value in mutation.params.items() if key.startswith(parameter)]


def cloud_ids(project: Project) -> set[str]:
    """The ids of everything of the environment in the cloud: tagged, and its zones' records."""
    zones = project.zones(ENV)
    records = {
        f"{zone_id}/{listed.split()[0].rstrip('.')}/{listed.split()[1]}"
        for zone_id, zone in zones.items()
        for listed in zone["records"]
    }
    return {resource["id"] for resource in project.tagged(ENV)} | set(zones) | records


def assert_deleted_dependents_first(
    resources: Mapping[str, StateResource], mutations: list[Mutation]
) -> None:
    """Each resource's deletes begin only after every dependent's delete was answered.

    "Deleted" is the answer to the call that deletes the resource itself (the last
    one, when a lost answer made the client repeat it); a dependency's first delete
    call, a detach or disassociate included, must arrive after it. Calls that came
    before the resource was made (a key pair made again during its create is deleted
    by the same name) are not part of its teardown.
    """
    owner = {name: r.address for r in resources.values() for name in r.names()}
    made_at = {name: m.answered for m in mutations for name in m.made}
    first_call: dict[str, float] = {}
    deleted_at: dict[str, float] = {}
    for mutation in mutations:
        if mutation.action not in DELETES:
            continue
        for name in deleted_names(mutation):
            address = owner.get(name)
            if address is None or mutation.arrived < made_at.get(name, 0.0):
                continue
            first_call[address] = min(first_call.get(address, mutation.arrived), mutation.arrived)
            if DELETES[mutation.action][1]:
                deleted_at[address] = max(deleted_at.get(address, 0.0), mutation.answered)
    assert set(deleted_at) == set(resources), "every recorded resource got its delete call"
    for resource in resources.values():
        for dependency in resource.dependencies & set(resources):
            assert deleted_at[resource.address] < first_call[dependency], (
                f"{dependency} began deleting before {resource.address} was deleted"
            )


def assert_no_delete_met_a_dependency(mutations: list[Mutation]) -> None:
    refused = [(m.action, m.error) for m in mutations if m.action in DELETES and m.error]
    assert not [r for r in refused if r[1] == "DependencyViolation"], refused


def events(run: Path, kind: str) -> list[dict[str, Any]]:
    lines = (run / "events.jsonl").read_text().splitlines()
    return [event for event in map(json.loads, lines) if event["type"] == kind]


# --- rollback -------------------------------------------------------------------


@pytest.fixture(scope="module")
def rolled_back(project: Project, proxy: FaultProxy) -> tuple[Phase, dict[str, StateResource]]:
    """An `up` whose instances are refused, rolled back under lost answers; and what it made."""
    since = time.time_ns()
    faults = lossy(permanent={"RunInstances": "InsufficientInstanceCapacity"})
    phase = run_phase(project, proxy, faults, "up", ENV, "--yes", expect=1)
    # The failed update's checkpoint, before the rollback's destroy.
    made = cloud_resources(json.loads(checkpoints_since(project, ENV, since)[0].read_text()))
    return phase, made


def test_a_rollback_under_lost_answers_leaves_nothing(
    project: Project, rolled_back: tuple[Phase, dict[str, StateResource]]
) -> None:
    phase, made = rolled_back
    assert "InsufficientInstanceCapacity" in phase.result.stderr
    assert f"rolled back the {len(made)} resources it created" in phase.result.stderr
    # What the run got to create before the refused instance stopped it depends on timing
    # (Pulumi starts no step after a failure); the network always comes first.
    assert "network.main" in made
    assert set(made) <= ADDRESSES - {"vm.front[0]", "vm.front[1]", "vm.back[0]"}
    assert cloud_ids(project) == set()
    assert project.state_ids(ENV) == set()


def test_a_rollback_deletes_each_resource_after_its_dependents(
    rolled_back: tuple[Phase, dict[str, StateResource]],
) -> None:
    phase, made = rolled_back
    assert_deleted_dependents_first(made, phase.counts.mutations)
    assert_no_delete_met_a_dependency(phase.counts.mutations)


# --- up, plan, down ---------------------------------------------------------------


@pytest.fixture(scope="module")
def live(project: Project, proxy: FaultProxy) -> Phase:
    """The environment brought up while answers are lost and new ids are not yet known.

    Besides the drawn losses, the first answer of `CreateKeyPair`, `RunInstances`,
    `CreateHostedZone` and `CreateBucket` is always lost: a key pair must then be made
    again, an instance, a zone and a bucket adopted.
    """
    first = frozenset({"CreateKeyPair", "RunInstances", "CreateHostedZone", "CreateBucket"})
    faults = lossy(lose_first=first)
    return run_phase(project, proxy, faults, "up", ENV, "--yes", expect=0)


def test_up_with_lost_answers_makes_each_resource_exactly_once(
    project: Project, live: Phase
) -> None:
    lost = live.counts.lost
    assert sum(lost.values()) >= 3, lost
    assert any(action.startswith(("Create", "RunInstances")) for action in lost), lost
    assert sum(live.counts.not_found.values()) >= 3, live.counts.not_found

    found = project.tagged(ENV)
    [zone] = project.zones(ENV).values()
    addresses = sorted([resource["provision:address"] for resource in found] + [zone["address"]])
    assert addresses == sorted(ADDRESSES - {"dns.internal/record-gate"})  # each exactly once
    assert zone["records"] == ZONE_RECORDS
    assert cloud_ids(project) == project.state_ids(ENV)
    for resource in found:  # each made by its own create of this run
        tags = {"provision:env": ENV, "provision:address": resource["provision:address"]}
        assert resource[TOKEN_TAG] == creation_token(tags, live.run.name)
    tags = {"provision:env": ENV, "provision:address": "dns.internal"}
    assert zone["caller_reference"] == f"provision:{ENV}:{creation_token(tags, live.run.name)}"


def test_an_instance_whose_create_answer_was_lost_is_adopted(project: Project, live: Phase) -> None:
    [lost, *resent] = [m for m in live.counts.mutations if m.action == "RunInstances"]
    assert lost.lost is not None
    [instance_id] = [made for made in lost.made if made.startswith("i-")]
    assert instance_id in project.state_ids(ENV)  # found by its token, not made again
    assert lost.tags[TOKEN_TAG] not in {m.tags[TOKEN_TAG] for m in resent}


def test_a_zone_whose_create_answer_was_lost_is_adopted_by_its_caller_reference(
    project: Project, live: Phase
) -> None:
    [lost, *resent] = [m for m in live.counts.mutations if m.action == "CreateHostedZone"]
    assert lost.lost is not None and resent == []  # found before a re-send, not made again
    assert list(project.zones(ENV)) == list(lost.made)


def test_a_bucket_whose_create_answer_was_lost_is_adopted_not_sent_again(
    project: Project, live: Phase
) -> None:
    [lost] = [m for m in live.counts.mutations if m.action == "CreateBucket"]
    assert lost.lost is not None and lost.made == (lost.params["Bucket"],)
    assert lost.params["Bucket"] in project.state_ids(ENV)


def test_a_key_pair_whose_create_answer_was_lost_is_made_again(
    project: Project, live: Phase
) -> None:
    """Its private key was only in the lost answer: the one made is deleted, a new one made."""
    creates = [m for m in live.counts.mutations if m.action == "CreateKeyPair"]
    first, last = creates[0], creates[-1]
    assert first.lost is not None and last.lost is None
    assert {m.tags[TOKEN_TAG] for m in creates} == {first.tags[TOKEN_TAG]}
    deletes = [m for m in live.counts.mutations if m.action == "DeleteKeyPair"]
    assert any(first.answered <= m.arrived and m.answered <= last.arrived for m in deletes)
    [pair] = project.ec2().describe_key_pairs(KeyNames=["cfault-deploy"])["KeyPairs"]
    assert pair["KeyPairId"] in last.made and pair["KeyPairId"] not in first.made


def test_the_hosts_are_configured_after_an_up_with_lost_answers(
    project: Project, live: Phase
) -> None:
    configured = {e["address"]: e["status"] for e in events(live.run, "ConfigureFinished")}
    assert configured == {f"software.mark@vm.{h.replace('-', '[')}]": "done" for h in HOSTS}
    for host in SSH_CHECKED:
        shown = project.run("ssh", ENV, host, "--", "cat", "/srv/mark")
        assert shown.stdout.strip() == host


def test_plan_under_lost_answers_shows_no_changes(
    project: Project, proxy: FaultProxy, live: Phase
) -> None:
    """No change, and in particular not the create-token tag, which is bookkeeping."""
    phase = run_phase(
        project,
        proxy,
        lossy(),
        "plan",
        ENV,
        "--json",
        "--no-hosts",
        "--detailed-exitcode",
        expect=0,
    )
    plan = json.loads(phase.result.stdout)
    assert TOKEN_TAG not in phase.result.stdout
    assert plan["summary"].get("create", 0) == plan["summary"].get("update", 0) == 0


@pytest.fixture(scope="module")
def torn_down(
    project: Project, proxy: FaultProxy, live: Phase
) -> tuple[Phase, dict[str, StateResource]]:
    """`down` under lost answers, and the resources the state recorded before it."""
    before = cloud_resources(json.loads(state_file(project, ENV).read_text()))
    return run_phase(project, proxy, lossy(), "down", ENV, "--yes", expect=0), before


def test_down_under_lost_answers_leaves_nothing(
    project: Project, torn_down: tuple[Phase, dict[str, StateResource]]
) -> None:
    phase, before = torn_down
    assert set(before) == ADDRESSES
    assert sum(phase.counts.lost.values()) >= 3, phase.counts.lost
    assert cloud_ids(project) == set()
    assert project.state_ids(ENV) == set()


def test_down_deletes_each_resource_after_its_dependents(
    project: Project, torn_down: tuple[Phase, dict[str, StateResource]]
) -> None:
    phase, before = torn_down
    assert_deleted_dependents_first(before, phase.counts.mutations)
    assert_no_delete_met_a_dependency(phase.counts.mutations)
    # The state's dependencies hold every edge of the compiled graph.
    for dependency, dependent in graph_edges(project, ENV):
        assert dependency in before[dependent].dependencies, (dependency, dependent)


# --- a VM that never reaches running ---------------------------------------------------


@pytest.fixture(scope="module")
def timed_out(project: Project, proxy: FaultProxy) -> Phase:
    """`up` of a VM whose instance the cloud keeps showing `pending`."""
    return run_phase(project, proxy, lossy(pending_instances=True), "up", TIMED, "--yes", expect=1)


def test_a_vm_that_never_runs_fails_up_within_its_timeout(timed_out: Phase) -> None:
    assert timed_out.counts.pending_answers > 0
    [finished] = [
        e
        for e in events(timed_out.run, "ResourceFinished")
        if e["action"] == "create" and e["address"] == "vm.solo[0]"
    ]
    assert finished["status"] == "failed"
    assert VM_TIMEOUT <= finished["elapsed"] <= VM_TIMEOUT + TIMEOUT_MARGIN
    assert "did not become running within 5s" in finished["error"]
    assert "vm.solo[0]" in timed_out.result.stderr
    assert "did not become running within 5s" in timed_out.result.stderr


def test_a_vm_that_never_runs_is_rolled_back(project: Project, timed_out: Phase) -> None:
    assert "rolled back the" in timed_out.result.stderr
    assert project.tagged(TIMED) == []
    assert project.state_ids(TIMED) == set()
