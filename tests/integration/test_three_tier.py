"""The repository's own three-tier `dev`, brought up from environments/ with what it uses.

A load balancer (HAProxy) in two public subnets in front of two web VMs, a managed
PostgreSQL in two private subnets, and `app.dev.internal` aliasing the load balancer in
the VPC's resolver; the VPC and its subnets are the `network` environment's, which
`staging` (one web VM here) uses too. `up --all` brings the three up from nothing; dev
lives through the whole module, in order: served pages, in network's subnets, and
staging's beside them; a second environment (`edge`, one VM running the nginx role) whose first `up`
downloads no package again; a web VM leaving the pool and coming back; the load
balancer's and the database's parts as the cloud describes them; drift of both made out
of band; a plan that scales the web group, upgrades the database's minor version,
protects it and changes the template holding its password (masked in the diff); a major
version refused at plan time and by the local cloud; `up` applying it; `down` refused by
the protection; scaling back; `down network` refused while dev and staging use it; and
`down --all`, which leaves nothing of any of them. Every check looks from
outside: requests from a host over SSH, the cloud with boto3, processes and namespaces
on the machine. The password is read for the test only from the recorded state (secrets
shown), then looked for everywhere it must not be.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser

from provisioner.hosts.ansible import MASK
from provisioner.local.aptcache import read_transfers
from provisioner.local.control import LocalCloud
from tests.integration.projects import NOTHING_LEFT, ROOT, Project, tag
from tests.integration.web_view import (
    browser,
    crawl,
    graph_fills,
    legend,
    new_page,
    record_figure,
    run_watched,
    screenshot,
    serving,
    timeline_bars,
)

ENV = "dev"
NETWORK = "network"
STAGING = "staging"
# A change to the nginx role's variables (it is part of the web playbook): its site
# template changes on every web VM.
NGINX_NAMED = {"web": {"vars": {"nginx_server_name": "app.dev.internal"}}}
APP = "http://app.dev.internal/"
DATABASE = "dev-main"
# A second environment of the project: one VM running the repository's nginx role.
EDGE = "edge"
EDGE_PLAYBOOK = "- name: proxy\n  hosts: all\n  gather_facts: false\n  roles: [nginx]\n"
EDGE_SPEC = {
    "name": EDGE,
    "cloud": "local",
    "region": "us-east-1",
    "networks": {"main": {"cidr": "10.51.0.0/16"}},
    "subnets": {"a": {"network": "main", "cidr": "10.51.1.0/24"}},
    "security_groups": {
        "edge": {
            "network": "main",
            "description": "ssh from the VPC",
            "ingress": [{"protocol": "tcp", "ports": 22, "cidr": "10.51.0.0/16"}],
        }
    },
    "key_pairs": {"deploy": {"type": "ed25519"}},
    "roles": {"proxy": {"playbook": "proxy.yml"}},
    "vms": {
        "edge": {
            "count": 1,
            "instance_type": "t3.micro",
            "image": "ami-12c6146b",
            "subnet": "a",
            "security_groups": ["edge"],
            "key_pair": "deploy",
            "roles": ["proxy"],
        }
    },
}
# What the web role's service task runs, by hand.
START_APP = (
    "start-stop-daemon --start --background --make-pidfile --pidfile /run/webapp.pid "
    "--chuid deploy --output /var/log/webapp.log "
    "--exec /usr/bin/python3 -- /opt/webapp/webapp.py /etc/webapp.conf"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("three-tier"))
    shutil.copytree(ROOT / "environments", project.root / "environments", dirs_exist_ok=True)
    (project.root / "environments" / "prod.yaml").unlink()  # on AWS: not one of `--all` here
    staging = project.spec(STAGING)
    staging["vms"]["web"]["count"] = 1
    project.write_spec(STAGING, staging)
    yield project
    with contextlib.suppress(Exception):  # a failed test may have left it protected
        project.client("rds").modify_db_instance(
            DBInstanceIdentifier=DATABASE, DeletionProtection=False, ApplyImmediately=True
        )
    project.run("down", "--all", "--yes", expect=None)
    project.teardown()


@pytest.fixture(scope="module")
def machine_packages() -> str:
    """The machine's package list before the environment exists."""
    return subprocess.run(["dpkg", "-l"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def applied(project: Project, said: list[str], machine_packages: str) -> dict[str, Any]:
    result = project.run_json("up", "--all", "--yes")
    said.append(json.dumps(result))
    return result


@pytest.fixture(scope="module")
def said() -> list[str]:
    """Everything the commands of this module printed (scanned for the password)."""
    return []


def run(project: Project, said: list[str], *args: str, expect: int = 0) -> str:
    result = project.run(*args, expect=expect)
    said.extend([result.stdout, result.stderr])
    return result.stdout + result.stderr


def run_json(project: Project, said: list[str], *args: str, expect: int = 0) -> dict[str, Any]:
    found = project.run_json(*args, expect=expect)
    said.append(json.dumps(found))
    return found


def change_dev(project: Project, **sections: dict[str, dict[str, Any]]) -> None:
    """Write dev.yaml as the repository has it plus `sections`, each merged one level deep
    (`vms={"web": {"count": 3}}` changes only the web group's count)."""
    spec = yaml.safe_load((ROOT / "environments" / f"{ENV}.yaml").read_text())
    for section, entries in sections.items():
        for name, fields in entries.items():
            spec.setdefault(section, {}).setdefault(name, {}).update(fields)
    project.write_spec(ENV, spec)


def fetch(project: Project, count: int = 1, host: str = "web-0") -> list[str]:
    """`count` requests to the app's name from a web VM, each answer's body (or its error)."""
    script = (
        f"for i in $(seq {count}); do "
        f"curl -s -m 3 -o - -w '\\n<<%{{http_code}}>>\\n' {APP} || echo '<<fail>>'; done"
    )
    output = project.ssh(ENV, host, "sh", "-c", script)
    return [answer.strip() for answer in output.split("\n<<") if answer.strip()][:count]


def served_by(answers: list[str]) -> Counter[str]:
    return Counter(
        match.group(1) if (match := re.search(r"<p>host: (\S+)</p>", a)) else "failed"
        for a in answers
    )


def eventually_served_by(project: Project, hosts: set[str], timeout: float = 40) -> None:
    """Within `timeout`, requests through the load balancer reach exactly `hosts`."""
    deadline = time.monotonic() + timeout
    while (found := set(served_by(fetch(project, 3 * len(hosts))))) != hosts:
        assert time.monotonic() < deadline, found
        time.sleep(1)


def the_load_balancer(project: Project) -> dict[str, Any]:
    """The environment's one load balancer as described, with its target group,
    listeners and each registered instance's health."""
    elbv2 = project.client("elbv2")
    tagged = project.tagged_load_balancing(ENV)
    [balancer] = [lb for lb in tagged if ":loadbalancer/" in lb["id"]]
    [group] = [g for g in tagged if ":targetgroup/" in g["id"]]
    [described] = elbv2.describe_load_balancers(LoadBalancerArns=[balancer["id"]])["LoadBalancers"]
    health = elbv2.describe_target_health(TargetGroupArn=group["id"])
    return {
        **described,
        "tags": balancer,
        "target_group": elbv2.describe_target_groups(TargetGroupArns=[group["id"]])["TargetGroups"][
            0
        ],
        "listeners": elbv2.describe_listeners(LoadBalancerArn=balancer["id"])["Listeners"],
        "targets": {
            d["Target"]["Id"]: d["TargetHealth"]["State"]
            for d in health["TargetHealthDescriptions"]
        },
    }


def web_instances(project: Project) -> set[str]:
    return {
        vm["InstanceId"]
        for address, vm in project.instances(ENV).items()
        if address.startswith("vm.web[")
    }


def the_database(project: Project) -> dict[str, Any]:
    [found] = project.client("rds").describe_db_instances(DBInstanceIdentifier=DATABASE)[
        "DBInstances"
    ]
    return dict(found)


def recorded_password(project: Project) -> str:
    """The database's password as the state records it (read with `provision`'s own parts)."""
    from provisioner.cli.wiring import ProjectSetup

    saved = dict(os.environ)
    here = Path.cwd()
    os.environ["PROVISION_STATE_DIR"] = str(project.state)
    os.chdir(project.root)
    try:
        cloud = ProjectSetup.of(ENV).open("test-reads-the-password").cloud
        [database] = [r for r in cloud.ready_resources() if str(r.address) == "db.main"]
    finally:
        os.chdir(here)
        os.environ.clear()
        os.environ.update(saved)
    return str(database.secrets["password"])


def test_the_app_name_answers_with_the_environment_the_host_and_a_database_row(
    project: Project, applied: dict[str, Any]
) -> None:
    [page] = fetch(project)
    assert "environment: dev" in page
    assert re.search(r"row 1 from PostgreSQL: hello from the dev database", page), page


def test_up_all_applies_network_first_and_places_dev_and_staging_in_its_subnets(
    project: Project, applied: dict[str, Any]
) -> None:
    runs = {entry["environment"]: entry for entry in applied["environments"]}
    assert {name: run["outcome"] for name, run in runs.items()} == {
        NETWORK: "done",
        ENV: "done",
        STAGING: "done",
    }
    assert next(iter(runs)) == NETWORK  # it started first: the others use it
    ec2 = project.ec2()
    network = {
        tag(found, "provision:address"): found
        for found in ec2.describe_subnets(
            Filters=[{"Name": "tag:provision:env", "Values": [NETWORK]}]
        )["Subnets"]
    }
    [vpc] = {subnet["VpcId"] for subnet in network.values()}
    names = ("public-a", "public-b", "private-a", "private-b")
    assert set(network) == {f"subnet.{name}" for name in names}
    for name in (ENV, STAGING):  # no network of their own: network's
        owned = [{"Name": "tag:provision:env", "Values": [name]}]
        assert ec2.describe_vpcs(Filters=owned)["Vpcs"] == []
        assert ec2.describe_subnets(Filters=owned)["Subnets"] == []
        vms = project.instances(name)
        assert vms and {vm["SubnetId"] for vm in vms.values()} == {
            network["subnet.public-a"]["SubnetId"]
        }
        groups = ec2.describe_security_groups(Filters=owned)["SecurityGroups"]
        assert {group["VpcId"] for group in groups} == {vpc}
    balancer = the_load_balancer(project)
    assert {zone["SubnetId"] for zone in balancer["AvailabilityZones"]} == {
        network["subnet.public-a"]["SubnetId"],
        network["subnet.public-b"]["SubnetId"],
    }
    [group] = project.client("rds").describe_db_subnet_groups(
        DBSubnetGroupName=the_database(project)["DBSubnetGroup"]["DBSubnetGroupName"]
    )["DBSubnetGroups"]
    assert {s["SubnetIdentifier"] for s in group["Subnets"]} == {
        network["subnet.private-a"]["SubnetId"],
        network["subnet.private-b"]["SubnetId"],
    }


@pytest.fixture(scope="module")
def served(project: Project, applied: dict[str, Any]) -> Iterator[str]:
    """`provision serve` on the project, for the module's whole life."""
    with serving(project) as url:
        yield url


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as launched:
        yield launched


def test_the_web_view_lists_dev_colours_its_graph_and_draws_its_up_in_dependency_order(
    project: Project, served: str, chromium: Browser
) -> None:
    graph = json.loads(project.run("graph", ENV, "--format", "json").stdout)
    nodes = {node["address"] for node in graph["nodes"]}
    with new_page(chromium) as page:
        page.goto(served + "/")
        assert "succeeded" in page.locator(f'tr[data-environment="{ENV}"]').inner_text()
        screenshot(page, "environments")
        page.click(f'tr[data-environment="{ENV}"] a >> text="{ENV}"')
        page.wait_for_selector("#graph svg")
        screenshot(page, "environment")
        # up --all created every node of dev: each is drawn once, in the legend's colour.
        assert graph_fills(page) == dict.fromkeys(nodes, legend(page)["created"])
        page.click('#graph g.node:has(title:text-is("db.main")) a')  # a node's own page
        page.wait_for_selector("#properties")
        screenshot(page, "node")
        page.go_back()

        page.click("#last-up")
        page.wait_for_selector("#timeline")
        screenshot(page, "run")
        bars = timeline_bars(page)
    assert [start for _, _, start, _ in bars] == sorted(start for _, _, start, _ in bars)
    spans: dict[str, list[tuple[float, float]]] = {}
    for resource, _, start, end in bars:
        spans.setdefault(resource.split("/", 1)[0], []).append((start, end))
    assert set(spans) == nodes  # a bar for every node, cloud and software
    for edge in graph["edges"]:  # each starts once everything it depends on has ended
        done = max(end for _, end in spans[edge["from"]])
        assert min(start for start, _ in spans[edge["to"]]) >= done, edge


def test_the_hosts_page_shows_each_vms_roles_and_their_last_result(
    project: Project, served: str, chromium: Browser
) -> None:
    graph = json.loads(project.run("graph", ENV, "--format", "json").stdout)
    roles: dict[str, set[str]] = {}
    for node in graph["nodes"]:
        if node["kind"] == "software":
            role, host = node["address"].removeprefix("software.").split("@")
            roles.setdefault(host, set()).add(role)
    with new_page(chromium) as page:
        page.goto(f"{served}/environments/{ENV}/hosts")
        screenshot(page, "hosts")
        shown = {
            host: dict(
                page.locator(f'section[data-host="{host}"] tr[data-role]').evaluate_all(
                    "rows => rows.map(r => [r.dataset.role, r.cells[1].textContent])"
                )
            )
            for host in roles
        }
    assert len(project.instances(ENV)) == len(roles) == 2
    assert shown == {host: dict.fromkeys(names, "done") for host, names in roles.items()}


def test_staging_serves_its_own_page_beside_dev_in_the_shared_network(
    project: Project, applied: dict[str, Any]
) -> None:
    page = project.ssh(STAGING, "web-0", "curl", "-s", "-m", "5", "http://app.staging.internal/")
    assert "environment: staging" in page
    assert "hello from the staging database" in page


def test_nginx_from_the_standard_role_fronts_the_app_and_the_machine_has_none(
    project: Project, applied: dict[str, Any], machine_packages: str
) -> None:
    assert "nginx version: nginx/" in project.ssh(ENV, "web-0", "sh", "-c", "nginx -v 2>&1")
    answer = project.ssh(ENV, "web-1", "curl", "-s", "-D", "-", "http://localhost/")
    assert re.search(r"^Server: nginx/", answer, re.MULTILINE), answer
    assert "<p>host: web-1</p>" in answer
    after = subprocess.run(["dpkg", "-l"], capture_output=True, text=True, check=True).stdout
    assert after == machine_packages
    if "ii  nginx " not in machine_packages:
        assert not Path("/usr/sbin/nginx").exists()


def test_a_second_environments_first_up_downloads_no_package_again(
    project: Project, said: list[str], applied: dict[str, Any]
) -> None:
    """`dev`'s hosts fetched nginx once; `edge`'s host gets every package from the cache."""
    log = LocalCloud(project.state / "local").paths.packages / "apt-cacher-ng" / "log"
    before = len(read_transfers(log))
    project.write_playbook("proxy.yml", EDGE_PLAYBOOK)
    project.write_spec(EDGE, EDGE_SPEC)
    run(project, said, "up", EDGE, "--yes")
    assert "nginx version: nginx/" in project.ssh(EDGE, "edge-0", "sh", "-c", "nginx -v 2>&1")
    debs = [t for t in read_transfers(log)[before:] if t.path.endswith(".deb")]
    assert any("/nginx" in t.path for t in debs), "edge's host got nginx elsewhere"
    assert [t.path for t in debs if t.fetched] == []
    run(project, said, "down", EDGE, "--yes")


def test_ten_requests_are_spread_over_both_web_vms(
    project: Project, applied: dict[str, Any]
) -> None:
    assert set(served_by(fetch(project, 10))) == {"web-0", "web-1"}


def test_a_stopped_app_leaves_the_pool_within_the_health_check_and_comes_back(
    project: Project, applied: dict[str, Any]
) -> None:
    web1 = project.instances(ENV)["vm.web[1]"]["InstanceId"]
    project.ssh(ENV, "web-1", "start-stop-daemon", "--stop", "--pidfile", "/run/webapp.pid")
    deadline = time.monotonic() + 30
    while the_load_balancer(project)["targets"][web1] != "unhealthy":
        assert time.monotonic() < deadline, the_load_balancer(project)["targets"]
        time.sleep(0.5)
    assert served_by(fetch(project, 10)) == Counter({"web-0": 10})

    project.ssh(ENV, "web-1", "sh", "-c", START_APP)
    deadline = time.monotonic() + 30
    while the_load_balancer(project)["targets"][web1] != "healthy":
        assert time.monotonic() < deadline, the_load_balancer(project)["targets"]
        time.sleep(0.5)
    assert set(served_by(fetch(project, 10))) == {"web-0", "web-1"}


def test_the_load_balancer_has_a_target_group_a_listener_and_a_target_per_web_vm(
    project: Project, applied: dict[str, Any]
) -> None:
    balancer = the_load_balancer(project)
    assert (balancer["Scheme"], balancer["Type"]) == ("internal", "application")
    assert sorted(zone["ZoneName"] for zone in balancer["AvailabilityZones"]) == [
        "us-east-1a",
        "us-east-1b",
    ]
    assert balancer["tags"]["provision:address"] == "lb.web"
    group = balancer["target_group"]
    assert (group["Port"], group["Protocol"], group["HealthCheckPath"]) == (80, "HTTP", "/health")
    assert (group["HealthCheckIntervalSeconds"], group["HealthyThresholdCount"]) == (5, 2)
    [listener] = balancer["listeners"]
    assert (listener["Port"], listener["Protocol"]) == (80, "HTTP")
    assert listener["DefaultActions"][0]["TargetGroupArn"] == group["TargetGroupArn"]
    assert set(balancer["targets"]) == web_instances(project) and len(balancer["targets"]) == 2
    # dev's records are in network's zone dev.internal: dev has no zone of its own.
    assert project.zones(ENV) == {}
    [zone] = project.zones(NETWORK).values()
    assert zone["name"] == "dev.internal."
    assert zone["records"]["app.dev.internal. CNAME"] == balancer["DNSName"]
    vms = project.instances(ENV)
    for index in (0, 1):
        address = vms[f"vm.web[{index}]"]["PrivateIpAddress"]
        assert zone["records"][f"web-{index}.dev.internal. A"] == address


def test_the_database_is_in_its_subnet_group_and_the_web_role_reads_its_password(
    project: Project, applied: dict[str, Any]
) -> None:
    rds = project.client("rds")
    [group] = rds.describe_db_subnet_groups(DBSubnetGroupName=f"{DATABASE}-subnets")[
        "DBSubnetGroups"
    ]
    assert len(group["Subnets"]) == 2
    tagged = sorted(found["id"].rsplit(":", 1)[-1] for found in project.tagged_databases(ENV))
    assert tagged == [DATABASE, f"{DATABASE}-subnets"]  # the instance and its subnet group
    database = the_database(project)
    assert database["DBInstanceStatus"] == "available"
    assert database["DBSubnetGroup"]["DBSubnetGroupName"] == f"{DATABASE}-subnets"
    password = recorded_password(project)
    assert len(password) >= 24
    written = project.ssh(ENV, "web-0", "cat", "/etc/webapp.conf")
    assert f"db_host = {database['Endpoint']['Address']}\n" in written
    assert f"db_password = {password}\n" in written


def test_a_database_class_and_a_listener_port_changed_out_of_band_are_drift(
    project: Project, applied: dict[str, Any], said: list[str], served: str, chromium: Browser
) -> None:
    project.client("rds").modify_db_instance(
        DBInstanceIdentifier=DATABASE, DBInstanceClass="db.t3.small", ApplyImmediately=True
    )
    [listener] = the_load_balancer(project)["listeners"]
    project.client("elbv2").modify_listener(ListenerArn=listener["ListenerArn"], Port=81)
    report = run_json(project, said, "drift", ENV, "--no-hosts", expect=2)
    diffs = {
        change["address"]: {(d["path"], d["before"], d["after"]) for d in change["diff"]}
        for change in report["changes"]
    }
    assert diffs == {
        "db.main": {("instance_class", "db.t3.micro", "db.t3.small")},
        "lb.web/listener-80": {("port", 80, 81)},
    }
    assert "db.t3.small" in run(project, said, "drift", ENV, "--no-hosts", expect=2)
    with new_page(chromium) as page:  # the drift page shows the latest report, property by property
        page.goto(f"{served}/environments/{ENV}/drift")
        screenshot(page, "drift")
        rows = page.locator("#properties tr[data-address]").evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
        )
    assert {(row[0], row[2], row[3], row[4]) for row in rows} == {
        ("db.main", "instance_class", "db.t3.micro", "db.t3.small"),
        ("lb.web/listener-80", "port", "80", "81"),
    }


def test_a_plan_scales_the_group_upgrades_and_protects_the_database_and_masks_its_password(
    project: Project, applied: dict[str, Any], said: list[str]
) -> None:
    change_dev(
        project,
        vms={"web": {"count": 3}},
        databases={"main": {"engine_version": "15.5", "deletion_protection": True}},
        roles=NGINX_NAMED,
    )
    template = project.root / "playbooks" / "templates" / "webapp.conf.j2"
    original = template.read_text()
    template.write_text(original + "# changed\n")
    try:
        planned = run_json(project, said, "plan", ENV)
    finally:
        template.write_text(original)
    changes = {c["address"]: c for c in planned["changes"] if c["action"] != "no-op"}
    # (The zone's other records may show as updates: the zone depends on the web group,
    # in which a VM is created, so their values are not known before the apply.)
    assert {a: c["action"] for a, c in changes.items() if not a.startswith("dns.")} == {
        "vm.web[2]": "create",
        "lb.web/target-web-2": "create",
        "lb.web/listener-80": "update",  # the drift goes back
        "db.main": "update",
    }
    assert changes["dns.internal/record-web-2"]["action"] == "create"
    assert {d["path"] for d in changes["db.main"]["diff"]} == {
        "engine_version",
        "instance_class",
        "deletion_protection",
    }
    software = {s["address"]: s for s in planned["software"]}
    for role in ("base", "web", "smoke"):  # a new VM: every role runs
        assert software[f"software.{role}@vm.web[2]"]["action"] == "create"
    for vm in ("vm.web[0]", "vm.web[1]"):
        changing = [t for t in software[f"software.web@{vm}"]["tasks"] if t["outlook"] == "change"]
        [task] = [t for t in changing if "webapp.conf" in (t["diff"] or "")]
        assert f"db_password = {MASK}" in task["diff"]
        assert "+# changed" in task["diff"]
        [site] = [t for t in changing if "server_name" in (t["diff"] or "")]  # nginx role
        assert "+    server_name app.dev.internal;" in site["diff"]


def test_a_major_version_without_the_flag_is_refused_at_plan_time_at_its_line(
    project: Project, applied: dict[str, Any], said: list[str]
) -> None:
    change_dev(project, vms={"web": {"count": 3}}, databases={"main": {"engine_version": "16.1"}})
    refused = run(project, said, "plan", ENV, "--no-hosts", expect=1)
    spec = project.root / "environments" / f"{ENV}.yaml"
    line = next(number for number, text in enumerate(spec.open(), 1) if "engine_version" in text)
    assert re.search(rf"{ENV}\.yaml:{line}:\d+: databases\.main\.engine_version: ", refused)
    assert "allow_major_version_upgrade: true" in refused
    assert "Traceback" not in refused


def test_up_registers_the_new_vm_puts_the_listener_back_and_upgrades_the_database(
    project: Project, applied: dict[str, Any], said: list[str], served: str, chromium: Browser
) -> None:
    before = the_load_balancer(project)
    nginx_master = project.ssh(ENV, "web-0", "cat", "/run/nginx.pid")
    change_dev(
        project,
        vms={"web": {"count": 3}},
        databases={"main": {"engine_version": "15.5", "deletion_protection": True}},
        roles=NGINX_NAMED,
    )
    # Started from the CLI while the run list is open: the run appears there, running,
    # and its page shows its events as they are recorded.
    with new_page(chromium) as page:
        watched = run_watched(page, served, project, "up", ENV, "--yes")
    output = watched.output
    said.append(output)
    assert watched.returncode == 0, output
    assert watched.first_outcome == "running"
    assert len(watched.live) >= 10  # events shown as they arrived, not at the end
    delays = sorted(shown - at for at, shown in watched.live.items())
    record_figure("event_to_page_seconds", {"median": delays[len(delays) // 2], "max": delays[-1]})
    # The site's template changed on the running VMs: one reload each, the same nginx.
    assert output.count("web-0: Reload nginx changed") == 1
    assert output.count("web-1: Reload nginx changed") == 1
    assert project.ssh(ENV, "web-0", "cat", "/run/nginx.pid") == nginx_master
    site = project.ssh(ENV, "web-0", "cat", "/etc/nginx/sites-enabled/app.conf")
    assert "server_name app.dev.internal;" in site
    after = the_load_balancer(project)
    assert after["LoadBalancerArn"] == before["LoadBalancerArn"]
    assert set(after["targets"]) == web_instances(project) and len(after["targets"]) == 3
    assert set(before["targets"]) < set(after["targets"])
    [restored] = after["listeners"]
    assert (restored["ListenerArn"], restored["Port"]) == (
        before["listeners"][0]["ListenerArn"],
        80,
    )
    database = the_database(project)
    assert (database["DBInstanceClass"], database["EngineVersion"]) == ("db.t3.micro", "15.5")
    assert database["DeletionProtection"] is True
    eventually_served_by(project, {"web-0", "web-1", "web-2"})


def test_down_refuses_a_protected_database_naming_it_and_deletes_nothing(
    project: Project, applied: dict[str, Any], said: list[str]
) -> None:
    refused = run(project, said, "down", ENV, "--yes", expect=1)
    assert "db.main" in refused
    assert "deletion_protection" in refused
    assert the_database(project)["DBInstanceStatus"] == "available"
    assert len(project.instances(ENV)) == 3  # nothing at all was deleted
    assert len(the_load_balancer(project)["targets"]) == 3


def test_scaling_back_deregisters_exactly_the_vm_that_goes_and_leaves_no_drift(
    project: Project, applied: dict[str, Any], said: list[str]
) -> None:
    before = set(the_load_balancer(project)["targets"])
    change_dev(project, databases={"main": {"engine_version": "15.5"}})
    run(project, said, "up", ENV, "--yes")
    after = set(the_load_balancer(project)["targets"])
    assert after == web_instances(project) and len(after) == 2 and after < before
    assert the_database(project)["DeletionProtection"] is False
    assert run_json(project, said, "drift", ENV, "--no-hosts")["changes"] == []
    eventually_served_by(project, {"web-0", "web-1"})


def test_a_major_version_the_local_cloud_cannot_serve_is_refused_and_changes_nothing(
    project: Project, applied: dict[str, Any], said: list[str], served: str, chromium: Browser
) -> None:
    change_dev(
        project,
        databases={"main": {"engine_version": "16.1", "allow_major_version_upgrade": True}},
    )
    output = run(project, said, "up", ENV, "--yes", expect=1)
    change_dev(project, databases={"main": {"engine_version": "15.5"}})
    assert "serves PostgreSQL 15 only" in output, output
    assert "Traceback" not in output
    assert the_database(project)["EngineVersion"] == "15.5"
    assert "environment: dev" in fetch(project)[0]
    [failed] = project.runs(ENV)[-1:]  # its page, filtered to failures, is the database's
    with new_page(chromium) as page:
        page.goto(f"{served}/runs/{failed.name}")
        everything = page.locator("#log tr").count()
        page.click("text=only failures")
        page.wait_for_url("**failures=true")
        screenshot(page, "run-failures")
        rows = page.locator("#log tr").evaluate_all(
            "rows => rows.map(r => [r.className, r.cells[2].textContent, r.cells[4].textContent])"
        )
    assert rows and len(rows) < everything
    assert {kind for kind, _, _ in rows} <= {"failed", "error"}
    assert ("failed", "db.main") in {(kind, address) for kind, address, _ in rows}


def test_the_database_password_is_in_no_file_or_output_of_the_project(
    project: Project, applied: dict[str, Any], said: list[str], served: str
) -> None:
    password = recorded_password(project)
    served_pages = crawl(served)  # every page and API answer of the web view
    assert {f"/api/environments/{ENV}/hosts", f"/environments/{ENV}/nodes/db.main"} <= set(
        served_pages
    )
    passphrases = [path.read_text().strip() for path in (project.state / "secrets").glob("*")]
    assert passphrases
    for body in served_pages.values():
        assert "PRIVATE KEY" not in body
        assert not any(passphrase in body for passphrase in passphrases)
    outputs = [*said, *served_pages.values(), project.run("plan", ENV, "--no-hosts").stdout]
    outputs += [project.run("history", ENV).stdout]
    outputs += [project.run("show", run.name, "--json").stdout for run in project.runs(ENV)]
    scan_for(password, project, outputs)


def test_down_network_is_refused_while_dev_and_staging_use_it(
    project: Project, applied: dict[str, Any], said: list[str]
) -> None:
    before = project.tagged_ids(NETWORK)
    refused = run(project, said, "down", NETWORK, "--yes", expect=1)
    assert "refusing to take network down while environments that use it have resources" in (
        refused
    )
    assert "dev (" in refused and "staging (" in refused
    assert project.tagged_ids(NETWORK) == before != set()


def test_down_all_leaves_no_cloud_resource_namespace_process_or_database_data(
    project: Project, applied: dict[str, Any]
) -> None:
    running = {process.split()[1] for process in project.data_plane()["processes"]}
    assert running == {"haproxy", "postgres", "dnsmasq"}
    project.run("down", "--all", "--yes")
    for name in (ENV, STAGING, NETWORK):
        assert project.leftovers(name) == NOTHING_LEFT
    assert project.data_plane() == {"processes": [], "folders": []}
    rds = project.client("rds")
    assert rds.describe_db_subnet_groups()["DBSubnetGroups"] == []
    assert project.client("elbv2").describe_target_groups()["TargetGroups"] == []


def scan_for(password: str, project: Project, said: list[str]) -> None:
    """The password is in no file of the project (state, records, artifacts) and no output."""
    scanned = 0
    hosts = project.state / "local" / "hosts"  # the hosts' own disks: the role put it there
    for path in project.root.rglob("*"):
        if not path.is_file() or path.stat().st_size > 5_000_000 or path.is_relative_to(hosts):
            continue
        assert password not in path.read_text(errors="replace"), path
        scanned += 1
    assert scanned > 50
    assert list(project.state.rglob("job_events/*.json"))  # Ansible's events were scanned
    for output in said:
        assert password not in output
