"""`provision local start|stop|status` runs a real moto daemon on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from provisioner.local.control import LocalCloud
from provisioner.local.record import DaemonRecord
from provisioner.procs import ProcessIdentity

pytestmark = pytest.mark.integration

PROVISION = str(Path(sys.executable).parent / "provision")


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[LocalCloud]:
    cloud = LocalCloud(tmp_path / "local")
    yield cloud
    cloud.stop()


def run_cli(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROVISION_STATE_DIR": str(state_dir)}
    return subprocess.run(
        [PROVISION, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_start_serves_the_ec2_api_on_loopback(cloud: LocalCloud) -> None:
    status = cloud.start()
    assert status.running
    assert status.endpoint is not None
    assert status.endpoint.startswith("http://127.0.0.1:")
    ec2 = boto3.client(
        "ec2",
        endpoint_url=status.endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    assert ec2.describe_vpcs()["Vpcs"]  # moto's default VPC


def test_starting_twice_keeps_the_same_daemon(cloud: LocalCloud) -> None:
    first = cloud.start()
    second = cloud.start()
    assert (second.pid, second.endpoint) == (first.pid, first.endpoint)


def test_stop_ends_the_daemon_and_frees_its_port(cloud: LocalCloud) -> None:
    started = cloud.start()
    record = DaemonRecord.load(cloud.paths.record)
    assert record is not None
    stopped = cloud.stop()
    assert not stopped.running
    assert not record.identity.is_alive()
    assert not port_is_open(record.port)
    assert started.pid == record.pid
    assert not cloud.paths.record.exists()


def test_a_killed_daemon_is_reported_as_stale_and_can_be_started_again(cloud: LocalCloud) -> None:
    first = cloud.start()
    record = DaemonRecord.load(cloud.paths.record)
    assert record is not None
    os.kill(record.pid, 9)
    deadline = time.monotonic() + 10
    while record.identity.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    status = cloud.status()
    assert (status.running, status.stale_record_removed) == (False, True)
    again = cloud.start()
    assert again.running
    assert again.pid != first.pid


def test_stop_never_signals_a_process_it_did_not_start(cloud: LocalCloud) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        identity = ProcessIdentity.of(bystander.pid)
        assert identity is not None
        cloud.paths.root.mkdir(parents=True)
        DaemonRecord(bystander.pid, identity.start_ticks, 1, "forged").save(cloud.paths.record)
        status = cloud.stop()
        assert status.stale_record_removed
        assert identity.is_alive()
    finally:
        bystander.kill()
        bystander.wait()


def test_cli_status_json_reports_running_and_endpoint(tmp_path: Path) -> None:
    assert json.loads(run_cli(tmp_path, "local", "status", "--json").stdout)["running"] is False
    started = run_cli(tmp_path, "local", "start", "--json")
    try:
        assert started.returncode == 0, started.stderr
        status = json.loads(run_cli(tmp_path, "local", "status", "--json").stdout)
        assert status["running"] is True
        assert status["endpoint"] == json.loads(started.stdout)["endpoint"]
        assert status["endpoint"].startswith("http://127.0.0.1:")
    finally:
        stopped = run_cli(tmp_path, "local", "stop", "--json")
    assert stopped.returncode == 0
    assert json.loads(stopped.stdout)["running"] is False
    assert json.loads(run_cli(tmp_path, "local", "status", "--json").stdout)["running"] is False
