"""Instance types as cgroup limits, on a folder laid out as cgroup v1 or v2 mounts are."""

from __future__ import annotations

from pathlib import Path

from provisioner.local.cgroups import CgroupVersion, HostGroups, detect

NAME = "p123456-host-0abc"


def v1(root: Path) -> Path:
    (root / "cpu").mkdir(parents=True)
    (root / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    (root / "memory").mkdir()
    return root


def v2(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    return root


def test_the_version_is_told_by_the_files_a_mount_has(tmp_path: Path) -> None:
    assert detect(v1(tmp_path / "one")) is CgroupVersion.V1
    assert detect(v2(tmp_path / "two")) is CgroupVersion.V2
    assert detect(tmp_path) is CgroupVersion.NONE
    without_memory = v2(tmp_path / "partial")
    (without_memory / "cgroup.controllers").write_text("cpu pids\n")
    assert detect(without_memory) is CgroupVersion.NONE


def test_v1_limits_a_t3_micro_to_two_vcpus_and_one_gib_and_a_new_type_rewrites_them(
    tmp_path: Path,
) -> None:
    groups = HostGroups(v1(tmp_path))
    groups.apply(NAME, "t3.micro")
    assert groups.limits(NAME) == ("200000", str(2**30))
    assert (tmp_path / "cpu" / "provision" / NAME / "cpu.cfs_period_us").read_text() == "100000"
    groups.apply(NAME, "t3.small")
    assert groups.limits(NAME) == ("200000", str(2**31))
    groups.remove("another")  # not there: nothing happens
    assert (tmp_path / "cpu" / "provision" / NAME).is_dir()
    assert groups.join_command(NAME).splitlines() == [
        f'echo 0 > "{tmp_path}/cpu/provision/{NAME}/cgroup.procs"',
        f'echo 0 > "{tmp_path}/memory/provision/{NAME}/cgroup.procs"',
    ]


def test_v2_enables_the_controllers_for_the_hosts_and_sets_cpu_max_and_memory_max(
    tmp_path: Path,
) -> None:
    groups = HostGroups(v2(tmp_path))
    groups.apply(NAME, "t2.micro")
    assert groups.limits(NAME) == ("100000 100000", str(2**30))
    assert (tmp_path / "provision" / "cgroup.subtree_control").read_text() == "+cpu +memory"
    assert groups.join_command(NAME) == f'echo 0 > "{tmp_path}/provision/{NAME}/cgroup.procs"'


def test_an_unknown_type_runs_unlimited(tmp_path: Path) -> None:
    groups = HostGroups(v1(tmp_path))
    groups.apply(NAME, "x9.enormous")
    assert groups.limits(NAME) == ("-1", "-1")


def test_without_cgroups_nothing_is_written_and_the_boot_joins_nothing(tmp_path: Path) -> None:
    groups = HostGroups(tmp_path)
    groups.apply(NAME, "t3.micro")
    assert groups.join_command(NAME) == ""
    assert groups.limits(NAME) == ()
    assert list(tmp_path.iterdir()) == []
