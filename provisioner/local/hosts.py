"""Namespace hosts: each running instance of the local cloud as a real Linux host.

A host is a network namespace plugged into its subnet (see vpcnet.py) with
`eth0` and the instance's private IP, plus
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
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

from provisioner.errors import LocalCloudError
from provisioner.fsutil import atomic_write_json, atomic_write_text, read_json
from provisioner.local.vpcnet import Attachment, VpcNetworks, resolver_address, short_id

# System directories a host may change, each a copy-on-write overlay of the machine's:
# the host's disk, kept while its instance is stopped.
OVERLAY_DIRS = (
    "etc", "var/lib", "var/log", "var/spool", "opt", "home", "srv", "usr/local",
)  # fmt: skip
# Root's home starts from the skeleton a new account gets, as on a fresh image, not from
# the operator's home: its dotfiles would run on every SSH command (one pyenv init cost
# about 50 processes each) and would hand the operator's settings to every host.
ROOT_HOME, ROOT_HOME_LOWER = "root", "etc/skel"
# Private, empty and in memory for each host, and emptied when it stops (like a reboot).
TMPFS_DIRS = ("tmp", "var/tmp")
HOST_MOUNT = "/run/provision-host"
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
    ) -> None:
        self.root = root
        self.networks = networks or VpcNetworks(root)
        # Each host's first process, reaped when the host is removed (else it stays a zombie).
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        for forbidden in (*OVERLAY_DIRS, ROOT_HOME):
            if root.resolve().is_relative_to(Path("/") / forbidden):
                raise LocalCloudError(
                    f"the state folder {root} is under /{forbidden}, which hosts overlay; "
                    "set PROVISION_STATE_DIR elsewhere"
                )

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
    # Root's home first, while its lower folder is still the machine's own.
    lowers = [(ROOT_HOME, ROOT_HOME_LOWER)] + [(d, d) for d in OVERLAY_DIRS]
    overlays = "\n".join(
        f'mkdir -p "$STATE/upper/{d}" "$STATE/work/{d}"\n'
        f'mount -t overlay overlay -o "lowerdir=/{lower},upperdir=$STATE/upper/{d},'
        f'workdir=$STATE/work/{d}" /{d}'
        for d, lower in lowers
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
rm -f /etc/resolv.conf
echo "nameserver {resolver_address(spec.vpc_cidr)}" > /etc/resolv.conf
exec /usr/sbin/sshd -D -e -f {HOST_MOUNT}/sshd_config
"""
