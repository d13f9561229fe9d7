"""Namespace hosts: each running instance of the local cloud as a real Linux host.

A host is a network namespace plugged into its subnet (see vpcnet.py) with
`eth0` and the instance's private IP, plus mount, UTS and PID namespaces: its
root is a copy-on-write overlay on the base image (image.py; read-only lower
layer, the host's own upper layer), with its own /proc, a minimal /dev, tmpfs
/run and /tmp, its own hostname, and tini as PID 1 (it reaps orphans, so
packages' daemons run as on any server) in front of the host's own sshd. It
sees nothing of the machine's files. Everything a host runs shares its network
namespace, which is how `stop` and `remove` find every process to stop.

What a cloud gives an instance at boot is written into its root before it
starts: its SSH host key, the authorized keys from its user data, its hostname,
the VPC's resolver and the VPC's package relay as apt's proxy (as DHCP options
would), and an sshd drop-in (`sshd_config.d/50-local-cloud.conf`).

A host's folder is its disk: its host key and the upper layer of its root.
A stopped instance keeps it, as an EBS-backed instance keeps its root volume, so
it starts again with its files and its host key; a terminated one loses it.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from provisioner.errors import LocalCloudError
from provisioner.fsutil import atomic_write_json, atomic_write_text, read_json
from provisioner.local import netns
from provisioner.local.cgroups import HostGroups
from provisioner.local.relay import proxy_url
from provisioner.local.vpcnet import Attachment, VpcNetworks, resolver_address, short_id

# Device nodes a host gets, bound from the machine's (nothing else of /dev: no disks).
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
SSH_PORT = 22


@dataclass(frozen=True)
class HostSpec:
    """What the cloud says a host should be."""

    instance_id: str
    vpc_id: str
    vpc_cidr: str
    subnet_id: str
    subnet_cidr: str
    private_ip: str
    hostname: str
    authorized_keys: tuple[str, ...]
    instance_type: str = ""  # its vCPUs and memory limit the host (cgroups.py)

    @property
    def attachment(self) -> Attachment:
        return Attachment(
            vpc_id=self.vpc_id,
            subnet_id=self.subnet_id,
            subnet_cidr=self.subnet_cidr,
            address=self.private_ip,
            peer=f"vp-{short_id(self.instance_id, 8)}",
        )


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

    def __init__(
        self,
        root: Path,
        networks: VpcNetworks | None = None,
        image: Path | None = None,
    ) -> None:
        self.root = root
        self.networks = networks or VpcNetworks(root)
        self.image = image  # the base image's root; needed to create hosts, not to find them
        self.groups = HostGroups()
        # Each host's first process, reaped when the host is removed (else it stays a zombie).
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def vpc_namespace(self, vpc_id: str) -> str:
        return self.networks.vpc_namespace(vpc_id)

    def host_namespace(self, instance_id: str) -> str:
        return self.networks.namespace("host", instance_id)

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
        self.groups.apply(self.host_namespace(spec.instance_id), spec.instance_type)
        self._files(spec, folder)
        self._start(spec, folder)
        self._wait_for_ssh(spec)
        HostRecord(spec, HostState.READY).save(folder)

    def stop(self, spec: HostSpec) -> None:
        """Power the host off: stop its processes and unplug its network, keep its disk."""
        self._power_off(spec)
        HostRecord(spec, HostState.STOPPED).save(self.folder(spec.instance_id))

    def remove(self, spec: HostSpec) -> None:
        """Stop every process of the host, then remove its link, namespace, group and disk."""
        self._power_off(spec)
        self.groups.remove(self.host_namespace(spec.instance_id))
        shutil.rmtree(self.folder(spec.instance_id), ignore_errors=True)

    def resize(self, spec: HostSpec) -> None:
        """A running host's new instance type: its limits change in place, nothing restarts."""
        self.groups.apply(self.host_namespace(spec.instance_id), spec.instance_type)
        HostRecord(spec, HostState.READY).save(self.folder(spec.instance_id))

    def _power_off(self, spec: HostSpec) -> None:
        namespace = self.host_namespace(spec.instance_id)
        self.networks.detach(namespace, [spec.attachment])
        child = self._children.pop(spec.instance_id, None)
        if child is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)

    def _network(self, spec: HostSpec) -> None:
        namespace = self.host_namespace(spec.instance_id)
        self.networks.attach(namespace, spec.attachment, default_route=True)

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
        atomic_write_text(folder / "sshd.conf", _sshd_config(spec))
        if self.image is None:
            raise LocalCloudError(f"no base image to boot {spec.instance_id} from")
        join = self.groups.join_command(self.host_namespace(spec.instance_id))
        atomic_write_text(
            folder / "boot.sh", _boot_script(spec, folder, self.image, join), mode=0o700
        )

    def _start(self, spec: HostSpec, folder: Path) -> None:
        log = (folder / "sshd.log").open("ab")
        with log:
            self._children[spec.instance_id] = subprocess.Popen(
                [
                    *netns.enter(self.host_namespace(spec.instance_id)),
                    "unshare", "--mount", "--uts", "--pid", "--fork", "--propagation", "private",
                    "/bin/sh", str(folder / "boot.sh"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def _wait_for_ssh(self, spec: HostSpec, timeout: float = 20.0) -> None:
        # Probed from inside the host, so its security groups (firewall.py) do not matter.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["ip", "netns", "exec", self.host_namespace(spec.instance_id), "nc", "-z", "-w",
                 "1", spec.private_ip, str(SSH_PORT)],
                capture_output=True,
                check=False,
            )  # fmt: skip
            if probe.returncode == 0:
                return
            time.sleep(0.1)
        raise LocalCloudError(f"sshd of {spec.instance_id} did not start; see its sshd.log")


def _sshd_config(spec: HostSpec) -> str:
    """The local cloud's sshd drop-in; the image's own sshd_config includes it first."""
    return "\n".join(
        [
            "# Written by the local cloud at boot, as cloud-init writes 50-cloud-init.conf.",
            f"ListenAddress {spec.private_ip}:{SSH_PORT}",
            "HostKey /etc/ssh/ssh_host_ed25519_key",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            # No login session to record: the host has no systemd-logind, and its
            # /proc/self/loginuid cannot be written from a namespace.
            "UsePAM no",
            "UseDNS no",
            "",
        ]
    )


def _boot_script(spec: HostSpec, folder: Path, image: Path, join_group: str) -> str:
    """Runs as PID 1 of the host's new namespaces: mounts its root, then becomes tini + sshd."""
    devices = "\n".join(
        f'touch "$ROOT/dev/{d}" && mount --bind /dev/{d} "$ROOT/dev/{d}"' for d in DEVICES
    )
    return f"""#!/bin/sh
set -eu
STATE="{folder}"
ROOT="$STATE/root"
{join_group}
mkdir -p "$STATE/upper" "$STATE/work" "$ROOT"
mount --make-rprivate /
mount -t overlay overlay -o "lowerdir={image},upperdir=$STATE/upper,workdir=$STATE/work" "$ROOT"
mount -t proc proc "$ROOT/proc"
mount -t sysfs -o ro sysfs "$ROOT/sys"
mount -t tmpfs -o mode=755,size=16m tmpfs "$ROOT/dev"
{devices}
mkdir -p "$ROOT/dev/pts" "$ROOT/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$ROOT/dev/pts"
ln -s pts/ptmx "$ROOT/dev/ptmx"
ln -s /proc/self/fd "$ROOT/dev/fd"
mount -t tmpfs -o mode=1777 tmpfs "$ROOT/dev/shm"
mount -t tmpfs -o mode=755 tmpfs "$ROOT/run"
mkdir -p "$ROOT/run/sshd" "$ROOT/run/lock"
mount -t tmpfs -o mode=1777 tmpfs "$ROOT/tmp"
hostname "{spec.hostname}"
echo "{spec.hostname}" > "$ROOT/etc/hostname"
grep -qx "{spec.private_ip} {spec.hostname}" "$ROOT/etc/hosts" \
    || echo "{spec.private_ip} {spec.hostname}" >> "$ROOT/etc/hosts"
rm -f "$ROOT/etc/resolv.conf"
echo "nameserver {resolver_address(spec.vpc_cidr)}" > "$ROOT/etc/resolv.conf"
echo 'Acquire::http::Proxy "{proxy_url(spec.vpc_cidr)}";' \
    > "$ROOT/etc/apt/apt.conf.d/00local-cloud-proxy"
install -m 600 "$STATE/ssh_host_ed25519_key" "$ROOT/etc/ssh/ssh_host_ed25519_key"
install -m 644 "$STATE/ssh_host_ed25519_key.pub" "$ROOT/etc/ssh/ssh_host_ed25519_key.pub"
install -m 644 "$STATE/sshd.conf" "$ROOT/etc/ssh/sshd_config.d/50-local-cloud.conf"
install -d -m 700 "$ROOT/root/.ssh"
install -m 600 "$STATE/authorized_keys" "$ROOT/root/.ssh/authorized_keys"
exec chroot "$ROOT" /usr/bin/tini -s -- /usr/sbin/sshd -D -e
"""
