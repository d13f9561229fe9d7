"""Package relays: how a VPC reaches the package cache, and nothing else (the one runner of socat).

The main namespace has no route into a VPC, and a VPC none out. Like a NAT
gateway for the package repository only, each VPC gets a socat inside its
namespace, listening at the VPC's service address (base + 2, with its resolver)
on `RELAY_PORT`; it forwards each connection to a Unix socket in the local
cloud's folder, where one socat in the main namespace forwards it to the
package cache on loopback. Hosts are told to use it as their apt proxy at boot.

`PackageRelays` is the data plane's realizer: it starts the cache and the main
relay once, a VPC relay for every VPC that has hosts, and starts again any that
died, within one reconcile pass.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from provisioner.fsutil import socket_path
from provisioner.local import netns
from provisioner.local.aptcache import LISTEN_ADDRESS, PackageCache
from provisioner.local.supervised import SupervisedProcess
from provisioner.local.vpcnet import VpcNetworks, resolver_address, short_id

log = logging.getLogger(__name__)

SOCAT = "socat"
RELAY_PORT = 3142


def proxy_url(vpc_cidr: str) -> str:
    """The apt proxy a host of this VPC uses."""
    return f"http://{resolver_address(vpc_cidr)}:{RELAY_PORT}"


class PackageRelays:
    """Realizer: the package cache, its relay in the main namespace, and one per VPC in use."""

    name = "package-relays"

    def __init__(
        self,
        folder: Path,
        networks: VpcNetworks,
        vpcs: Callable[[], dict[str, str]],
        cache: PackageCache | None = None,
    ) -> None:
        self.folder = folder
        self.networks = networks
        self.vpcs = vpcs  # VPC id -> CIDR, of the VPCs whose hosts need packages
        self.cache = cache or PackageCache(folder / "apt-cacher-ng")
        self.socket = socket_path(folder, "relay.sock", "relay")
        self._main = SupervisedProcess(folder / "relay-main.json", f"UNIX-LISTEN:{self.socket}")
        self._in_vpc: dict[str, SupervisedProcess] = {}
        self._served: set[str] = set()

    def step(self) -> None:
        wanted = self.vpcs()
        if wanted:
            self._serve_main()
        for vpc_id, cidr in wanted.items():
            try:
                self._serve_vpc(vpc_id, cidr)
            except Exception:
                log.exception("could not start the package relay of %s", vpc_id)
        for vpc_id in set(self._in_vpc) - set(wanted):
            self._in_vpc.pop(vpc_id).stop()
        self._served = set(wanted)

    def vpcs_in_use(self) -> set[str]:
        return set(self._served)

    def teardown(self) -> None:
        for relay in self._in_vpc.values():
            relay.stop()
        self._in_vpc.clear()
        self._main.stop()
        self.socket.unlink(missing_ok=True)
        self.cache.stop()
        self._served = set()

    def relay_of(self, vpc_id: str) -> SupervisedProcess:
        """The relay process of a VPC (started or not)."""
        if vpc_id not in self._in_vpc:
            record = self.folder / f"relay-{short_id(vpc_id)}.json"
            self._in_vpc[vpc_id] = SupervisedProcess(record, f"UNIX-CONNECT:{self.socket}")
        return self._in_vpc[vpc_id]

    def _serve_main(self) -> None:
        port = self.cache.start()  # returns at once when it runs
        if self._main.process() is not None:
            return
        self.socket.unlink(missing_ok=True)
        self._main.start(
            [SOCAT, f"UNIX-LISTEN:{self.socket},fork,unlink-early,mode=600",
             f"TCP:{LISTEN_ADDRESS}:{port}"],
            self.folder / "relay-main.log",
        )  # fmt: skip

    def _serve_vpc(self, vpc_id: str, cidr: str) -> None:
        relay = self.relay_of(vpc_id)
        if relay.process() is not None:
            return
        namespace = self.networks.vpc_namespace(vpc_id)
        address = resolver_address(cidr)
        netns.add_local_address(namespace, address)
        relay.start(
            ["ip", "netns", "exec", namespace, SOCAT,
             f"TCP-LISTEN:{RELAY_PORT},bind={address},fork,reuseaddr",
             f"UNIX-CONNECT:{self.socket}"],
            self.folder / f"relay-{short_id(vpc_id)}.log",
        )  # fmt: skip
