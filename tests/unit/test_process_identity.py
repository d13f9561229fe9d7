"""A process is identified by pid and start time, so a reused pid is never mistaken for ours."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from provisioner.local.process import ProcessIdentity, command_line


def test_the_current_process_is_alive_under_its_identity() -> None:
    me = ProcessIdentity.of(os.getpid())
    assert me is not None
    assert me.is_alive()


def test_the_same_pid_with_another_start_time_is_a_different_process() -> None:
    me = ProcessIdentity.of(os.getpid())
    assert me is not None
    assert not ProcessIdentity(me.pid, me.start_ticks + 1).is_alive()


def test_a_finished_process_is_not_alive_even_before_it_is_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = ProcessIdentity.of(child.pid)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, still a zombie
    assert identity is None or not identity.is_alive()
    child.wait()
    assert ProcessIdentity.of(child.pid) is None


def test_terminate_stops_a_running_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    identity = ProcessIdentity.of(child.pid)
    assert identity is not None
    assert identity.terminate(grace_seconds=5) is True
    assert child.wait(timeout=5) == -15
    assert identity.terminate(grace_seconds=5) is False


def test_command_line_reads_the_argv_of_a_process() -> None:
    argv = [sys.executable, "-c", "import time; time.sleep(60)", "marker-arg"]
    child = subprocess.Popen(argv)
    try:
        deadline = time.monotonic() + 10  # until exec, the child still shows our own argv
        while command_line(child.pid) != argv and time.monotonic() < deadline:
            time.sleep(0.01)
        assert command_line(child.pid) == argv
    finally:
        child.kill()
        child.wait()
    assert command_line(child.pid) == []
