"""The Ansible inventory plugin gives the same hosts, groups and variables as pyctl (golden files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import REPO, NetBoxBed, run_pyctl

pytestmark = pytest.mark.netbox
GOLDEN = REPO / "tests" / "fixtures" / "golden"


def ansible_inventory(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    venv_bin = str(Path(sys.executable).parent)
    env = {**env, "PATH": f"{venv_bin}:{env.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    return subprocess.run([f"{venv_bin}/ansible-inventory", "-i", str(config), "--list"], cwd=REPO, env=env,
                          text=True, capture_output=True, timeout=120, check=False)


def unwrap(value: Any) -> Any:
    """Drop Ansible's marker for untrusted strings (what an inventory source reads from an API)."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


@pytest.mark.parametrize("dc", ["dc1", "dc2", "dc3"])
def test_ansible_inventory_list_equals_the_golden_file(netbox_bed: NetBoxBed, dc: str) -> None:
    proc = ansible_inventory(REPO / "inventories" / dc / "netbox.yml", netbox_bed.env())
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    golden = GOLDEN / f"{dc}.ansible-inventory.json"
    if os.environ.get("PYCTL_UPDATE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(golden.read_text())


def test_plugin_and_pyctl_agree_on_hosts_groups_and_vars(netbox_bed: NetBoxBed, tmp_path: Path) -> None:
    proc = ansible_inventory(REPO / "inventories" / "dc2" / "netbox.yml", netbox_bed.env())
    plugin = unwrap(json.loads(proc.stdout))
    plugin["_meta"].pop("profile", None)
    # The plan's variables, on every host of each cluster, are those `pyctl plan` writes for its group.
    planned = run_pyctl("plan", "dc2", "--json", env=netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path)))
    assert planned.code == 0, planned.stderr
    plan_dir = next((tmp_path / "dc2").glob("*-plan"))
    plan_vars = {f.stem: yaml.safe_load(f.read_text()) for f in (plan_dir / "group_vars").glob("cluster_*.yml")}
    assert plan_vars, "pyctl plan wrote no group_vars"
    members = {g: body["hosts"] for g, body in plugin.items() if g in plan_vars}
    assert set(members) == set(plan_vars)
    for group, variables in plan_vars.items():
        for host in members[group]:
            hostvars = plugin["_meta"]["hostvars"][host]
            assert {k: hostvars.pop(k) for k in variables} == variables, (group, host)
    # Site policy from inventories/dc2/group_vars/ is Ansible's to merge, not the plugin's.
    for hostvars in plugin["_meta"]["hostvars"].values():
        assert hostvars.pop("pyctl_plan")["encapsulations"] == ["vxlan"]
    pyctl = run_pyctl("inventory", "dc2", "--ansible", env=netbox_bed.env()).json()
    assert plugin == pyctl


def test_plugin_fails_the_parse_naming_every_problem(netbox_bed: NetBoxBed, netbox_writer: Any) -> None:
    netbox_writer.dcim.devices.get(name="dc1-etcd-03").update({"custom_fields": {"cluster": None}})
    proc = ansible_inventory(REPO / "inventories" / "dc1" / "netbox.yml", netbox_bed.env())
    assert proc.returncode != 0
    assert "pyctl_netbox: the inventory of dc1 has 2 problem(s)" in proc.stderr
    assert "device dc1-etcd-03: in no cluster (custom field cluster is empty)" in proc.stderr
    assert "cluster dc1-mgmt: 2 etcd members (dc1-etcd-01, dc1-etcd-02); an even count" in proc.stderr


def test_plugin_leaves_out_and_names_the_same_devices_as_pyctl(netbox_bed: NetBoxBed, netbox_writer: Any) -> None:
    netbox_writer.dcim.devices.get(name="dc1-inference-gpu-03").update({"status": "offline"})
    netbox_writer.dcim.devices.get(name="dc1-inference-gpu-04").update({"status": "staged"})
    proc = ansible_inventory(REPO / "inventories" / "dc1" / "netbox.yml", netbox_bed.env())
    assert proc.returncode == 0, proc.stderr
    hosts = set(json.loads(proc.stdout)["_meta"]["hostvars"])
    pyctl = run_pyctl("inventory", "dc1", "--json", env=netbox_bed.env()).json()
    assert hosts == {h["name"] for c in pyctl["clusters"] for h in c["hosts"]}
    assert {"dc1-inference-gpu-03", "dc1-inference-gpu-04"}.isdisjoint(hosts)
    warned = " ".join(proc.stderr.split())
    for s in pyctl["skipped"]:
        assert f"pyctl_netbox: not touched: {s['name']} ({s['role']}, {s['status']}): {s['reason']}" in warned
