"""Ending every process of a run, even those that left its process group (as Ansible's workers do)."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable

from pyctl.procs import kill_processes_with_env, process_running, processes_with_env

# A parent that starts one child in its own session (like an Ansible worker) and one in its group.
TREE = "setsid sleep 300 & sleep 300 & echo ready; wait"


def start_tree(env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(["sh", "-c", TREE], env={**os.environ, **env}, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    return proc


def wait_for(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_every_process_of_the_run_ends_the_one_in_its_own_session_too() -> None:
    marker = f"/tmp/run-{uuid.uuid4().hex}"
    other = f"/tmp/run-{uuid.uuid4().hex}"
    ours = start_tree({"PYCTL_TEST_RUN": marker})
    theirs = start_tree({"PYCTL_TEST_RUN": other})
    try:
        wait_for(lambda: len(processes_with_env("PYCTL_TEST_RUN", marker)) == 3)
        pids = processes_with_env("PYCTL_TEST_RUN", marker)
        assert len(pids) == 3  # sh, and both sleeps
        assert ours.pid in pids
        sessions = {os.getsid(pid) for pid in pids}
        assert len(sessions) == 2  # a kill of the parent's group would miss the setsid child

        assert kill_processes_with_env("PYCTL_TEST_RUN", marker) == []

        assert processes_with_env("PYCTL_TEST_RUN", marker) == []
        assert not any(process_running(pid) for pid in pids)
        assert ours.wait(timeout=5) == -9
        # another run's processes are left alone
        assert len(processes_with_env("PYCTL_TEST_RUN", other)) == 3
        assert theirs.poll() is None
    finally:
        kill_processes_with_env("PYCTL_TEST_RUN", other)
        theirs.wait(timeout=5)
        kill_processes_with_env("PYCTL_TEST_RUN", marker)


def test_nothing_to_kill_is_an_empty_answer() -> None:
    assert kill_processes_with_env("PYCTL_TEST_RUN", f"/tmp/none-{uuid.uuid4().hex}") == []


def test_a_value_only_matches_whole() -> None:
    marker = f"/tmp/run-{uuid.uuid4().hex}"
    proc = start_tree({"PYCTL_TEST_RUN": marker + "-longer"})
    try:
        wait_for(lambda: len(processes_with_env("PYCTL_TEST_RUN", marker + "-longer")) == 3)
        assert processes_with_env("PYCTL_TEST_RUN", marker) == []
    finally:
        kill_processes_with_env("PYCTL_TEST_RUN", marker + "-longer")
        proc.wait(timeout=5)
