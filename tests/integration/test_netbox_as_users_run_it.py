"""NetBox as its users run it (issue 14): stock settings, complete reads at any page size, what a token
may see, lifecycle status, IPv6, bonds and VLANs, prefix scopes, and faults.

The test bed is a stock NetBox (MAX_PAGE_SIZE 1000). The one test that needs a smaller page size runs a
second server with MAX_PAGE_SIZE = 50 on purpose (``serve_with``): a server configured lower must still
be read completely.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pynetbox
import pytest

from pyctl.dev import netbox as bed_mod
from pyctl.dev import seed
from tests.integration.conftest import NetBoxBed, run_pyctl

pytestmark = pytest.mark.netbox
SCALE_DEVICES = 3000
FULL_VIEW = ["dcim.site", "dcim.device", "dcim.interface", "dcim.devicerole", "dcim.devicetype", "dcim.rack",
             "dcim.platform", "dcim.region", "dcim.sitegroup", "dcim.location", "ipam.prefix", "ipam.ipaddress",
             "ipam.vrf", "ipam.role", "extras.customfield", "extras.tag"]


def _hosts(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["name"]: h for c in doc["clusters"] for h in c["hosts"]}


@pytest.fixture
def scale(netbox_bed: NetBoxBed) -> Iterator[NetBoxBed]:
    """The demo world plus 3,000 devices with 34,800 interfaces in site ``scale`` (a cached dump)."""
    spec = {"dataset": seed.large(SCALE_DEVICES)}
    demo_token = netbox_bed.bed.token_file.read_text()
    dump = bed_mod.seed(netbox_bed.bed, spec, cache_key=bed_mod.spec_key(spec))
    assert dump is not None
    try:
        yield NetBoxBed(bed=netbox_bed.bed, dump=dump, url=netbox_bed.url,
                        token=netbox_bed.bed.token_file.read_text().strip())
    finally:
        netbox_bed.reset()
        netbox_bed.bed.token_file.write_text(demo_token)  # the demo dump's token, for the tests after these


def _assert_whole_scale_site(result: Any) -> None:
    assert result.code == 0, result.stderr
    doc = result.json()
    assert len(doc["clusters"]) == 4
    hosts = _hosts(doc)
    assert len(hosts) == SCALE_DEVICES
    assert all(h["underlay_mtu"] == 9000 and h["pod_address"] for h in hosts.values())


def test_3000_devices_are_read_completely_at_the_default_page_size(scale: NetBoxBed) -> None:
    result = run_pyctl("inventory", "scale", "--json", env=scale.env())
    _assert_whole_scale_site(result)
    assert result.stderr.startswith(f"{SCALE_DEVICES} hosts in 4 clusters, read in ")


def test_3000_devices_are_read_completely_from_a_server_paging_by_50(scale: NetBoxBed) -> None:
    with bed_mod.serve_with(scale.bed, {"MAX_PAGE_SIZE": 50}, http_port=scale.bed.http_port + 7) as url:
        result = run_pyctl("inventory", "scale", "--json", env=scale.env(NETBOX_URL=url))
        _assert_whole_scale_site(result)
        demo = run_pyctl("inventory", "dc2", "--json", env=scale.env(NETBOX_URL=url))
    assert demo.code == 0, demo.stderr
    assert len(_hosts(demo.json())) == 21


def _token(bed: NetBoxBed, username: str, permissions: list[dict[str, Any]], *, write: bool = False) -> str:
    result = bed_mod.load(bed.bed, {"users": [{"username": username, "permissions": permissions,
                                               "write_enabled": write}]})
    return str(result["tokens"][username])


def test_a_token_that_may_view_only_some_devices_is_caught_by_the_sites_device_count(
        netbox_bed: NetBoxBed, netbox_writer: Any) -> None:
    # GraphQL answers a constrained token with a consistent subset, not an error: the site's device_count
    # (an unrestricted count, dcim.api.serializers_.sites) is what tells a partial read.
    others = [t for t in FULL_VIEW if t != "dcim.device"]
    token = _token(netbox_bed, "partial", [
        {"object_types": others, "actions": ["view"]},
        {"object_types": ["dcim.device"], "actions": ["view"], "constraints": {"name__startswith": "dc2-inference-a"}},
    ])
    result = run_pyctl("inventory", "dc2", "--json", env={**netbox_bed.env(), "NETBOX_TOKEN_FILE": "",
                                                          "NETBOX_TOKEN": token})
    assert result.code == 3
    assert result.json()["error"] == (
        "NetBox returned 8 of the 21 devices of site dc2: the token may not view them all (dcim.view_device "
        "constrained), or they changed during the read; nothing was used (run again)")
    assert token not in result.stdout + result.stderr


def test_a_token_without_view_permission_is_named_not_read_as_an_empty_site(netbox_bed: NetBoxBed) -> None:
    token = _token(netbox_bed, "sites-only", [{"object_types": ["dcim.site"], "actions": ["view"]}])
    result = run_pyctl("inventory", "dc2", env={**netbox_bed.env(), "NETBOX_TOKEN_FILE": "", "NETBOX_TOKEN": token})
    assert result.code == 3
    assert result.stdout == ""
    denied = "NetBox answered 403 (You do not have permission to perform this action.); its user needs the view " \
             "permission"
    assert result.stderr.splitlines() == [
        "pyctl: error: the NetBox token may not read 7 kinds of object pyctl reads; its user needs view permission "
        'on each (README, "NetBox permissions")',
        *(f'  - the NetBox token may not read {what}: {denied} {perm} (README, "NetBox permissions")'
          for what, perm in (
              ("the custom fields", "extras.view_customfield"), ("the IP addresses", "ipam.view_ipaddress"),
              ("the device roles", "dcim.view_devicerole"), ("the device types", "dcim.view_devicetype"),
              ("the racks", "dcim.view_rack"), ("the platforms", "dcim.view_platform"),
              ("the VRFs", "ipam.view_vrf"))),
    ]


def test_a_read_only_token_serves_every_verb_that_only_reads(netbox_bed: NetBoxBed, tmp_path: Path) -> None:
    token = _token(netbox_bed, "reader", [{"object_types": FULL_VIEW, "actions": ["view"]}])
    env = {**netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path)), "NETBOX_TOKEN_FILE": "", "NETBOX_TOKEN": token}
    for verb in (["inventory", "dc2"], ["plan", "dc2"], ["rollout", "dc2", "--dry-run"], ["artifacts", "dc2"],
                 ["tco", "dc2"]):
        result = run_pyctl(*verb, "--json", env=env)
        assert result.code == 0, (verb, result.stderr)


def test_lifecycle_status_decides_what_is_touched(netbox_bed: NetBoxBed, netbox_writer: Any, tmp_path: Path) -> None:
    dev = {d.name: d for d in netbox_writer.dcim.devices.filter(site="dc2")}
    dev["dc2-inference-a-gpu-07"].update({"status": "offline"})
    dev["dc2-inference-a-gpu-08"].update({"status": "planned"})
    dev["dc2-inference-b-gpu-06"].update({"status": "decommissioning"})
    dev["dc2-etcd-03"].update({"status": "offline"})
    env = netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path))
    result = run_pyctl("inventory", "dc2", "--json", env=env)
    assert result.code == 0, result.stderr
    doc = result.json()
    assert {s["name"]: (s["status"], s["reason"]) for s in doc["skipped"]} == {
        "dc2-etcd-03": ("offline", "NetBox status offline: never touched"),
        "dc2-inference-a-gpu-07": ("offline", "NetBox status offline: never touched"),
        "dc2-inference-a-gpu-08": ("planned", "NetBox status planned: brought up only with --include-planned"),
        "dc2-inference-b-gpu-06": ("decommissioning", "NetBox status decommissioning: never touched"),
    }
    mgmt = next(c for c in doc["clusters"] if c["name"] == "dc2-mgmt")
    assert mgmt["down_etcd_members"] == ["dc2-etcd-03"]  # still a member: 3 members, quorum 2
    assert "pyctl: not touched: dc2-inference-a-gpu-07 (gpu-worker, offline): NetBox status offline: never touched" \
        in result.stderr
    assert "pyctl: cluster dc2-mgmt: etcd member(s) dc2-etcd-03 down in NetBox: still members, counted for quorum" \
        in result.stderr

    dry = run_pyctl("rollout", "dc2", "--dry-run", "--json", env=env)
    assert dry.code == 0, dry.stderr
    state = dry.json()
    batched = {h for ph in state["phases"] for b in ph["batches"] for h in b["hosts"]}
    assert batched.isdisjoint({"dc2-etcd-03", "dc2-inference-a-gpu-07", "dc2-inference-a-gpu-08",
                               "dc2-inference-b-gpu-06"})
    assert len(batched) == 17
    assert sorted(s["name"] for s in state["not_touched"]) == sorted(s["name"] for s in doc["skipped"])

    brought_up = run_pyctl("inventory", "dc2", "--json", "--include-planned", env=env).json()
    assert "dc2-inference-a-gpu-08" in _hosts(brought_up)


def test_a_site_with_nothing_to_manage_is_an_error_for_rollout_and_reapply(netbox_bed: NetBoxBed,
                                                                           tmp_path: Path) -> None:
    env = netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path))
    for verb in (["rollout", "lab", "--dry-run"], ["reapply", "lab", "--drifted", "--dry-run"]):
        result = run_pyctl(*verb, env=env)
        assert result.code == 3, result.stderr
        assert result.stderr == f"pyctl: error: {verb[0]} lab: NetBox site lab has no host pyctl manages " \
                                "(it has no devices)\n"
    assert not any(tmp_path.iterdir())


def _move_pod_traffic(api: Any, device: str, to: Any, address: str) -> None:
    """Move the pod-traffic tag and the pod address from ens1f0 to interface ``to``."""
    old = api.dcim.interfaces.get(device=device, name="ens1f0")
    old.update({"tags": []})
    to.update({"tags": [{"slug": "pod-traffic"}]})
    ip = api.ipam.ip_addresses.get(address=address)
    ip.update({"assigned_object_type": "dcim.interface", "assigned_object_id": to.id})


def test_bonds_and_vlan_interfaces_carry_pod_traffic_within_their_members_mtu(netbox_bed: NetBoxBed,
                                                                               netbox_writer: Any) -> None:
    api = netbox_writer
    gpu1 = api.dcim.devices.get(name="dc2-inference-a-gpu-01")
    bond = api.dcim.interfaces.create(device=gpu1.id, name="bond0", type="lag", mtu=9000)
    for name, mtu in (("ens1f0", 9000), ("ens1f1", 1500)):
        api.dcim.interfaces.get(device=gpu1.name, name=name).update({"lag": bond.id, "mtu": mtu})
    _move_pod_traffic(api, gpu1.name, bond, "10.20.4.11/22")
    gpu2 = api.dcim.devices.get(name="dc2-inference-a-gpu-02")
    eno1 = api.dcim.interfaces.get(device=gpu2.name, name="eno1")
    eno1.update({"mtu": 9000})
    vlan = api.dcim.interfaces.create(device=gpu2.id, name="eno1.100", type="virtual", mtu=9000, parent=eno1.id)
    _move_pod_traffic(api, gpu2.name, vlan, "10.20.4.12/22")

    result = run_pyctl("inventory", "dc2", "--json", env=netbox_bed.env())
    assert result.code == 3
    assert result.json()["problems"] == [
        "device dc2-inference-a-gpu-01: bond0 has MTU 9000, but its bond bond0 member ens1f1 has MTU 1500: bond0's "
        "MTU must fit under it"]
    api.dcim.interfaces.get(device=gpu1.name, name="ens1f1").update({"mtu": 9000})
    doc = run_pyctl("inventory", "dc2", "--json", env=netbox_bed.env()).json()
    hosts = _hosts(doc)
    assert (hosts["dc2-inference-a-gpu-01"]["underlay_nic"], hosts["dc2-inference-a-gpu-01"]["underlay_type"]) == \
        ("bond0", "lag")
    assert (hosts["dc2-inference-a-gpu-02"]["underlay_nic"], hosts["dc2-inference-a-gpu-02"]["pod_address"]) == \
        ("eno1.100", "10.20.4.12")


def test_an_ipv6_only_host_and_a_name_that_is_no_host_name(netbox_bed: NetBoxBed, netbox_writer: Any) -> None:
    api = netbox_writer
    gpu3 = api.dcim.devices.get(name="dc2-inference-a-gpu-03")
    nic = api.dcim.interfaces.get(device=gpu3.name, name="ens1f0")
    v6 = api.ipam.ip_addresses.create(address="2001:db8:20::13/64", assigned_object_type="dcim.interface",
                                      assigned_object_id=nic.id)
    gpu3.update({"primary_ip4": None, "primary_ip6": v6.id})
    api.ipam.ip_addresses.get(address="10.20.4.13/22").delete()
    doc = run_pyctl("inventory", "dc2", "--json", env=netbox_bed.env()).json()
    host = _hosts(doc)["dc2-inference-a-gpu-03"]
    assert (host["address"], host["primary_ip4"], host["pod_address"]) == ("2001:db8:20::13", None,
                                                                          "2001:db8:20::13")
    api.dcim.devices.get(name="dc2-inference-a-gpu-04").update({"name": "GPU 04 Zürich"})
    result = run_pyctl("inventory", "dc2", "--json", env=netbox_bed.env())
    assert result.code == 3
    assert result.json()["problems"] == [
        "device 'GPU 04 Zürich': 'GPU 04 Zürich' is not a valid host name (lower-case letters, digits, '-' and '.', "
        "as DNS, Ansible and Kubernetes node names allow); rename the device in NetBox"]


def test_gpu_count_above_the_device_types_capacity_is_named(netbox_bed: NetBoxBed, netbox_writer: Any) -> None:
    netbox_writer.dcim.devices.get(name="dc2-inference-b-gpu-02").update({"custom_fields": {"gpu_count": 8}})
    result = run_pyctl("inventory", "dc2", "--json", env=netbox_bed.env())
    assert result.code == 3
    assert result.json()["problems"] == [
        "device dc2-inference-b-gpu-02: gpu_count 8 is more than its device type r750xa-a100-4gpu holds "
        "(gpu_capacity 4)"]


def test_prefixes_scoped_to_a_region_or_location_belong_to_the_sites_under_them(
        netbox_bed: NetBoxBed, netbox_writer: Any, tmp_path: Path) -> None:
    api = netbox_writer
    emea = api.dcim.regions.create(name="EMEA", slug="emea")
    de = api.dcim.regions.create(name="Germany", slug="de", parent=emea.id)
    api.dcim.sites.get(slug="dc2").update({"region": de.id})
    role = api.ipam.roles.get(slug="pod-network")
    # A second pod pool for dc2-inference-a, scoped to the region above dc2's: it is dc2's.
    api.ipam.prefixes.create(prefix="10.220.0.0/16", role=role.id, scope_type="dcim.region", scope_id=emea.id,
                             custom_fields={"cluster": "dc2-inference-a"})
    hall = api.dcim.locations.create(name="Hall 1", slug="hall-1", site=api.dcim.sites.get(slug="dc1").id)
    api.ipam.prefixes.create(prefix="10.221.0.0/16", role=role.id, scope_type="dcim.location", scope_id=hall.id,
                             custom_fields={"cluster": "dc1-inference"})
    env = netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path))
    dc2 = run_pyctl("plan", "dc2", "--json", env=env)
    assert dc2.code == 3
    assert any(v.startswith("cluster dc2-inference-a: 2 pod-network prefixes for ipv4 in NetBox")
               and "10.220.0.0/16" in v for v in dc2.json()["violations"]), dc2.json()["violations"]
    dc1 = run_pyctl("plan", "dc1", "--json", env=env)
    assert dc1.code == 3
    assert any(v.startswith("cluster dc1-inference: 2 pod-network prefixes for ipv4 in NetBox")
               and "10.221.0.0/16" in v for v in dc1.json()["violations"]), dc1.json()["violations"]
    dc3 = run_pyctl("plan", "dc3", "--json", env=env)
    assert dc3.code == 0, dc3.json()["violations"]


def test_another_sites_overlap_warns_here_and_stops_only_that_site(netbox_bed: NetBoxBed, netbox_writer: Any,
                                                                   tmp_path: Path) -> None:
    api = netbox_writer
    dc1 = api.dcim.sites.get(slug="dc1").id
    pod = api.ipam.roles.get(slug="pod-network").id
    svc = api.ipam.roles.get(slug="service-network").id
    api.ipam.prefixes.create(prefix="10.250.0.0/16", role=pod, scope_type="dcim.site", scope_id=dc1,
                             custom_fields={"cluster": "dc1-x"})
    api.ipam.prefixes.create(prefix="10.250.16.0/20", role=svc, scope_type="dcim.site", scope_id=dc1,
                             custom_fields={"cluster": "dc1-y"})
    env = netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path))
    dc2 = run_pyctl("plan", "dc2", "--json", env=env)
    assert dc2.code == 0, dc2.json()["violations"]
    clash = ("prefixes: dc1 prefix 10.250.0.0/16 (pod-network, cluster dc1-x) overlaps dc1 prefix 10.250.16.0/20 "
             "(service-network, cluster dc1-y) in VRF global")
    assert f"{clash} (no prefix of this site: that site's to fix)" in dc2.json()["warnings"]
    dc1_plan = run_pyctl("plan", "dc1", "--json", env=env)
    assert dc1_plan.code == 3
    assert clash in dc1_plan.json()["violations"]


def test_exclude_invalid_goes_on_without_the_bad_host_and_names_it(netbox_bed: NetBoxBed, netbox_writer: Any) -> None:
    netbox_writer.dcim.devices.get(name="dc2-inference-a-gpu-05").update({"custom_fields": {"cluster": None}})
    strict = run_pyctl("inventory", "dc2", "--json", env=netbox_bed.env())
    assert strict.code == 3
    result = run_pyctl("inventory", "dc2", "--json", "--exclude-invalid", env=netbox_bed.env())
    assert result.code == 0, result.stderr
    doc = result.json()
    assert "dc2-inference-a-gpu-05" not in _hosts(doc)
    assert doc["excluded"] == [{"name": "dc2-inference-a-gpu-05", "status": "active", "role": "gpu-worker",
                                "cluster": None,
                                "reason": "device dc2-inference-a-gpu-05: in no cluster (custom field cluster is "
                                          "empty)"}]


def test_a_netbox_restart_is_outlasted_by_the_retries(netbox_bed: NetBoxBed) -> None:
    bed_mod.stop_gunicorn(netbox_bed.bed)
    restarted = threading.Timer(3.0, bed_mod.start_gunicorn, args=(netbox_bed.bed,))
    restarted.start()
    started = time.monotonic()
    try:
        result = run_pyctl("inventory", "dc2", env=netbox_bed.env())
    finally:
        restarted.join()
    assert result.code == 0, result.stderr
    assert time.monotonic() - started >= 3.0
    assert pynetbox.api(netbox_bed.url, token=netbox_bed.token).dcim.sites.count() == 4
