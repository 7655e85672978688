"""Processes: whether one still runs (pid files, the rollout lock), and ending every process of a run."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def process_running(pid: int) -> bool:
    """True while ``pid`` runs. A zombie counts as ended: daemons we start are re-parented to an
    init that may never reap them (as in some sandboxes), yet they have stopped all the same."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def processes_with_env(name: str, value: str) -> list[int]:
    """The pids whose environment holds ``name=value`` (this user's processes; others are unreadable)."""
    needle = f"{name}={value}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:  # gone meanwhile, or another user's
            continue
        if needle in environ.split(b"\0"):
            found.append(int(proc.name))
    return found


def kill_processes_with_env(name: str, value: str, *, grace_s: float = 5.0) -> list[int]:
    """SIGKILL every process whose environment holds ``name=value``, and wait up to ``grace_s`` for
    them to end. Returns the pids still running after that (empty when all ended).

    Killing a process group is not enough for Ansible: each of its workers calls ``setsid()``, so it
    leads a session of its own and outlives a kill of ansible-playbook's group. The environment,
    which every child inherits, finds them all, and the SSH clients they started.
    """
    pids = [pid for pid in processes_with_env(name, value) if pid != os.getpid()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + grace_s
    while (left := [pid for pid in pids if process_running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
