"""Namespace hosts: each running instance of the local cloud as a real Linux host.

A VPC is a network namespace with one bridge per subnet (the subnet's first
address is its gateway) and forwarding between them. A host is a network
namespace with `eth0` on its subnet's bridge and the instance's private IP, plus
a mount and UTS namespace: copy-on-write overlays on the system directories a
host writes to, private tmpfs for /run and /tmp, its own hostname, and its
own sshd. Everything a host runs shares its network namespace, which is how
`stop` and `remove` find every process to stop.

A host's folder is its disk: its host key and the upper layers of its overlays.
A stopped instance keeps it, as an EBS-backed instance keeps its root volume, so
it starts again with its files and its host key; a terminated one loses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from provisioner.errors import LocalCloudError
from provisioner.fsutil import atomic_write_json, atomic_write_text, read_json
from provisioner.local import netns

# System directories a host may change, each a copy-on-write overlay of the machine's:
# the host's disk, kept while its instance is stopped.
OVERLAY_DIRS = (
    "etc", "var/lib", "var/log", "var/spool", "opt", "home", "root", "srv", "usr/local",
)  # fmt: skip
# Private, empty and in memory for each host, and emptied when it stops (like a reboot).
TMPFS_DIRS = ("tmp", "var/tmp")
HOST_MOUNT = "/run/provision-host"
SSH_PORT = 22


@dataclass(frozen=True)
class HostSpec:
    """What the cloud says a host should be."""

    instance_id: str
    vpc_id: str
    subnet_id: str
    subnet_cidr: str
    private_ip: str
    hostname: str
    authorized_keys: tuple[str, ...]

    @property
    def bridge(self) -> str:
        return f"br-{_short(self.subnet_id, 8)}"

    @property
    def peer(self) -> str:
        return f"vp-{_short(self.instance_id, 8)}"


def _short(resource_id: str, size: int = 10) -> str:
    """A stable short name for an id: its hex part, or a hash when that is too long."""
    tail = resource_id.split("-", 1)[-1]
    return tail[:size] if len(tail) <= 17 else hashlib.sha256(tail.encode()).hexdigest()[:size]


class HostState(StrEnum):
    """Where a host is in its life: booting, serving SSH, or powered off with its disk kept."""

    BOOTING = "booting"
    READY = "ready"
    STOPPED = "stopped"


class PowerState(StrEnum):
    """What the cloud says of an instance that has a host: running, or stopped."""

    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(frozen=True)
class HostRecord:
    """A realized host, as recorded in its folder."""

    spec: HostSpec
    state: HostState

    @property
    def ready(self) -> bool:
        return self.state is HostState.READY

    @classmethod
    def load(cls, folder: Path) -> HostRecord | None:
        data = read_json(folder / "host.json")
        if not isinstance(data, dict):
            return None
        spec = data.get("spec") or {}
        spec["authorized_keys"] = tuple(spec.get("authorized_keys") or ())
        try:
            return cls(HostSpec(**spec), HostState(str(data.get("state"))))
        except (TypeError, ValueError):
            return None

    def save(self, folder: Path) -> None:
        atomic_write_json(folder / "host.json", {"spec": asdict(self.spec), "state": self.state})


class HostFarm:
    """Creates and removes namespace hosts; their files live under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Each host's first process, reaped when the host is removed (else it stays a zombie).
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        # Namespace names carry the farm's id, so two local clouds never touch each other's.
        self.prefix = "p" + hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:6]
        for forbidden in OVERLAY_DIRS:
            if root.resolve().is_relative_to(Path("/") / forbidden):
                raise LocalCloudError(
                    f"the state folder {root} is under /{forbidden}, which hosts overlay; "
                    "set PROVISION_STATE_DIR elsewhere"
                )

    def vpc_namespace(self, vpc_id: str) -> str:
        return f"{self.prefix}-vpc-{_short(vpc_id)}"

    def host_namespace(self, instance_id: str) -> str:
        return f"{self.prefix}-host-{_short(instance_id)}"

    def folder(self, instance_id: str) -> Path:
        return self.root / instance_id

    def record(self, instance_id: str) -> HostRecord | None:
        """The host of `instance_id`, as recorded in its folder."""
        return HostRecord.load(self.folder(instance_id))

    def records(self) -> dict[str, HostRecord]:
        """Every host realized so far, by instance id."""
        if not self.root.is_dir():
            return {}
        found = {}
        for folder in self.root.iterdir():
            record = HostRecord.load(folder)
            if record is not None:
                found[record.spec.instance_id] = record
        return found

    def create(self, spec: HostSpec) -> None:
        """Realize `spec` (again, after a stop): network, namespaces, sshd; mark it ready.

        A folder left by a stop is reused: the host keeps its files and host key.
        """
        folder = self.folder(spec.instance_id)
        folder.mkdir(parents=True, exist_ok=True)
        HostRecord(spec, HostState.BOOTING).save(folder)
        self._network(spec)
        self._files(spec, folder)
        self._start(spec, folder)
        self._wait_for_ssh(spec)
        HostRecord(spec, HostState.READY).save(folder)

    def stop(self, spec: HostSpec) -> None:
        """Power the host off: stop its processes and unplug its network, keep its disk."""
        self._power_off(spec)
        HostRecord(spec, HostState.STOPPED).save(self.folder(spec.instance_id))

    def remove(self, spec: HostSpec) -> None:
        """Stop every process of the host, then remove its link, namespace and files."""
        self._power_off(spec)
        shutil.rmtree(self.folder(spec.instance_id), ignore_errors=True)

    def _power_off(self, spec: HostSpec) -> None:
        _stop_all(self.host_namespace(spec.instance_id))
        child = self._children.pop(spec.instance_id, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
        netns.delete_link(self.vpc_namespace(spec.vpc_id), spec.peer)
        netns.delete_namespace(self.host_namespace(spec.instance_id))

    def remove_vpc_namespace(self, name: str) -> None:
        """Remove a VPC namespace (and any ProxyCommand helpers still in it)."""
        _stop_all(name)
        netns.delete_namespace(name)

    def vpc_namespaces(self) -> set[str]:
        """The VPC namespaces of this farm."""
        return {name for name in netns.namespaces() if name.startswith(f"{self.prefix}-vpc-")}

    def _network(self, spec: HostSpec) -> None:
        subnet = ipaddress.IPv4Network(spec.subnet_cidr)
        gateway = f"{subnet.network_address + 1}/{subnet.prefixlen}"
        vpc, host = self.vpc_namespace(spec.vpc_id), self.host_namespace(spec.instance_id)
        netns.add_namespace(vpc)
        netns.in_namespace(vpc, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        netns.add_bridge(vpc, spec.bridge, gateway)
        netns.add_namespace(host)
        netns.add_veth(vpc, spec.bridge, spec.peer, host)
        address = f"{spec.private_ip}/{subnet.prefixlen}"
        if address not in netns.ip("-4", "addr", "show", "eth0", namespace=host):
            netns.ip("addr", "add", address, "dev", "eth0", namespace=host)
        netns.ip("link", "set", "eth0", "up", namespace=host)
        netns.ip(
            "route", "replace", "default", "via", str(subnet.network_address + 1), namespace=host
        )

    def _files(self, spec: HostSpec, folder: Path) -> None:
        key = folder / "ssh_host_ed25519_key"
        if not key.exists():
            subprocess.run(
                [
                    "ssh-keygen",
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    spec.hostname,
                    "-f",
                    str(key),
                ],
                check=True,
            )
        atomic_write_text(
            folder / "authorized_keys", "".join(f"{k}\n" for k in spec.authorized_keys), mode=0o600
        )
        atomic_write_text(folder / "sshd_config", _sshd_config(spec))
        atomic_write_text(folder / "boot.sh", _boot_script(spec, folder), mode=0o700)

    def _start(self, spec: HostSpec, folder: Path) -> None:
        log = (folder / "sshd.log").open("ab")
        with log:
            self._children[spec.instance_id] = subprocess.Popen(
                [
                    "ip", "netns", "exec", self.host_namespace(spec.instance_id),
                    "unshare", "--mount", "--uts", "--propagation", "private",
                    "/bin/sh", str(folder / "boot.sh"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def _wait_for_ssh(self, spec: HostSpec, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["ip", "netns", "exec", self.vpc_namespace(spec.vpc_id), "nc", "-z", "-w", "1",
                 spec.private_ip, str(SSH_PORT)],
                capture_output=True,
                check=False,
            )  # fmt: skip
            if probe.returncode == 0:
                return
            time.sleep(0.1)
        raise LocalCloudError(f"sshd of {spec.instance_id} did not start; see its sshd.log")


def _sshd_config(spec: HostSpec) -> str:
    return "\n".join(
        [
            f"ListenAddress {spec.private_ip}:{SSH_PORT}",
            f"HostKey {HOST_MOUNT}/ssh_host_ed25519_key",
            "PidFile /run/sshd.pid",
            f"AuthorizedKeysFile {HOST_MOUNT}/authorized_keys",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "UseDNS no",
            "Subsystem sftp internal-sftp",
            "",
        ]
    )


def _boot_script(spec: HostSpec, folder: Path) -> str:
    """Runs inside the host's new mount and UTS namespaces, then becomes its sshd."""
    overlays = "\n".join(
        f'mkdir -p "$STATE/upper/{d}" "$STATE/work/{d}"\n'
        f'mount -t overlay overlay -o "lowerdir=/{d},upperdir=$STATE/upper/{d},'
        f'workdir=$STATE/work/{d}" /{d}'
        for d in OVERLAY_DIRS
    )
    tmpfs = "\n".join(f"mount -t tmpfs -o mode=1777 tmpfs /{d}" for d in TMPFS_DIRS)
    return f"""#!/bin/sh
set -eu
STATE="{folder}"
hostname "{spec.hostname}"
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p {HOST_MOUNT} /run/sshd
mount --bind "$STATE" {HOST_MOUNT}
{overlays}
{tmpfs}
grep -qx "{spec.private_ip} {spec.hostname}" /etc/hosts \
    || echo "{spec.private_ip} {spec.hostname}" >> /etc/hosts
echo "{spec.hostname}" > /etc/hostname
exec /usr/sbin/sshd -D -e -f {HOST_MOUNT}/sshd_config
"""


def _stop_all(namespace: str, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, every process in `namespace`."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        for pid in netns.pids(namespace):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
        deadline = time.monotonic() + grace
        while netns.pids(namespace) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not netns.pids(namespace):
            return
