"""The data sets the NetBox test bed is seeded with."""

from __future__ import annotations

from collections import Counter

from pyctl.dev import seed
from pyctl.gpu import mig_layout_problems
from pyctl.inventory import DEVICE_CUSTOM_FIELDS


def test_demo_world_has_three_dcs_and_an_empty_lab() -> None:
    spec = seed.demo()
    assert [s["slug"] for s in spec["sites"]] == ["dc1", "dc2", "dc3", "lab"]
    per_site = Counter(d["site"] for d in spec["devices"])
    assert per_site == {"dc1": 15, "dc2": 21, "dc3": 12}
    assert {c["name"] for c in spec["custom_fields"]} == {*DEVICE_CUSTOM_FIELDS, "gpu_capacity"}
    assert {dt["slug"]: dt["gpu_capacity"] for dt in spec["device_types"]} == {
        "hgx-h100-8gpu": 8, "hgx-h200-8gpu": 8, "r750xa-a100-4gpu": 4, "r660": 0, "lab-host": 8}


def test_demo_devices_are_valid_by_construction() -> None:
    devices = seed.demo()["devices"]
    assert len({d["address"].split("/")[0] for d in devices}) == len(devices)  # no duplicate address
    for d in devices:
        cf = d["custom_fields"]
        if d["role"] == "gpu-worker" and cf.get("mig_layout"):
            assert mig_layout_problems(cf["gpu_model"], cf["mig_layout"]) == []
    etcd = Counter(d["custom_fields"]["cluster"] for d in devices if d["role"] == "etcd")
    assert set(etcd.values()) == {3}


def test_large_set_has_the_asked_number_of_devices_in_clusters_of_at_most_1000() -> None:
    spec = seed.large(3000)
    scale = [d for d in spec["devices"] if d["site"] == "scale"]
    assert len(scale) == 3000
    clusters = Counter(d["custom_fields"]["cluster"] for d in scale)
    assert max(clusters.values()) == 1000
    assert sum(clusters.values()) == 3000
    assert len({d["address"] for d in scale}) == 3000


def test_lab_hosts_carry_pod_traffic_on_eth1_apart_from_the_primary_ip_on_eth0() -> None:
    spec = seed.lab([(f"pyctl-lab-{i:02d}", f"172.31.213.{10 + i}/24", f"172.31.214.{10 + i}/24", 1500)
                     for i in range(1, 6)])
    first = spec["devices"][0]
    assert (first["primary_nic"], first["address"]) == ("eth0", "172.31.213.11/24")
    assert (first["pod_nic"], first["pod_address"], first["mtu"]) == ("eth1", "172.31.214.11/24", 1500)
    assert [n["name"] for n in spec["device_types"][0]["interfaces"]] == ["eth0", "eth1"]
    assert [d["role"] for d in spec["devices"]] == ["etcd", "etcd", "etcd", "control-plane", "gpu-worker"]
