"""The package cache: Debian's apt-cacher-ng on loopback (the one module that runs it).

Its cache folder is shared by every local cloud on the machine and by the image
build, so a package is downloaded from the Debian repository once per machine.
It listens on a free port of 127.0.0.1 in the main namespace; hosts reach it
only through their VPC's relay (relay.py). One runs per local cloud; its
transfer log tells what it fetched from the repository and what it served.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from provisioner.errors import LocalCloudError, ToolMissingError
from provisioner.fsutil import atomic_write_text
from provisioner.local.supervised import SupervisedProcess

APT_CACHER_NG = "/usr/sbin/apt-cacher-ng"
LISTEN_ADDRESS = "127.0.0.1"
# Shared by every clone and local cloud on this machine (override: PROVISION_CACHE_DIR).
CACHE_ROOT_ENV = "PROVISION_CACHE_DIR"
DEFAULT_CACHE_ROOT = Path("/var/cache/provision")
_PORTS = (20000, 32768)
SETUP_HINT = "run `make setup`, which installs Debian's apt-cacher-ng"


def cache_root() -> Path:
    """The machine-wide folder of the package cache and the host image."""
    return Path(os.environ.get(CACHE_ROOT_ENV) or DEFAULT_CACHE_ROOT)


@dataclass(frozen=True)
class CacheTransfer:
    """One line of the cache's transfer log: a package file fetched from the repository
    (`I`: in) or sent to a client (`O`: out). A file sent with no fetch was a hit."""

    fetched: bool
    path: str


def read_transfers(log_dir: Path) -> list[CacheTransfer]:
    """The cache's transfer log (`apt-cacher.log`): `TIME|I or O|SIZE|CLIENT|PATH` lines."""
    try:
        text = (log_dir / "apt-cacher.log").read_text(errors="replace")
    except FileNotFoundError:
        return []
    transfers = []
    for line in text.splitlines():
        fields = line.split("|")
        if len(fields) >= 5 and fields[1] in ("I", "O"):
            transfers.append(CacheTransfer(fetched=fields[1] == "I", path=fields[4]))
    return transfers


class PackageCache:
    """One apt-cacher-ng process, with its config, log and record in `folder`."""

    def __init__(self, folder: Path, cache_dir: Path | None = None) -> None:
        self.folder = folder
        self.cache_dir = cache_dir or cache_root() / "apt-cacher-ng"
        self._process = SupervisedProcess(folder / "apt-cacher-ng.json", str(folder / "conf"))

    @property
    def log_dir(self) -> Path:
        return self.folder / "log"

    def port(self) -> int | None:
        """The port it listens on, if it runs."""
        if self._process.process() is None:
            return None
        with contextlib.suppress(OSError, ValueError):
            return int((self.folder / "port").read_text())
        return None

    def start(self, timeout: float = 10.0) -> int:
        """Start it, unless it runs; its port, once it accepts connections."""
        running = self.port()
        if running is not None:
            return running
        if not Path(APT_CACHER_NG).exists():
            raise ToolMissingError("apt-cacher-ng", hint=SETUP_HINT)
        for folder in (self.folder / "conf", self.log_dir, self.cache_dir):
            folder.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        options = {
            "ForeGround": "1",
            "CacheDir": self.cache_dir,
            "LogDir": self.log_dir,
            "Port": port,
            "BindAddress": LISTEN_ADDRESS,
            "PidFile": self.folder / "apt-cacher-ng.pid",
            "SocketPath": self.folder / "socket",
        }
        atomic_write_text(
            self.folder / "conf" / "acng.conf",
            "".join(f"{key}: {value}\n" for key, value in options.items()),
        )
        atomic_write_text(self.folder / "port", str(port))
        log = self.folder / "apt-cacher-ng.out"
        self._process.start([APT_CACHER_NG, "-c", str(self.folder / "conf")], log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._process.process() is not None:
            with contextlib.suppress(OSError), socket.create_connection((LISTEN_ADDRESS, port), 1):
                return port
            time.sleep(0.05)
        self._process.stop()
        raise LocalCloudError(f"apt-cacher-ng did not start listening on port {port}; see {log}")

    def stop(self) -> None:
        """Stop it (only the recorded process), if it runs."""
        self._process.stop()
        (self.folder / "port").unlink(missing_ok=True)


def _free_port() -> int:
    """A port of 127.0.0.1 nothing listens on, below 32768: apt-cacher-ng 3.7 reads its
    `Port` as a signed 16-bit number, and the kernel's free ports are all above that."""
    for port in random.sample(range(*_PORTS), 200):
        with socket.socket() as probe:
            try:
                probe.bind((LISTEN_ADDRESS, port))
            except OSError:
                continue
            return port
    raise LocalCloudError(f"no free port for the package cache in {_PORTS[0]}-{_PORTS[1] - 1}")
