"""Instance types, enforced: each host's processes limited to its type's vCPUs and memory.

The one module that writes control groups. A host gets a group named after its
namespace under `provision/`, in the cpu and memory hierarchies (cgroup v1, as
mounted on the machines this was measured on) or in the unified one (v2). Its
boot script moves itself in before it starts anything, so every process of the
host inherits it. A new instance type rewrites the limits in place; removing
the host removes the group. Where neither version is writable, hosts run
unlimited and `provision local status` says so.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "provision"
CPU_PERIOD_US = 100_000
MIB = 2**20


@dataclass(frozen=True)
class Limits:
    """What an instance type gives a host: vCPUs and memory."""

    vcpus: int
    memory_mib: int


# Published sizes of common types; an unknown type runs unlimited (and is logged).
INSTANCE_TYPES = {
    "t2.nano": Limits(1, 512), "t2.micro": Limits(1, 1024), "t2.small": Limits(1, 2048),
    "t2.medium": Limits(2, 4096), "t2.large": Limits(2, 8192),
    "t3.nano": Limits(2, 512), "t3.micro": Limits(2, 1024), "t3.small": Limits(2, 2048),
    "t3.medium": Limits(2, 4096), "t3.large": Limits(2, 8192), "t3.xlarge": Limits(4, 16384),
    "m5.large": Limits(2, 8192), "m5.xlarge": Limits(4, 16384),
    "c5.large": Limits(2, 4096), "c5.xlarge": Limits(4, 8192),
    "r5.large": Limits(2, 16384),
}  # fmt: skip


class CgroupVersion(StrEnum):
    V1 = "v1"
    V2 = "v2"
    NONE = "none"


def detect(root: Path = CGROUP_ROOT) -> CgroupVersion:
    """Which cgroup interface this machine gives root, if either can limit cpu and memory."""
    if (root / "cpu" / "cpu.cfs_quota_us").exists() and (root / "memory").is_dir():
        return CgroupVersion.V1
    controllers = root / "cgroup.controllers"
    if controllers.exists() and {"cpu", "memory"} <= set(controllers.read_text().split()):
        return CgroupVersion.V2
    return CgroupVersion.NONE


class HostGroups:
    """The control groups of one local cloud's hosts."""

    def __init__(self, root: Path = CGROUP_ROOT) -> None:
        self.root = root
        self.version = detect(root)

    def folders(self, name: str) -> list[Path]:
        """The group's folder in each hierarchy it is in."""
        if self.version is CgroupVersion.V1:
            return [self.root / "cpu" / PARENT / name, self.root / "memory" / PARENT / name]
        if self.version is CgroupVersion.V2:
            return [self.root / PARENT / name]
        return []

    def join_command(self, name: str) -> str:
        """Shell lines that move the running shell (and so all it starts) into the group."""
        return "\n".join(f'echo 0 > "{folder}/cgroup.procs"' for folder in self.folders(name))

    def apply(self, name: str, instance_type: str) -> None:
        """Make the group and set its limits for `instance_type` (again, if it exists)."""
        limits = INSTANCE_TYPES.get(instance_type)
        if self.version is CgroupVersion.NONE:
            return
        if limits is None:
            log.warning(
                "instance type %s has no known size: its host runs unlimited", instance_type
            )
        quota = "-1" if limits is None else str(limits.vcpus * CPU_PERIOD_US)
        memory = None if limits is None else limits.memory_mib * MIB
        if self.version is CgroupVersion.V1:
            cpu, mem = self.folders(name)
            cpu.mkdir(parents=True, exist_ok=True)
            mem.mkdir(parents=True, exist_ok=True)
            (cpu / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            (cpu / "cpu.cfs_quota_us").write_text(quota)
            (mem / "memory.limit_in_bytes").write_text("-1" if memory is None else str(memory))
        else:
            parent = self.root / PARENT
            parent.mkdir(exist_ok=True)
            with contextlib.suppress(OSError):
                (self.root / "cgroup.subtree_control").write_text("+cpu +memory")
            (parent / "cgroup.subtree_control").write_text("+cpu +memory")
            [group] = self.folders(name)
            group.mkdir(exist_ok=True)
            cpu_max = "max" if limits is None else f"{quota} {CPU_PERIOD_US}"
            (group / "cpu.max").write_text(f"{cpu_max}\n")
            (group / "memory.max").write_text("max" if memory is None else str(memory))

    def limits(self, name: str) -> tuple[str, ...]:
        """The limits as written in the group's files (cpu quota, memory), for checks."""
        if self.version is CgroupVersion.V1:
            cpu, mem = self.folders(name)
            return (
                (cpu / "cpu.cfs_quota_us").read_text().strip(),
                (mem / "memory.limit_in_bytes").read_text().strip(),
            )
        if self.version is CgroupVersion.V2:
            [group] = self.folders(name)
            return (
                (group / "cpu.max").read_text().strip(),
                (group / "memory.max").read_text().strip(),
            )
        return ()

    def remove(self, name: str) -> None:
        """Remove the group (once its processes are gone), and `provision/` once empty."""
        for folder in self.folders(name):
            with contextlib.suppress(OSError):
                folder.rmdir()
            with contextlib.suppress(OSError):
                folder.parent.rmdir()  # fails while another host's group is in it
