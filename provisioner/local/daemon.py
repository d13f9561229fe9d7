"""The local-cloud daemon process: a moto server on loopback, and its namespace hosts.

Started detached by `provision local start` as
`python -m provisioner.local.daemon --state-dir DIR`. It binds a free port on
127.0.0.1, records its pid and port in DIR/daemon.json once it listens, and on
SIGTERM or SIGINT stops serving and removes that record. A data-plane thread
realizes every running instance as a namespace host (see hosts.py), and the
daemon removes them all when it stops.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from moto.server import ThreadedMotoServer

from provisioner.local.hosts import HostFarm
from provisioner.local.process import ProcessIdentity
from provisioner.local.reconciler import Reconciler, running_moto_instances
from provisioner.local.record import LISTEN_ADDRESS, DaemonRecord, LocalPaths


def serve(paths: LocalPaths) -> None:
    """Serve the moto API until SIGTERM or SIGINT."""
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    server = ThreadedMotoServer(ip_address=LISTEN_ADDRESS, port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
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
    reconciler = Reconciler(HostFarm(paths.hosts), running_moto_instances)
    data_plane = threading.Thread(target=reconciler.run, args=(stop,), name="data-plane")
    data_plane.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        stop.set()
        data_plane.join()
        reconciler.teardown()
        server.stop()
        if DaemonRecord.load(paths.record) == record:
            with contextlib.suppress(FileNotFoundError):
                paths.record.unlink()
        print("moto server stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the daemon process."""
    parser = argparse.ArgumentParser(prog="provisioner.local.daemon")
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    serve(LocalPaths(args.state_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
