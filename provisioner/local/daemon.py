"""The local-cloud daemon process: a moto server on loopback, and its namespace hosts.

Started detached by `provision local start` as
`python -m provisioner.local.daemon --state-dir DIR`. It binds a free port on
127.0.0.1, records its pid and port in DIR/daemon.json once it listens, and on
SIGTERM or SIGINT stops serving and removes that record. A data-plane thread
realizes what moto holds: every running instance as a namespace host on the
base image (hosts.py, image.py), a package relay for each VPC with hosts
(relay.py), every postgres DB instance as a PostgreSQL server (databases.py),
every load balancer as an HAProxy (load_balancers.py), security groups as
nftables rules in each of their namespaces (firewall.py), and each VPC's
resolver (resolver.py). The daemon removes them all when it stops.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import io
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from provisioner.local.databases import DatabaseRealizer, MotoDatabases
from provisioner.local.dataplane import DataPlane, MotoReader, Realizer
from provisioner.local.dbfarm import DatabaseFarm
from provisioner.local.firewall import Firewalls, moto_firewalls
from provisioner.local.hosts import HostFarm
from provisioner.local.image import built_image
from provisioner.local.load_balancers import LoadBalancerRealizer
from provisioner.local.postgres import served_majors
from provisioner.local.rdsmoto import install_engine_checks
from provisioner.local.reconciler import HostReconciler, moto_instances
from provisioner.local.record import LISTEN_ADDRESS, DaemonRecord, LocalPaths
from provisioner.local.relay import PackageRelays
from provisioner.local.resolver import VpcResolvers, moto_vpc_dns
from provisioner.local.targethealth import TargetHealthTable
from provisioner.local.vpcnet import VpcNetworks
from provisioner.procs import ProcessIdentity


def serve(paths: LocalPaths) -> None:
    """Serve the moto API until SIGTERM or SIGINT."""
    stop, wake = threading.Event(), threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()
        wake.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    moto_lock = threading.Lock()
    data_plane = _data_plane(paths, MotoReader(moto_lock))  # before the first request
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        LISTEN_ADDRESS, 0, _one_at_a_time(app, moto_lock, on_change=wake.set), threaded=True
    )
    serving = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    serving.start()
    port = server.server_address[1]
    me = ProcessIdentity.of(os.getpid())
    assert me is not None
    record = DaemonRecord(
        pid=me.pid,
        start_ticks=me.start_ticks,
        port=port,
        started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    record.save(paths.record)
    print(f"moto server listening on {record.endpoint} (pid {record.pid})", flush=True)
    reconciling = threading.Thread(target=data_plane.run, args=(stop, wake), name="data-plane")
    reconciling.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        stop.set()
        wake.set()
        reconciling.join()
        data_plane.teardown()
        _stop_serving(server, serving)
        if DaemonRecord.load(paths.record) == record:
            with contextlib.suppress(FileNotFoundError):
                paths.record.unlink()
        print("moto server stopped", flush=True)


def _data_plane(paths: LocalPaths, moto: MotoReader) -> DataPlane:
    """Every realizer of the local cloud, in the order a pass runs them."""
    networks = VpcNetworks(paths.hosts)
    firewalls = Firewalls(lambda: moto(lambda: moto_firewalls(networks)))
    # A namespace gets its security groups' rules as soon as it is plugged in,
    # before anything in it starts: no packet reaches it unfiltered.
    networks.on_attach = firewalls.step
    target_health = TargetHealthTable()
    target_health.install()  # DescribeTargetHealth answers what HAProxy sees
    install_engine_checks(served_majors())  # PostgreSQL versions this machine can serve
    hosts = HostReconciler(
        HostFarm(paths.hosts, networks, image=built_image().root), lambda: moto(moto_instances)
    )
    realizers: list[Realizer] = [
        hosts,
        PackageRelays(paths.packages, networks, hosts.vpc_cidrs),
        DatabaseRealizer(DatabaseFarm(paths.databases, networks), MotoDatabases(moto, networks)),
        LoadBalancerRealizer(paths.load_balancers, networks, moto, target_health),
        firewalls,
    ]
    # Last: it serves the VPCs that the others use.
    resolvers = VpcResolvers(
        paths.resolvers,
        networks,
        lambda: moto(moto_vpc_dns),
        lambda: set().union(*(realizer.vpcs_in_use() for realizer in realizers)),
    )
    return DataPlane([*realizers, resolvers], networks)


# Query-API actions that only read.
READ_ACTIONS = ("Describe", "List", "Get")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _one_at_a_time(app: WsgiApp, lock: threading.Lock, on_change: Callable[[], None]) -> WsgiApp:
    """moto's app, answering one request at a time; `on_change` after each that may change
    moto's state.

    moto's backends are plain dicts that are not safe to change from several
    threads at once: under a burst of parallel creates, a describe can iterate
    a dict another request is adding to, and moto answers 500. The server
    still accepts connections in parallel; only the backend work is serialized.
    """

    def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        changes = may_change_state(environ)
        with lock:
            answer = list(app(environ, start_response))
        if changes:
            on_change()
        return answer

    return serialized


def may_change_state(environ: dict[str, Any]) -> bool:
    """Whether a request may change moto's state: anything but a read.

    Reads are GET and HEAD (REST APIs such as S3's and Route 53's), and query-API
    actions named Describe*, List* or Get* (EC2, ELBv2, RDS). A query API's action
    is in the form-encoded body: it is read here and put back for moto.
    """
    method = environ.get("REQUEST_METHOD", "GET")
    if method in ("GET", "HEAD"):
        action = parse_qs(environ.get("QUERY_STRING", "")).get("Action", [""])[0]
        return bool(action) and not action.startswith(READ_ACTIONS)
    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return True
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(body)
    action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    return not action.startswith(READ_ACTIONS)


def _stop_serving(server: BaseWSGIServer, serving: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    serving.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the daemon process."""
    parser = argparse.ArgumentParser(prog="provisioner.local.daemon")
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    # moto's modules, imported by now, live as long as the daemon: leave them out of every
    # collection, which otherwise scans them all again each time.
    gc.freeze()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve(LocalPaths(args.state_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
