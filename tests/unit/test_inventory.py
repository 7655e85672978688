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
    address = ip if ip is not None else _next_address()
    return DeviceRecord(
        name=name, role=role, device_type="hgx-h100-8gpu", rack="r01", platform="ubuntu-2204", status="active",
        primary_ip4=address,
        custom_fields=fields,
        pod_interfaces=nics if nics is not None else (InterfaceRecord("ens1f0", mtu, addresses=(address,) if address
                                                                      else ()),),
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
    assert problems_of(site(device("w1"), bad)) == [
        "device w3: has no primary IP address (neither primary_ip4 nor primary_ip6)"]


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


# --- lifecycle status, addresses, NIC topologies, GPU capacity, partial sites (issue 14) ---------------

def test_status_decides_what_is_managed_and_every_skip_is_listed() -> None:
    recs = site(device("w1", ip="10.0.1.11/24"), dataclasses.replace(device("w2"), status="offline"),
                dataclasses.replace(device("w3"), status="planned"), dataclasses.replace(device("w4"), status="failed"),
                dataclasses.replace(device("w5"), status="decommissioning"),
                dataclasses.replace(device("w6"), status="inventory"),
                dataclasses.replace(device("w7"), status="staged"))
    inv = build(recs)
    assert [h.name for h in inv.hosts] == ["w1"]
    assert {s.name: s.reason for s in inv.skipped} == {
        "w2": "NetBox status offline: never touched",
        "w3": "NetBox status planned: brought up only with --include-planned",
        "w4": "NetBox status failed: never touched",
        "w5": "NetBox status decommissioning: never touched",
        "w6": "NetBox status inventory: never touched",
        "w7": "NetBox status staged: brought up only with --include-planned",
    }
    brought_up = build(recs, include_planned=True)
    assert [h.name for h in brought_up.hosts] == ["w1", "w3", "w7"]
    assert [s.name for s in brought_up.skipped] == ["w2", "w4", "w5", "w6"]


def test_a_skipped_device_is_not_validated() -> None:
    broken = dataclasses.replace(device("w2", cluster=None), status="offline", primary_ip4=None, pod_interfaces=())
    inv = build(site(device("w1"), broken))
    assert [s.name for s in inv.skipped] == ["w2"]


def test_an_offline_etcd_member_still_counts_for_quorum_and_is_named_down() -> None:
    members = [device(f"e{i}", "etcd", cluster="mgmt") for i in (1, 2, 3)]
    down = dataclasses.replace(members[2], status="offline")
    inv = build(site(members[0], members[1], down))
    mgmt = inv.cluster("mgmt")
    assert [h.name for h in mgmt.hosts] == ["e1", "e2"]
    assert mgmt.down_etcd == ("e3",)
    # Without it, two members would be an even count; with a fourth member down, the count is even.
    fourth = dataclasses.replace(device("e4", "etcd", cluster="mgmt"), status="failed")
    assert problems_of(site(members[0], members[1], down, fourth)) == [
        "cluster mgmt: 4 etcd members (e1, e2, e3 (down), e4 (down)); an even count adds no fault tolerance — "
        "use 3 or 5"]
    # A spare in stock (status inventory) is no member.
    spare = dataclasses.replace(device("e4", "etcd", cluster="mgmt"), status="inventory")
    assert build(site(*members, spare)).cluster("mgmt").down_etcd == ()


def test_ipv6_only_host_is_reached_on_its_primary_ipv6() -> None:
    v6 = DeviceRecord(name="w6", role="gpu-worker", device_type="hgx-h100-8gpu", rack="r01", platform="debian-12",
                      status="active", primary_ip4=None, primary_ip6="2001:db8::16/64",
                      custom_fields={"cluster": "c1", "gpu_model": "H100-80GB", "gpu_count": 8, "nvswitch": True},
                      pod_interfaces=(InterfaceRecord("ens1f0", 9000, addresses=("2001:db8::16/64",)),))
    (host,) = build(site(v6)).hosts
    assert (host.address, host.address_cidr, host.pod_address) == ("2001:db8::16", "2001:db8::16/64", "2001:db8::16")
    assert host.ip_families == ("ipv6",)
    assert ansible_inventory(build(site(v6)))["_meta"]["hostvars"]["w6"]["ansible_host"] == "2001:db8::16"


def test_pod_address_is_the_pod_nics_own_and_may_differ_from_the_primary_ip() -> None:
    nic = InterfaceRecord("eth1", 9000, addresses=("2001:db8:1::11/64", "10.1.0.11/24"))
    (host,) = build(site(device("w1", ip="10.0.0.11/24", nics=(nic,)))).hosts
    assert host.address == "10.0.0.11"
    assert host.pod_address == "10.1.0.11"
    assert host.pod_addresses == ("10.1.0.11/24", "2001:db8:1::11/64")
    assert host.ip_families == ("ipv4", "ipv6")
    hostvars = ansible_inventory(build(site(device("w1", ip="10.0.0.11/24", nics=(nic,)))))["_meta"]["hostvars"]["w1"]
    assert (hostvars["ansible_host"], hostvars["pyctl_pod_address"]) == ("10.0.0.11", "10.1.0.11")


def test_a_pod_nic_without_an_address_is_named() -> None:
    assert problems_of(site(device("w1", nics=(InterfaceRecord("ens1f0", 9000),)))) == [
        "device w1: interface ens1f0 (pod-traffic) has no IP address in NetBox (the address that carries pod traffic)"]


@pytest.mark.parametrize("name", ["gpu 01", "gpü-01", "GPU-01", "-gpu", "a" * 64])
def test_a_name_that_is_no_host_name_is_named(name: str) -> None:
    (problem,) = problems_of(site(device(name)))
    assert problem == (f"device {name!r}: {name!r} is not a valid host name (lower-case letters, digits, '-' and '.', "
                       "as DNS, Ansible and Kubernetes node names allow); rename the device in NetBox")


def test_an_unnamed_device_is_named_by_its_id() -> None:
    assert problems_of(site(dataclasses.replace(device(""), id=42))) == [
        "unnamed device (NetBox id 42): has no name; pyctl needs one as its host name"]


def _bond(mtu: int, *members: int | None) -> InterfaceRecord:
    return InterfaceRecord("bond0", mtu, type="lag", addresses=("10.0.1.11/24",),
                           members=tuple(InterfaceRecord(f"ens{i}f0", m) for i, m in enumerate(members, 1)))


def test_a_bond_must_fit_under_every_member() -> None:
    assert build(site(device("w1", nics=(_bond(9000, 9000, 9000),)))).hosts[0].underlay_type == "lag"
    assert problems_of(site(device("w1", nics=(_bond(9000, 9000, 1500),)))) == [
        "device w1: bond0 has MTU 9000, but its bond bond0 member ens2f0 has MTU 1500: bond0's MTU must fit under it"]
    assert problems_of(site(device("w1", nics=(_bond(9000),)))) == [
        "device w1: bond bond0 has no member interfaces in NetBox (set `lag` on its members)"]


def test_a_vlan_interface_must_fit_under_its_parent_and_the_parents_members() -> None:
    parent = _bond(9000, 9000, 8000)
    vlan = InterfaceRecord("bond0.100", 9000, type="virtual", addresses=("10.0.1.11/24",),
                           parent=dataclasses.replace(parent, addresses=()))
    assert problems_of(site(device("w1", nics=(vlan,)))) == [
        "device w1: bond0.100 has MTU 9000, but its parent bond0's bond member ens2f0 has MTU 8000: bond0.100's MTU "
        "must fit under it"]
    low_parent = InterfaceRecord("bond0.100", 9000, addresses=("10.0.1.11/24",), parent=InterfaceRecord("eno1", 1500))
    inv = build(site(device("w1", nics=(low_parent,))), mtu_mismatch="finding")
    assert inv.findings == ("device w1: bond0.100 has MTU 9000, but its parent eno1 has MTU 1500: bond0.100's MTU "
                            "must fit under it",)


def test_gpu_count_above_the_device_types_capacity_is_named() -> None:
    over = dataclasses.replace(device("w1", gpu_count=8), gpu_capacity=4)
    assert problems_of(site(over)) == [
        "device w1: gpu_count 8 is more than its device type hgx-h100-8gpu holds (gpu_capacity 4)"]
    assert build(site(dataclasses.replace(device("w1", gpu_count=8), gpu_capacity=8))).hosts[0].gpu is not None


def test_exclude_invalid_goes_on_with_the_sound_hosts_and_lists_the_rest() -> None:
    recs = site(device("w1"), device("w2", cluster=None), device("w3", gpu_model="B300"),
                device("e1", "etcd", cluster="mgmt"), device("e2", "etcd", cluster="mgmt"))
    with pytest.raises(InventoryError):
        build(recs)
    inv = build(recs, exclude_invalid=True)
    assert [h.name for h in inv.hosts] == ["w1"]
    reasons = {s.name: s.reason for s in inv.excluded}
    assert reasons["w2"] == "device w2: in no cluster (custom field cluster is empty)"
    assert reasons["w3"].startswith("device w3: unknown GPU model 'B300'")
    # A cluster whose cluster rule breaks goes whole: each of its hosts is listed with that rule.
    assert reasons["e1"] == reasons["e2"] == ("cluster mgmt: 2 etcd members (e1, e2); an even count adds no fault "
                                              "tolerance — use 3 or 5")
    assert [s.name for s in inv.not_touched()] == ["e1", "e2", "w2", "w3"]


def test_exclude_invalid_still_stops_on_a_problem_of_netbox_itself() -> None:
    with pytest.raises(InventoryError) as err:
        build(site(device("w1"), custom_fields=frozenset({"cluster"})), exclude_invalid=True)
    assert err.value.problems[0].startswith("NetBox has no custom field gpu_model, gpu_count, nvswitch, mig_layout")
