"""`pyctl rollout` on the lab: canary first, stop at --max-fail, a resume refused when NetBox changed, then
resumed with --replan without re-running, one at a time."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pynetbox
import pytest

from pyctl.dev import lab
from tests.integration.conftest import REPO, NetBoxBed, run_pyctl

pytestmark = [pytest.mark.lab, pytest.mark.netbox]


def test_stop_at_max_fail_then_a_changed_netbox_refuses_resume_and_replan_finishes_without_rerunning(
        registered: list[lab.LabHost], netbox_bed: NetBoxBed, tmp_path: Path) -> None:
    env = netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path))
    victim = registered[2].name  # batches 1, 2, rest: the victim is in batch 2
    subprocess.run(["podman", "stop", "-t", "0", victim], check=True, capture_output=True)
    try:
        first = run_pyctl("rollout", "lab", "--yes", "--phase", "preflight", "--batches", "1,2,100%", "--json",
                          env=env)
    finally:
        lab.up(len(registered))
    assert first.code == 4, first.stderr
    state = first.json()
    batches = state["phases"][0]["batches"]
    assert [b["hosts"] for b in batches] == [[registered[0].name], [registered[1].name, victim],
                                            [h.name for h in registered[3:]]]
    assert [b["done"] for b in batches] == [True, False, False]
    assert batches[1]["unreachable"] == [victim]
    assert state["status"] == "stopped"
    assert "more than --max-fail 0" in first.stderr

    # NetBox changes while the rollout is stopped: a host of the last batch goes offline. The resume is
    # refused, naming what changed, and the state is left as it was; --replan goes on without that host.
    gone = registered[-1].name
    api = pynetbox.api(netbox_bed.url, token=netbox_bed.token)
    device = api.dcim.devices.get(name=gone)
    saved = (tmp_path / "lab" / "rollout-state.json").read_bytes()
    device.update({"status": "offline"})
    try:
        refused = run_pyctl("rollout", "lab", "--yes", "--resume", env=env)
        assert refused.code == 3, refused.stderr
        assert (f"refusing to resume the rollout of lab started {state['started']}: its inputs changed since it "
                "was planned: netbox (the hosts NetBox gives)") in refused.stderr
        assert "`--resume --replan` goes on with today's inputs" in refused.stderr
        assert (tmp_path / "lab" / "rollout-state.json").read_bytes() == saved

        resumed = run_pyctl("rollout", "lab", "--yes", "--resume", "--replan", "--json", env=env)
    finally:
        device.update({"status": "active"})
    assert resumed.code == 0, resumed.stderr
    assert resumed.json()["status"] == "done"
    assert f"  preflight: {gone} no longer in it today: left out" in resumed.stderr
    assert [b["hosts"] for b in resumed.json()["phases"][0]["batches"]][2] == [h.name for h in registered[3:-1]]
    assert [r["changed"][0] for r in resumed.json()["replans"]] == ["netbox"]
    assert "batch 1/3 (" not in resumed.stderr  # the canary batch is not run again
    assert "preflight: batch 2/3 (2 hosts" in resumed.stderr
    runs = sorted(p.name for p in (tmp_path / "lab").iterdir() if p.name.endswith("-rollout-preflight")
                  or "-rollout-preflight-" in p.name)
    assert len(runs) == 4  # 2 batches the first time, 2 on resume: batch 1 ran once


def test_a_concurrent_rollout_is_refused_naming_the_holder(registered: list[lab.LabHost], netbox_bed: NetBoxBed,
                                                           tmp_path: Path) -> None:
    lock = tmp_path / "lab" / "rollout.lock"
    lock.parent.mkdir(parents=True)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "user": "oncall", "since": "2026-11-28T03:00:00+00:00"}
    lock.write_text(json.dumps(holder))
    env = netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path))
    result = run_pyctl("rollout", "lab", "--yes", "--phase", "preflight", env=env)
    assert result.code == 3
    assert result.stderr.splitlines()[-1] == (
        f"pyctl: error: another rollout of this data center is running: oncall@{socket.gethostname()} "
        f"pid {os.getpid()} since 2026-11-28T03:00:00+00:00 (lock {lock})")
    assert json.loads(lock.read_text()) == holder  # the holder's lock is left alone
    assert sorted(p.name for p in (tmp_path / "lab").iterdir()) == ["rollout.lock"]  # nothing else written


def test_sigint_leaves_a_resumable_state(registered: list[lab.LabHost], netbox_bed: NetBoxBed,
                                         tmp_path: Path) -> None:
    env = netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "pyctl", "rollout", "lab", "--yes", "--phase", "preflight",
                             "--batches", "1,1,100%", "--skip-artifact-check"], env=env, cwd=REPO,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "preflight: batch 2/" in line and "(1 host" in line:
            time.sleep(1.0)  # inside batch 2's playbook
            proc.send_signal(signal.SIGINT)
            break
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 130, "".join(seen) + rest
    assert "interrupted in preflight batch 2: state saved; `--resume` runs this batch again" in rest
    state = json.loads((tmp_path / "lab" / "rollout-state.json").read_text())
    assert state["status"] == "interrupted"
    assert [b["done"] for b in state["phases"][0]["batches"]][:2] == [True, False]
    assert not (tmp_path / "lab" / "rollout.lock").exists()  # the lock went with the process

    resumed = run_pyctl("rollout", "lab", "--yes", "--resume", "--json", env=env)
    assert resumed.code == 0, resumed.stderr
    assert resumed.json()["status"] == "done"
    assert "preflight: batch 1/" not in resumed.stderr
    assert f"preflight: batch 2/3 (1 host: {registered[1].name})" in resumed.stderr
    assert f"preflight: batch 3/3 ({len(registered) - 2} hosts" in resumed.stderr
