"""The one module that runs HAProxy: its configuration, start, graceful reload, stop and stats.

Each load balancer has one HAProxy in master-worker mode, started inside the
load balancer's own network namespace, so it listens only at the load
balancer's addresses and nothing listens in the machine's main namespace. Its
files live in the load balancer's folder: the configuration, the stats socket
(a Unix socket, read from the daemon), the server-state file that carries each
server's health across a reload, and the master's log.

A changed configuration is checked first, then applied with a graceful reload
(SIGUSR2 to the master: a new worker takes the listening sockets, the old one
finishes its connections). Only the recorded master is ever signalled.
"""

from __future__ import annotations

import contextlib
import csv
import io
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from provisioner.errors import LocalCloudError
from provisioner.fsutil import atomic_write_text, socket_path
from provisioner.local.lbmodel import (
    HealthCheckProtocol,
    Listener,
    LoadBalancer,
    TargetGroup,
    backend_name,
)
from provisioner.local.supervised import SupervisedProcess

HAPROXY = "/usr/sbin/haproxy"
START_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class HAProxyFiles:
    """The files of one HAProxy, in its load balancer's folder."""

    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / "haproxy.cfg"

    @property
    def stats_socket(self) -> Path:
        """In the folder, or in /run when that path is too long for a socket (see fsutil)."""
        return socket_path(self.folder, "stats.sock", "haproxy")

    @property
    def server_state(self) -> Path:
        return self.folder / "servers.state"

    @property
    def log(self) -> Path:
        return self.folder / "haproxy.log"

    @property
    def master(self) -> Path:
        """The identity of the running master process."""
        return self.folder / "haproxy.json"


def render_config(lb: LoadBalancer, files: HAProxyFiles) -> str:
    """The HAProxy configuration of `lb`: a frontend per listener, a backend per target group."""
    lines = [
        "global",
        "    nbthread 1",
        "    maxconn 4096",
        f"    stats socket {files.stats_socket} mode 600 level admin",
        f"    server-state-file {files.server_state}",
        "",
        "defaults",
        "    mode http",
        "    option forwardfor",
        "    option redispatch",
        "    retries 3",
        "    retry-on conn-failure empty-response",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    load-server-state-from-file global",
    ]
    for listener in sorted(lb.listeners, key=lambda item: item.port):
        lines += ["", *_frontend(listener, lb.addresses)]
    for group in sorted(lb.target_groups, key=lambda item: item.backend):
        lines += ["", *_backend(group)]
    return "\n".join(lines) + "\n"


def _frontend(listener: Listener, addresses: tuple[str, ...]) -> list[str]:
    lines = [f"frontend {listener.frontend}"]
    lines += [f"    bind {address}:{listener.port}" for address in addresses]
    if listener.target_group_arn is None:
        return [*lines, "    http-request return status 503"]
    return [*lines, f"    default_backend {backend_name(listener.target_group_arn)}"]


def _backend(group: TargetGroup) -> list[str]:
    check = group.health_check
    lines = [f"backend {group.backend}", "    balance roundrobin"]
    if check.enabled and check.protocol is HealthCheckProtocol.HTTP:
        lines += [
            f"    option httpchk GET {check.path}",
            f"    http-check expect status {check.success_codes}",
        ]
    if check.enabled:
        lines.append(f"    timeout check {check.timeout_seconds}s")
    for target in sorted(group.targets, key=lambda item: item.server):
        server = f"    server {target.server} {target.address}:{target.port}"
        if check.enabled:
            server += (
                f" check inter {check.interval_seconds}s"
                f" rise {check.healthy_threshold} fall {check.unhealthy_threshold}"
            )
            if check.port is not None:
                server += f" port {check.port}"
        lines.append(server)
    return lines


@dataclass(frozen=True)
class ServerStatus:
    """What HAProxy says of one server: e.g. status `UP`, `DOWN 1/2`; check `L7OK`, `INI`."""

    backend: str
    server: str
    status: str
    check_status: str
    check_code: str


def parse_stat(text: str) -> list[ServerStatus]:
    """The servers in the CSV answer of `show stat` (frontends and backend totals left out)."""
    rows = csv.DictReader(io.StringIO(text.removeprefix("# ")))
    return [
        ServerStatus(
            backend=row["pxname"],
            server=row["svname"],
            status=row.get("status") or "",
            check_status=(row.get("check_status") or "").removeprefix("* "),
            check_code=row.get("check_code") or "",
        )
        for row in rows
        if row.get("svname") not in (None, "FRONTEND", "BACKEND")
    ]


class HAProxy:
    """One load balancer's HAProxy master, run inside `namespace`."""

    def __init__(self, folder: Path, namespace: str) -> None:
        self.files = HAProxyFiles(folder)
        self.namespace = namespace
        # Its config's path is on the master's command line, and on no other process's.
        self._master = SupervisedProcess(self.files.master, str(self.files.config))

    def apply(self, config: str) -> None:
        """Run HAProxy with `config`: start it, reload it if the config changed, or do nothing."""
        running = self.running()
        if running and _read(self.files.config) == config:
            return
        candidate = self.files.folder / "haproxy.cfg.new"
        atomic_write_text(candidate, config)
        _check(candidate)
        candidate.replace(self.files.config)
        if running:
            self._reload()
        else:
            self._start()

    def running(self) -> bool:
        return self._master.process() is not None

    def server_statuses(self) -> list[ServerStatus] | None:
        """What the running worker sees of each server, or None if it does not answer."""
        try:
            return parse_stat(self._ask("show stat"))
        except OSError:
            return None

    def stop(self) -> None:
        """Stop the recorded master (and so its workers), if it runs, never another process;
        remove its stats socket."""
        self._master.stop()
        # Its socket may live outside the folder (see HAProxyFiles.stats_socket).
        self.files.stats_socket.unlink(missing_ok=True)

    def _start(self) -> None:
        self.stop()  # a master that died leaves its record, and maybe a zombie
        self.files.stats_socket.unlink(missing_ok=True)
        argv = ["ip", "netns", "exec", self.namespace, HAPROXY, "-W", "-f", str(self.files.config)]
        self._master.start(argv, self.files.log)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while self.server_statuses() is None:
            if self._master.process() is None or time.monotonic() > deadline:
                self.stop()
                raise LocalCloudError(
                    f"HAProxy in {self.namespace} did not start", hint=f"see {self.files.log}"
                )
            time.sleep(0.05)

    def _reload(self) -> None:
        """Keep each server's health across the reload, then have the master load the config."""
        with contextlib.suppress(OSError):
            atomic_write_text(self.files.server_state, self._ask("show servers state"))
        master = self._master.process()
        if master is not None:
            master.send(signal.SIGUSR2)

    def _ask(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2.0)
            sock.connect(str(self.files.stats_socket))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")


def _check(config: Path) -> None:
    result = subprocess.run(
        [HAPROXY, "-c", "-q", "-f", str(config)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise LocalCloudError(f"HAProxy refused {config}: {result.stdout}{result.stderr}".strip())


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
