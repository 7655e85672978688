"""`pyctl rollout`, `drift` and `reapply` against the real NetBox, without hosts: the dry run's plan and
batches, and the bad inputs that must stop before anything is written or any host is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import REPO, NetBoxBed, run_pyctl

pytestmark = pytest.mark.netbox


def test_dry_run_prints_the_plan_and_the_batches_and_writes_nothing(netbox_bed: NetBoxBed, tmp_path: Path) -> None:
    result = run_pyctl("rollout", "dc2", "--dry-run", "--json", env=netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path)))
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["dry_run"] is True
    phases = {p["name"]: p for p in doc["phases"]}
    assert list(phases) == ["preflight", "gpu", "etcd", "control_plane", "calico", "smoke"]
    assert [b["hosts"] for b in phases["etcd"]["batches"]] == [["dc2-etcd-01", "dc2-etcd-02", "dc2-etcd-03"]]
    gpu = [len(b["hosts"]) for b in phases["gpu"]["batches"]]
    assert gpu[0] == 1  # the canary
    assert sum(gpu) == len({h for b in phases["calico"]["batches"] for h in b["hosts"]})
    assert all(not b["done"] for p in doc["phases"] for b in p["batches"])
    assert "cluster dc2-inference-a" in result.stderr  # the plan, printed before the batches
    # each role's phase names its health gate; etcd's is on every member and takes the disk limits
    assert doc["gates"]["etcd"] == ["etcd-health", "etcd-leader", "etcd-members", "etcd-db-size", "etcd-disk",
                                   "cert-expiry"]
    assert set(doc["gates"]) == {"gpu", "etcd", "control_plane", "calico"}
    assert "gate after each batch, on every etcd member of the batch's clusters: etcd-health" in result.stderr
    assert "  gpu            " in result.stderr
    assert list(tmp_path.iterdir()) == []  # no state, no lock, no run directory
    # Failure domains as NetBox gives them (dc2: 6 racks): the canary is the first host of a rack, and no
    # batch after it takes hosts of two racks (--max-racks 1) or two clusters.
    hostvars = run_pyctl("inventory", "dc2", "--ansible", env=netbox_bed.env()).json()["_meta"]["hostvars"]
    domain = {h: (v["pyctl_cluster"], v["pyctl_rack"]) for h, v in hostvars.items()}
    workers = [b["hosts"] for b in phases["gpu"]["batches"]]
    canary = workers[0][0]
    assert canary == min(h for h in domain if domain[h] == domain[canary])
    assert all(len({domain[h] for h in b}) == 1 for b in workers)
    assert len({domain[h][1] for b in workers for h in b}) > 1  # dc2's workers are in several racks
    wider = run_pyctl("rollout", "dc2", "--dry-run", "--json", "--max-racks", "6", env=netbox_bed.env(
        PYCTL_RUNS_DIR=str(tmp_path))).json()
    wide = next(p for p in wider["phases"] if p["name"] == "gpu")["batches"]
    assert len(wide) < len(workers)
    assert all(len({domain[h][0] for h in b["hosts"]}) == 1 for b in wide)  # never two clusters
    # dc2's group_vars give no SSH settings: the dry run names what would stop the rollout, and the rollout
    # stops there, before the lock and the first host, not after converging every host at its smoke phase.
    missing = f"no SSH settings for dc2: {REPO}/inventories/dc2/group_vars/all/connection.yml is missing"
    assert doc["would_stop"].startswith(missing)
    assert f"pyctl: warning: the rollout would stop before its first host: {missing}" in result.stderr
    real = run_pyctl("rollout", "dc2", "--yes", env=netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path)))
    assert real.code == 3, real.stderr
    assert real.stderr.splitlines()[-1].startswith(f"pyctl: error: {missing}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("args", "message"), [
    (["rollout", "dc2", "--batches", "0"],
     "--batches: '0' is neither a host count (1, 2, …) nor a percentage (1%–100%)"),
    (["rollout", "dc2", "--max-fail", "-1"], "--max-fail must be 0 or more, got -1"),
    (["rollout", "dc2", "--limit", "nope"], "--limit: 'nope' is neither a host nor a group of dc2"),
    (["rollout", "dc2", "--resume", "--yes"], "nothing to resume: no rollout state in {runs}/dc2/rollout-state.json"),
    (["rollout", "dc2"], "not a terminal: pass --yes to go on after the plan"),
    (["reapply", "dc2"], "say what to reapply: --drifted (the drifted hosts of the last drift) or --host HOST"),
    (["reapply", "dc2", "--drifted", "--yes"],
     "no drift report for dc2 ({runs}/dc2/last-drift.json): run `pyctl drift dc2` first, or pass --fresh"),
    (["reapply", "dc2", "--host", "dc2-nope", "--yes"], "--host: not a host of dc2: dc2-nope"),
    (["drift", "dc2", "--limit", "cluster_nope"], "--limit: 'cluster_nope' is neither a host nor a group of dc2"),
])
def test_bad_input_is_refused_with_exit_3_and_nothing_written(netbox_bed: NetBoxBed, tmp_path: Path,
                                                              args: list[str], message: str) -> None:
    result = run_pyctl(*args, env=netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path)))
    assert result.code == 3, result.stderr
    assert result.stderr.splitlines()[-1] == f"pyctl: error: {message.format(runs=tmp_path)}"
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
