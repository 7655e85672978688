"""A cancelled run leaves no process behind: Ansible's workers, each in a session of its own (setsid), and
what they started, end with the run, not when their task would have. Real ansible-runner and
ansible-playbook over the local connection; no NetBox, no lab."""

from __future__ import annotations

import sys
import threading
import uuid
from pathlib import Path

from pyctl.procs import kill_processes_with_env, processes_with_env
from pyctl.runner import RUN_ENV, Progress, run_playbook

HOLD_S = f"{300 + uuid.uuid4().int % 1000}.{uuid.uuid4().int % 1000:03d}"  # a duration only this test uses

PLAYBOOK = f"""---
- name: Hold every host
  hosts: all
  gather_facts: false
  tasks:
    - name: Hold
      ansible.builtin.command: sleep {HOLD_S}
      changed_when: false
"""


def sleeps_left() -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmdline[:2] == [b"sleep", HOLD_S.encode()]:
                found.append(proc.name)
    return found


def test_a_cancel_mid_task_ends_the_workers_and_their_commands(tmp_path: Path) -> None:
    playbook = tmp_path / "hold.yml"
    playbook.write_text(PLAYBOOK)
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {"hosts": {"h1": local, "h2": local, "h3": local}}}
    cancel = threading.Event()

    def on_event(progress: Progress) -> None:
        if progress.kind == "task" and progress.task == "Hold":
            # the workers have forked and run the module once the task started; give them a moment
            threading.Timer(3.0, cancel.set).start()

    result = run_playbook(
        playbook,
        inventory=inventory,
        dc="test",
        verb="hold",
        forks=3,
        cancel=cancel,
        on_event=on_event,
        runs_dir=tmp_path / "runs",
    )
    left, sleeping = processes_with_env(RUN_ENV, str(result.run_dir)), sleeps_left()
    kill_processes_with_env(RUN_ENV, str(result.run_dir))  # a failing run leaves nothing on the machine

    assert result.status == "canceled"
    assert result.canceled
    assert left == []
    assert sleeping == []
