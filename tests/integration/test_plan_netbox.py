"""`pyctl plan` on the seeded NetBox: numbers a network engineer can check by hand, and exit 3
naming every broken rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import NetBoxBed, run_pyctl

pytestmark = pytest.mark.netbox


def values(doc: dict[str, Any], cluster: str, section: str) -> dict[str, Any]:
    c = next(c for c in doc["clusters"] if c["name"] == cluster)
    return {k: v["value"] for k, v in c["sections"][section].items()}


def test_plan_dc2_numbers(netbox_bed: NetBoxBed, tmp_path: Path) -> None:
    result = run_pyctl("plan", "dc2", "--json", env=netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path)))
    assert result.code == 0, result.stderr
    doc = result.json()
    assert doc["ok"] is True
    assert doc["violations"] == []
    # Underlay 9000 (NetBox ens1f0 mtu) - 50 (VXLAN over IPv4) = 8950 (RULES.md examples).
    mtu = values(doc, "dc2-inference-a", "mtu")
    assert (mtu["underlay_mtu"], mtu["veth_mtu"], mtu["tunnel_mtu"]) == (9000, 8950, 8950)
    assert mtu["disable_in_felix"] == ["ipipEnabled", "wireguardEnabled", "wireguardEnabledV6"]
    # Pool 10.20.64.0/18 with /26 blocks: 2^(26-18) = 256 blocks; 110 pods + tunnel -> 2 blocks per
    # node; 128 nodes fit, 120 more than the 8 in NetBox.
    ipam = values(doc, "dc2-inference-a", "ipam_ipv4")
    assert ipam == {"block_size": 26, "pool": "10.20.64.0/18", "blocks": 256, "block_addresses": 64,
                    "blocks_per_node": 2, "nodes_fit": 128, "nodes_more": 120}
    # etcd: RTT 0.8 ms (site policy) is far below the 100 ms default heartbeat; election 10x.
    etcd = values(doc, "dc2-mgmt", "etcd")
    assert etcd["members"] == ["dc2-etcd-01", "dc2-etcd-02", "dc2-etcd-03"]
    assert (etcd["heartbeat_interval_ms"], etcd["election_timeout_ms"]) == (100, 1000)
    assert etcd["quota_backend_bytes"] == 2 * 1024**3
    assert etcd["events_separate"] is False
    cp = values(doc, "dc2-inference-b", "control_plane")
    assert cp["apiserver_hosts"] == ["dc2-cp-01", "dc2-cp-02", "dc2-cp-03"]
    assert cp["etcd_prefix"] == "/clusters/dc2-inference-b/registry"
    # The run directory holds what the roles read.
    run_dir = Path(doc["run_dir"])
    assert run_dir.parent == tmp_path / "dc2"
    gv = yaml.safe_load((run_dir / "group_vars" / "cluster_dc2_inference_a.yml").read_text())
    assert (gv["calico_veth_mtu"], gv["calico_ipv4pool_cidr"], gv["calico_block_size"]) == (8950, "10.20.64.0/18", 26)
    mgmt = yaml.safe_load((run_dir / "group_vars" / "cluster_dc2_mgmt.yml").read_text())
    assert (mgmt["etcd_heartbeat_interval_ms"], mgmt["etcd_election_timeout_ms"]) == (100, 1000)
    assert json.loads((run_dir / "plan.json").read_text())["ok"] is True


def test_plan_dc3_proposes_missing_prefixes_from_the_supernet(netbox_bed: NetBoxBed, tmp_path: Path) -> None:
    result = run_pyctl("plan", "dc3", "--json", env=netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path)))
    assert result.code == 0, result.stderr
    doc = result.json()
    assert values(doc, "dc3-inference", "mtu")["veth_mtu"] == 1450  # 1500 - 50
    assert doc["findings"] == [
        "cluster dc3-inference: no pod-network prefix for ipv4 in NetBox; proposing 10.30.8.0/21 (free in "
        "10.30.0.0/16); create it in NetBox with role pod-network and cluster dc3-inference",
        "cluster dc3-inference: no service-network prefix for ipv4 in NetBox; proposing 10.30.16.0/20 (free in "
        "10.30.0.0/16); create it in NetBox with role service-network and cluster dc3-inference",
    ]


def test_mismatched_mtu_and_overlapping_prefix_exit_3_naming_both(netbox_bed: NetBoxBed, netbox_writer: Any,
                                                                   tmp_path: Path) -> None:
    api = netbox_writer
    api.dcim.interfaces.get(device="dc2-inference-a-gpu-03", name="ens1f0").update({"mtu": 1500})
    role = api.ipam.roles.get(slug="pod-network")
    dc1 = api.dcim.sites.get(slug="dc1")
    # A dc1 pod pool laid over dc2-inference-a's: same (global) VRF, so one routing domain.
    api.ipam.prefixes.create(prefix="10.20.96.0/19", role=role.id, scope_type="dcim.site", scope_id=dc1.id,
                             custom_fields={"cluster": "dc1-inference"})
    result = run_pyctl("plan", "dc2", env=netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path)))
    assert result.code == 3
    errors = result.stderr.split("pyctl: error: ", 1)[1].splitlines()
    assert errors == [
        "the plan for dc2 breaks 2 rule(s)",
        "  - cluster dc2-inference-a: pod-traffic NIC MTUs differ: 7 hosts have MTU 9000, but "
        "dc2-inference-a-gpu-03 (ens1f0) has 1500",
        "  - prefixes: dc2 prefix 10.20.64.0/18 (pod-network, cluster dc2-inference-a) overlaps dc1 prefix "
        "10.20.96.0/19 (pod-network, cluster dc1-inference) in VRF global",
    ]
    # The smallest NIC MTU wins: the plan still computes from 1500, and names the odd node.
    assert "underlay_mtu               1500" in result.stdout


def test_bad_rtt_flag_is_refused_before_netbox_is_read(netbox_bed: NetBoxBed, tmp_path: Path) -> None:
    result = run_pyctl("plan", "dc2", "--rtt", "dc2-etcd-01=3", env=netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path)))
    assert result.code == 3
    assert result.stderr == "pyctl: error: --rtt takes HOST_A,HOST_B=MILLISECONDS, got 'dc2-etcd-01=3'\n"
    assert not (tmp_path / "dc2").exists()  # nothing written
