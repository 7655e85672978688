"""The inventory model and every validation rule (issue: "bad data is named, never guessed")."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from pyctl.errors import ExitCode, InventoryError
from pyctl.inventory import (
    DEVICE_CUSTOM_FIELDS,
    DeviceRecord,
    InterfaceRecord,
    PrefixRecord,
    SiteRecords,
    ansible_inventory,
    build,
)

# Default addresses never repeat (and stay clear of the 10.0.x addresses tests give explicitly).
_ADDRESSES = itertools.count(1)


def _next_address() -> str:
    n = next(_ADDRESSES)
    return f"10.9.{n // 250}.{n % 250 + 1}/16"


def device(name: str, role: str = "gpu-worker", *, cluster: str | None = "c1", ip: str | None = None,
           mtu: int | None = 9000, nics: tuple[InterfaceRecord, ...] | None = None, **cf: Any) -> DeviceRecord:
    fields: dict[str, Any] = {"cluster": cluster}
    if role == "gpu-worker":
        fields.update({"gpu_model": "H100-80GB", "gpu_count": 8, "nvswitch": True, "mig_layout": None})
    fields.update(cf)
    return DeviceRecord(
        name=name, role=role, device_type="hgx-h100-8gpu", rack="r01", platform="ubuntu-2204", status="active",
        primary_ip4=ip if ip is not None else _next_address(),
        custom_fields=fields,
        pod_interfaces=nics if nics is not None else (InterfaceRecord("ens1f0", mtu),),
    )


def site(*devices: DeviceRecord, custom_fields: frozenset[str] = frozenset(DEVICE_CUSTOM_FIELDS),
         prefixes: tuple[PrefixRecord, ...] = ()) -> SiteRecords:
    return SiteRecords(site="dc9", devices=devices, prefixes=prefixes, device_custom_fields=custom_fields)


def problems_of(records: SiteRecords) -> list[str]:
    with pytest.raises(InventoryError) as err:
        build(records)
    assert err.value.exit_code == ExitCode.BAD_CONFIG
    return err.value.problems


def good_site() -> SiteRecords:
    return site(
        device("w1", ip="10.0.1.11/24"), device("w2", ip="10.0.1.12/24"),
        device("e1", "etcd", cluster="mgmt", ip="10.0.0.11/24"),
        device("e2", "etcd", cluster="mgmt", ip="10.0.0.12/24"),
        device("e3", "etcd", cluster="mgmt", ip="10.0.0.13/24"),
        device("cp1", "control-plane", cluster="mgmt", ip="10.0.0.14/24"),
    )


def test_valid_site_builds_clusters_with_kinds_and_host_fields() -> None:
    inv = build(good_site())
    assert [(c.name, c.kind, len(c.hosts)) for c in inv.clusters] == [("c1", "workload", 2), ("mgmt", "management", 4)]
    w1 = inv.cluster("c1").hosts[0]
    assert (w1.name, w1.address, w1.address_cidr, w1.underlay_nic, w1.underlay_mtu) == (
        "w1", "10.0.1.11", "10.0.1.11/24", "ens1f0", 9000)
    assert w1.gpu is not None
    assert (w1.gpu.model, w1.gpu.count, w1.gpu.nvswitch) == ("H100-80GB", 8, True)
    assert inv.cluster("mgmt").hosts[0].gpu is None
    assert [h.name for h in inv.cluster("mgmt").members("etcd")] == ["e1", "e2", "e3"]


def test_device_without_primary_ip_is_named() -> None:
    bad = dataclasses.replace(device("w3"), primary_ip4=None)
    assert problems_of(site(device("w1"), bad)) == ["device w3: has no primary IPv4 address"]


def test_duplicate_address_names_both_devices() -> None:
    assert problems_of(site(device("w1", ip="10.0.1.5/24"), device("w2", ip="10.0.1.5/24"))) == [
        "device w2: primary address 10.0.1.5 is also the primary address of device w1"]


def test_unknown_gpu_model_lists_the_known_ones() -> None:
    assert problems_of(site(device("w1", gpu_model="RTX-4090"))) == [
        "device w1: unknown GPU model 'RTX-4090' (known: A100-40GB, A100-80GB, H100-80GB, H200-141GB)"]


def test_mig_layout_over_seven_compute_slices_is_refused() -> None:
    assert problems_of(site(device("w1", mig_layout={"3g.40gb": 2, "2g.20gb": 1}))) == [
        'device w1: MIG layout {"3g.40gb": 2, "2g.20gb": 1}: layout takes 8 compute slices; a H100-80GB has 7',
        'device w1: MIG layout {"3g.40gb": 2, "2g.20gb": 1}: layout takes 10 of a H100-80GB\'s 8 memory slices']


def test_mig_profile_the_model_lacks_is_refused() -> None:
    problems = problems_of(site(device("w1", gpu_model="A100-40GB", gpu_count=4, nvswitch=False,
                                       mig_layout={"1g.10gb": 7})))
    assert problems == ['device w1: MIG layout {"1g.10gb": 7}: A100-40GB has no MIG profile \'1g.10gb\' '
                        "(valid: 1g.5gb, 2g.10gb, 3g.20gb, 4g.20gb, 7g.40gb)"]


def test_mig_layout_as_json_string_is_accepted() -> None:
    inv = build(site(device("w1", mig_layout='{"1g.10gb": 7}')))
    gpu = inv.hosts[0].gpu
    assert gpu is not None
    assert gpu.mig_layout == {"1g.10gb": 7}


def test_mig_layout_that_is_not_json_is_named() -> None:
    assert problems_of(site(device("w1", mig_layout="7x1g"))) == [
        "device w1: mig_layout is not JSON (Extra data): '7x1g'"]


def test_even_etcd_member_count_is_refused() -> None:
    records = site(*(device(f"e{i}", "etcd", cluster="mgmt", ip=f"10.0.0.{i + 10}/24") for i in range(1, 5)))
    assert problems_of(records) == [
        "cluster mgmt: 4 etcd members (e1, e2, e3, e4); an even count adds no fault tolerance — use 3 or 5"]


def test_more_than_seven_etcd_members_is_refused() -> None:
    records = site(*(device(f"e{i}", "etcd", cluster="mgmt", ip=f"10.0.0.{i + 10}/24") for i in range(1, 10)))
    assert problems_of(records) == ["cluster mgmt: 9 etcd members; at most 7"]


def test_mixed_nic_mtus_in_a_cluster_name_the_odd_host() -> None:
    records = site(device("w1", ip="10.0.1.1/24"), device("w2", ip="10.0.1.2/24"),
                   device("w3", ip="10.0.1.3/24", mtu=1500))
    assert problems_of(records) == [
        "cluster c1: pod-traffic NIC MTUs differ: 2 hosts have MTU 9000, but w3 (ens1f0) has 1500"]


def test_mtus_may_differ_between_clusters() -> None:
    inv = build(site(device("w1", ip="10.0.1.1/24"), device("x1", cluster="c2", ip="10.0.2.1/24", mtu=1500)))
    assert [h.underlay_mtu for h in inv.hosts] == [9000, 1500]


def test_host_in_no_cluster_is_named() -> None:
    assert problems_of(site(device("w1", cluster=None))) == ["device w1: in no cluster (custom field cluster is empty)"]


def test_missing_custom_field_definition_is_named() -> None:
    records = site(device("w1"), custom_fields=frozenset({"cluster", "gpu_model", "gpu_count"}))
    assert problems_of(records) == [
        "NetBox has no custom field nvswitch, mig_layout on dcim.device "
        "(pyctl reads: cluster, gpu_model, gpu_count, nvswitch, mig_layout)"]


def test_gpu_worker_with_empty_gpu_fields_is_named() -> None:
    assert problems_of(site(device("w1", gpu_model=None, gpu_count=None))) == [
        "device w1: custom field gpu_model is empty (a gpu-worker must name its GPU model)",
        "device w1: custom field gpu_count is empty",
    ]


def test_gpu_count_must_be_positive() -> None:
    assert problems_of(site(device("w1", gpu_count=0))) == ["device w1: gpu_count must be a positive integer, got 0"]


def test_nvswitch_on_a_pcie_model_is_refused() -> None:
    assert problems_of(site(device("w1", gpu_model="A100-40GB", gpu_count=4, nvswitch=True))) == [
        "device w1: nvswitch is set but A100-40GB boards have no NVSwitch"]


def test_device_without_pod_traffic_nic_is_named() -> None:
    assert problems_of(site(device("w1", nics=()))) == [
        "device w1: no interface tagged 'pod-traffic' (the NIC that carries pod traffic)"]


def test_two_pod_traffic_nics_are_ambiguous() -> None:
    nics = (InterfaceRecord("ens1f0", 9000), InterfaceRecord("ens1f1", 9000))
    assert problems_of(site(device("w1", nics=nics))) == [
        "device w1: 2 interfaces tagged 'pod-traffic' (ens1f0, ens1f1); exactly one carries pod traffic"]


def test_pod_nic_without_mtu_is_named() -> None:
    assert problems_of(site(device("w1", mtu=None))) == ["device w1: interface ens1f0 has no MTU in NetBox"]


def test_unknown_role_is_named() -> None:
    assert problems_of(site(device("s1", "storage"))) == [
        "device s1: role 'storage' is not one pyctl manages (gpu-worker, control-plane, etcd, mgmt)"]


def test_workers_and_control_plane_in_one_cluster_break_nested_management() -> None:
    records = site(device("w1", ip="10.0.1.1/24"), device("cp1", "control-plane", ip="10.0.1.2/24"))
    assert problems_of(records) == [
        "cluster c1: mixes gpu-worker hosts with management hosts (cp1); hosted control planes run apart from "
        "the workers"]


def test_all_problems_are_listed_at_once_not_the_first_only() -> None:
    records = site(
        dataclasses.replace(device("a"), primary_ip4=None),
        device("b", gpu_model="X1"),
        device("c", cluster=None),
        *(device(f"e{i}", "etcd", cluster="mgmt", ip=f"10.0.0.{i + 10}/24") for i in range(1, 3)),
        custom_fields=frozenset({"cluster", "gpu_model", "gpu_count", "nvswitch"}),
    )
    problems = problems_of(records)
    assert len(problems) == 5
    assert [p.split(":")[0] for p in problems] == [
        "NetBox has no custom field mig_layout on dcim.device (pyctl reads", "device a", "device b", "device c",
        "cluster mgmt"]


def test_ansible_inventory_groups_and_hostvars() -> None:
    out = ansible_inventory(build(good_site()))
    assert out["role_gpu_worker"] == {"hosts": ["w1", "w2"]}
    assert out["role_etcd"] == {"hosts": ["e1", "e2", "e3"]}
    assert out["cluster_mgmt"] == {"hosts": ["cp1", "e1", "e2", "e3"]}
    assert out["site_dc9"]["hosts"] == ["cp1", "e1", "e2", "e3", "w1", "w2"]
    assert out["all"]["children"][0] == "ungrouped"
    w1 = out["_meta"]["hostvars"]["w1"]
    assert (w1["ansible_host"], w1["pyctl_underlay_mtu"], w1["pyctl_gpu_count"], w1["pyctl_cluster_kind"]) == (
        "10.0.1.11", 9000, 8, "workload")
    assert out["_meta"]["hostvars"]["cp1"]["pyctl_gpu_model"] is None


def test_prefixes_keep_their_site_for_cross_site_overlap_checks() -> None:
    prefixes = (PrefixRecord("10.9.0.0/16", "datacenter", None, None, "active", "dc9"),
                PrefixRecord("10.8.0.0/16", "datacenter", None, None, "active", "dc8"))
    inv = build(dataclasses.replace(good_site(), prefixes=prefixes))
    assert [p.prefix for p in inv.prefixes] == ["10.9.0.0/16", "10.8.0.0/16"]
    assert [p.prefix for p in inv.site_prefixes()] == ["10.9.0.0/16"]
