"""`provision drift` on the local cloud: out-of-band changes of every kind, read in bulk.

The environment has dev's network layout with one VM and no roles, so there is
nothing to configure and the hosts take no part. The tests run in order on it, in a project
copied to a temporary folder with its own state folder (and so its own local cloud).
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.integration.projects import Project
from tests.integration.web_view import browser, get, new_page, screenshot, serving, stop

pytestmark = pytest.mark.integration

ENV = "drifty"
SPEC = """\
# A public and a private subnet, two groups (one naming the other), a key pair, one VM.
name: drifty
cloud: local
region: us-east-1
networks:
  main: {cidr: 10.20.0.0/16}
subnets:
  public-a: {network: main, cidr: 10.20.1.0/24, public: true}
  private-a: {network: main, cidr: 10.20.2.0/24}
security_groups:
  web:
    network: main
    ingress:
      - {protocol: tcp, ports: 80, cidr: 0.0.0.0/0}
      - {protocol: tcp, ports: 22, cidr: 10.20.0.0/16}
  db:
    network: main
    ingress:
      - {protocol: tcp, ports: 5432, group: web}
      - {protocol: tcp, ports: 22, cidr: 10.20.0.0/16}
key_pairs:
  deploy: {type: ed25519}
vms:
  web: {count: 1, instance_type: t3.micro, image: ami-12c6146b, subnet: public-a,
        security_groups: [web], key_pair: deploy}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("drift"))
    project.write_spec(ENV, SPEC)
    yield project
    project.teardown(ENV)


def drift(project: Project, expect: int) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(
        project.run("drift", ENV, "--json", "--no-hosts", expect=expect).stdout
    )
    return report


def one(ec2: Any, describe: str, key: str, address: str) -> dict[str, Any]:
    filters = [
        {"Name": "tag:provision:env", "Values": [ENV]},
        {"Name": "tag:provision:address", "Values": [address]},
    ]
    [found] = getattr(ec2, describe)(Filters=filters)[key]
    return dict(found)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def vpc_name(ec2: Any, vpc: str) -> str:
    [found] = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    return next(t["Value"] for t in found.get("Tags", []) if t["Key"] == "Name")


@dataclass
class Posted:
    """What `--notify` posted to a receiver on loopback."""

    url: str
    events: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def receiving() -> Iterator[Posted]:
    """An HTTP receiver on loopback that keeps the JSON POSTed to it."""
    posted = Posted("")

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            posted.events.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            """Quiet: the default writes every request to the test's stderr."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    posted.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield posted
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Ticks:
    """The JSON lines a `provision watch --json` prints, one per tick, as they come."""

    lines: queue.Queue[str]

    def next(self, timeout: float = 60) -> dict[str, Any]:
        while True:
            line = self.lines.get(timeout=timeout)
            if line.startswith("{"):
                found: dict[str, Any] = json.loads(line)
                return found


@contextmanager
def ticks_of(watch: subprocess.Popen[str]) -> Iterator[Ticks]:
    """Read the watch's ticks; stop it (by pid) after."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert watch.stdout is not None
        for line in watch.stdout:
            lines.put(line.strip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield Ticks(lines)
    finally:
        stop(watch)
        reader.join(timeout=5)


def test_right_after_up_there_is_no_drift(project: Project) -> None:
    project.run("up", ENV, "--yes")
    report = drift(project, expect=0)
    assert (report["drift"], report["changes"]) == (False, [])


def test_a_watch_finds_a_tag_renamed_out_of_band_at_its_next_tick_and_leaves_it(
    project: Project,
) -> None:
    ec2 = project.ec2()
    vpc = one(ec2, "describe_vpcs", "Vpcs", "network.main")["VpcId"]
    with receiving() as posted:
        watch = project.start("watch", ENV, "--every", "2s", "--json", "--notify", posted.url)
        with ticks_of(watch) as ticks:
            assert ticks.next()["outcome"] == "no drift"
            changed = now()
            ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "renamed by hand"}])
            after = ticks.next()
            while after["at"] < changed:  # a tick that began before the change
                after = ticks.next()
            assert after["outcome"] == "drifted" and after["drift_run"]
            assert ticks.next()["outcome"] == "drifted"  # without --remediate, left as it is
    assert vpc_name(ec2, vpc) == "renamed by hand"
    assert any(e["outcome"] == "drifted" and e["environment"] == ENV for e in posted.events)
    drifts = [json.loads((run / "run.json").read_text()) for run in project.runs(ENV)]
    assert [d["command"][1] for d in drifts if d.get("operation") == "drift"].count("watch") >= 3


def test_serve_with_a_watch_puts_the_tag_back_and_shows_the_remediation(project: Project) -> None:
    ec2 = project.ec2()
    vpc = one(ec2, "describe_vpcs", "Vpcs", "network.main")["VpcId"]
    refused = project.run("serve", "--host", "0.0.0.0", expect=1)  # noqa: S104 - refused
    assert "refusing to serve on 0.0.0.0 without a token" in refused.stderr + refused.stdout
    token = secrets.token_urlsafe(16)
    args = ("--watch", "--every", "2s", "--remediate", "--token", token)
    with serving(project, *args, token=token) as url:
        assert get(f"{url}/api/environments")[0] == 401  # the token rule, on every request
        assert get(f"{url}/api/runs", "wrong")[0] == 401
        deadline = time.monotonic() + 90
        while vpc_name(ec2, vpc) != f"{ENV}-network.main":
            assert time.monotonic() < deadline, "the watch did not put the tag back in 90 s"
            time.sleep(1)
        with browser() as launched, new_page(launched) as page:
            page.goto(f"{url}/?token={token}")  # the first visit carries it; a cookie, the rest
            page.click(f'a[href="/environments/{ENV}/drift"]')
            page.wait_for_selector("#history")
            screenshot(page, "drift-remediated")
            history = page.locator("#history tr").all_inner_texts()
        status, body = get(f"{url}/api/environments/{ENV}/drift", token)
        shown = get(f"{url}/api/runs", token)[1] + get(f"{url}/runs", token)[1]
    assert status == 200
    remediated = [p for p in json.loads(body)["history"] if (p["watch"] or {}).get("up_run")]
    assert remediated and remediated[0]["watch"]["outcome"] == "remediated"
    assert any("remediated" in row for row in history)
    up = json.loads(project.run("show", remediated[0]["watch"]["up_run"], "--json").stdout)
    assert up["operation"] == "up" and up["command"][1] == "serve"  # recorded as the watch's
    assert up["command"][up["command"].index("--token") + 1] == "***"  # but not its token
    assert token not in json.dumps(up) and token not in shown
    assert drift(project, expect=0)["changes"] == []


def test_drift_reports_out_of_band_edits_and_deletions_and_up_clears_them(
    project: Project,
) -> None:
    ec2 = project.ec2()
    vpc = one(ec2, "describe_vpcs", "Vpcs", "network.main")
    ec2.create_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": "Name", "Value": "renamed by hand"}])
    db = one(ec2, "describe_security_groups", "SecurityGroups", "sg.db")
    [from_web] = [p for p in db["IpPermissions"] if p.get("UserIdGroupPairs")]
    ec2.revoke_security_group_ingress(GroupId=db["GroupId"], IpPermissions=[from_web])
    table = one(ec2, "describe_route_tables", "RouteTables", "network.main/public-routes")
    [association] = [a for a in table["Associations"] if not a.get("Main")]
    ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
    ec2.delete_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
    [vm] = one(ec2, "describe_instances", "Reservations", "vm.web[0]")["Instances"]
    ec2.terminate_instances(InstanceIds=[vm["InstanceId"]])
    ec2.delete_key_pair(KeyName=f"{ENV}-deploy")

    report = drift(project, expect=2)

    changes = {c["address"]: c for c in report["changes"]}
    assert {address: c["action"] for address, c in changes.items()} == {
        "network.main": "update",
        "sg.db": "update",
        "subnet.public-a": "update",
        "network.main/public-routes": "update",
        "vm.web[0]": "delete",
        "key.deploy": "delete",
    }
    assert list(changes) == sorted(changes)
    diffs = {
        address: {p["path"]: (p["before"], p["after"]) for p in c["diff"]}
        for address, c in changes.items()
    }
    [tags] = diffs["network.main"].values()
    assert (tags[0]["Name"], tags[1]["Name"]) == (f"{ENV}-network.main", "renamed by hand")
    before, after = diffs["sg.db"]["ingress"]
    assert [r["from_port"] for r in before] == [5432, 22]
    assert [r["from_port"] for r in after] == [22]
    assert diffs["subnet.public-a"] == {"route_table_id": (table["RouteTableId"], None)}
    gateway = diffs["network.main/public-routes"]["gateway_id"]
    assert gateway[0].startswith("igw-") and gateway[1] == ""
    assert "PRIVATE KEY" not in json.dumps(report)

    project.run("up", ENV, "--yes")
    assert drift(project, expect=0)["changes"] == []
    project.run("plan", ENV, "--no-hosts", "--detailed-exitcode")


def test_down_leaves_nothing_to_drift_or_delete(project: Project) -> None:
    project.run("down", ENV, "--yes")
    assert drift(project, expect=0)["changes"] == []
    assert project.tagged_ids(ENV) == set()
