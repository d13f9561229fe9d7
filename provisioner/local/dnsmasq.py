"""The one module that runs dnsmasq: a VPC's resolver, inside the VPC's namespace.

Each resolver has a folder: its config, a hosts-format file of the names it
answers, a servers file that makes it authoritative for the private zones (a
name there that is not in the hosts file is NXDOMAIN), its pid record and log.
It reads no /etc/hosts and no resolv.conf and has no upstream server, so
nothing is forwarded anywhere: any other name is refused. When the names
change, the files are rewritten and dnsmasq re-reads them on SIGHUP.

dnsmasq runs as a daemon: its first process exits once the listening socket is
bound (or with an error), so a started resolver already answers. It is found
again by the pid and start time recorded in the folder, and only that process
is ever signalled.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from provisioner.errors import LocalCloudError
from provisioner.fsutil import atomic_write_json, atomic_write_text, read_json
from provisioner.jsonable import load
from provisioner.local import netns
from provisioner.procs import ProcessIdentity, command_line

STOP_GRACE_SECONDS = 5.0


def render_hosts(addresses: Mapping[str, Sequence[str]]) -> str:
    """A hosts-format file: one line per address and name, sorted."""
    lines = sorted(f"{address} {name}" for name, found in addresses.items() for address in found)
    return "".join(f"{line}\n" for line in lines)


def render_servers(local_domains: Sequence[str]) -> str:
    """A servers file: answer these domains only from local data (NXDOMAIN when unknown)."""
    return "".join(f"server=/{domain}/\n" for domain in sorted(set(local_domains)))


def render_config(folder: Path, listen_address: str) -> str:
    """dnsmasq's config: listen on one address, answer only from the folder's files."""
    return "\n".join(
        [
            "# Written by provision's local cloud: the DNS resolver of one VPC.",
            "no-resolv",
            "no-hosts",
            "no-poll",
            f"listen-address={listen_address}",
            "bind-interfaces",
            "port=53",
            f"addn-hosts={folder / 'hosts'}",
            f"servers-file={folder / 'servers'}",
            f"pid-file={folder / 'dnsmasq.pid'}",
            "user=root",
            "group=root",
            f"log-facility={folder / 'dnsmasq.log'}",
            "",
        ]
    )


class Dnsmasq:
    """One resolver: its folder, and the dnsmasq process that serves it in `namespace`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.config = folder / "dnsmasq.conf"
        self.record = folder / "dnsmasq.json"

    def serve(
        self, namespace: str, listen_address: str, hosts: str, local_domains: Sequence[str]
    ) -> None:
        """Answer these names at `listen_address`: start, or make a running one re-read them."""
        self.folder.mkdir(parents=True, exist_ok=True)
        changed = _write_if_changed(self.folder / "hosts", hosts)
        changed |= _write_if_changed(self.folder / "servers", render_servers(local_domains))
        configured = _write_if_changed(self.config, render_config(self.folder, listen_address))
        process = self.process()
        if process is not None and configured:
            self.stop()  # a new config needs a new process
            process = None
        if process is None:
            self._start(namespace)
        elif changed:
            process.send(signal.SIGHUP)

    def process(self) -> ProcessIdentity | None:
        """The running dnsmasq of this folder, if any."""
        try:
            identity = load(ProcessIdentity, read_json(self.record))
        except ValueError:
            return None
        if not identity.is_alive() or f"--conf-file={self.config}" not in command_line(
            identity.pid
        ):
            return None
        return identity

    def stop(self) -> None:
        """Stop this folder's dnsmasq (only that process), if it runs."""
        process = self.process()
        if process is not None:
            process.terminate(grace_seconds=STOP_GRACE_SECONDS)
        self.record.unlink(missing_ok=True)

    def _start(self, namespace: str) -> None:
        pid_file = self.folder / "dnsmasq.pid"
        pid_file.unlink(missing_ok=True)
        # Returns once dnsmasq listens (its daemon is then running) or failed to.
        netns.in_namespace(namespace, ["dnsmasq", f"--conf-file={self.config}"])
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError) as error:
            raise LocalCloudError(
                f"dnsmasq in {namespace} wrote no pid file; see {self.folder}/dnsmasq.log"
            ) from error
        identity = ProcessIdentity.of(pid)
        if identity is None:
            raise LocalCloudError(f"dnsmasq in {namespace} exited; see {self.folder}/dnsmasq.log")
        atomic_write_json(self.record, asdict(identity))


def _write_if_changed(path: Path, text: str) -> bool:
    with contextlib.suppress(OSError):
        if path.read_text() == text:
            return False
    atomic_write_text(path, text)
    return True
