"""The local-cloud daemon process: a moto server on loopback.

Started detached by `provision local start` as
`python -m provisioner.local.daemon --state-dir DIR`. It binds a free port on
127.0.0.1, records its pid and port in DIR/daemon.json once it listens, and on
SIGTERM or SIGINT stops serving and removes that record.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from moto.server import ThreadedMotoServer

from provisioner.local.process import ProcessIdentity
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
    try:
        while not stop.wait(1.0):
            pass
    finally:
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
    serve(LocalPaths(args.state_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
