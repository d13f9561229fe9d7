"""A process is identified by pid and start time, so a reused pid is never mistaken for ours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from provisioner.procs import ProcessIdentity, children, command_line, stop


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


def test_a_started_process_is_among_the_children_of_its_parent() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert child.pid in children(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_stop_kills_a_process_that_ignores_the_first_signal_once_the_grace_ends() -> None:
    ignoring = "import signal, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); print(1)"
    child = subprocess.Popen(
        [sys.executable, "-c", f"{ignoring}; sys.stdout.flush(); time.sleep(60)"],
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdout.readline()  # the handler is in place
    identity = ProcessIdentity.of(child.pid)
    assert identity is not None
    stop([identity], signal.SIGINT, grace_seconds=0.3)
    assert child.wait(timeout=5) == -signal.SIGKILL
