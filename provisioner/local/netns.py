"""The one module that runs iproute2: network namespaces, bridges, veth pairs, addresses.

Everything is created inside namespaces the local cloud owns; nothing is added
to the machine's main network namespace, so it has no route to any VPC address.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from pathlib import Path

from provisioner.errors import LocalCloudError

_NETNS_DIR = Path("/run/netns")


def ip(*args: str, namespace: str | None = None, check: bool = True) -> str:
    """Run `ip [-n NS] ARGS` and return its output; raise LocalCloudError on failure."""
    command = ["ip", *(["-n", namespace] if namespace else []), *args]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise LocalCloudError(f"`{' '.join(command)}` failed: {result.stderr.strip()}")
    return result.stdout


def in_namespace(
    namespace: str, argv: Sequence[str], *, check: bool = True, stdin: str | None = None
) -> str:
    """Run a command inside a network namespace (with `stdin` as its input, if given)."""
    command = ["ip", "netns", "exec", namespace, *argv]
    result = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise LocalCloudError(f"`{' '.join(command)}` failed: {result.stderr.strip()}")
    return result.stdout


def enter(namespace: str) -> list[str]:
    """The argv prefix that runs a command in `namespace`'s network only.

    Unlike `ip netns exec`, which also remounts /sys for the namespace, it leaves
    the mounts as they are: a host's boot needs the machine's /sys/fs/cgroup.
    """
    return ["nsenter", f"--net={_NETNS_DIR / namespace}"]


def namespaces() -> set[str]:
    """Names of the network namespaces that exist.

    Read from the folder `ip netns` keeps them in, as `ip netns list` does: the reconcile
    loop asks several times a pass, and a process for each answer cost it most of its time.
    """
    try:
        return {entry.name for entry in _NETNS_DIR.iterdir()}
    except FileNotFoundError:
        return set()  # no namespace was ever made


def add_namespace(name: str) -> None:
    if name not in namespaces():
        ip("netns", "add", name)
    ip("link", "set", "lo", "up", namespace=name)


def namespace_identity(name: str) -> int | None:
    """The kernel's id (inode) of namespace `name`, which changes when it is made again."""
    try:
        return (_NETNS_DIR / name).stat().st_ino
    except OSError:
        return None


def add_local_address(namespace: str, address: str) -> None:
    """Give the namespace's loopback device `address` (a /32), once."""
    if f"inet {address}/32 " not in ip("-4", "addr", "show", "lo", namespace=namespace):
        ip("addr", "add", f"{address}/32", "dev", "lo", namespace=namespace)


def delete_namespace(name: str) -> None:
    if name in namespaces():
        ip("netns", "delete", name)


def pids(namespace: str) -> list[int]:
    """Every process whose network namespace is `namespace`."""
    if namespace not in namespaces():
        return []
    return [int(pid) for pid in ip("netns", "pids", namespace).split()]


def has_link(namespace: str, name: str) -> bool:
    return bool(ip("link", "show", name, namespace=namespace, check=False).strip())


def bridge_address(namespace: str, name: str) -> str:
    """A fixed MAC address for a bridge: locally administered, unicast, from its names.

    A bridge without one takes the lowest MAC of its ports, so a host plugged in or
    unplugged could change the gateway's MAC under the other hosts: their ARP caches
    then send what is meant for the gateway nowhere for half a minute (an SSH connection
    through the VPC namespace timed out).
    """
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return ":".join(f"{byte:02x}" for byte in (0x02, *digest[:5]))


def add_bridge(namespace: str, name: str, gateway_cidr: str) -> None:
    if not has_link(namespace, name):
        address = bridge_address(namespace, name)
        ip("link", "add", name, "address", address, "type", "bridge", namespace=namespace)
        ip("addr", "add", gateway_cidr, "dev", name, namespace=namespace)
    ip("link", "set", name, "up", namespace=namespace)


def add_veth(
    bridge_namespace: str, bridge: str, peer: str, host_namespace: str, device: str = "eth0"
) -> None:
    """A veth pair: `peer` on `bridge` in the VPC namespace, `device` in the host namespace."""
    if not has_link(bridge_namespace, peer):
        ip(
            "link", "add", peer, "type", "veth", "peer", "name", device, "netns", host_namespace,
            namespace=bridge_namespace,
        )  # fmt: skip
    ip("link", "set", peer, "master", bridge, "up", namespace=bridge_namespace)


def delete_link(namespace: str, name: str) -> None:
    if namespace in namespaces() and has_link(namespace, name):
        ip("link", "delete", name, namespace=namespace)
