"""compute_plan over whole data centers: every rule applied per cluster, and the plan's three outputs
(text, JSON, group_vars). The rule behind each assertion is named in its test."""

from __future__ import annotations

import json

import pytest

from pyctl.inventory import Cluster, Inventory, Prefix
from pyctl.plan import PlanSettings, compute_plan, group_vars, load_settings, render_text
from pyctl.plan.control_plane import apiserver_sizing, unit_resources
from pyctl.plan.etcd import GIB


def test_consistent_dc_has_no_violations(dc2):
    plan = compute_plan(dc2)
    assert plan.violations == []
    assert plan.ok


def test_group_vars_carry_role_prefixed_variables_per_cluster_group(dc2):
    gv = group_vars(compute_plan(dc2))
    assert set(gv) == {"cluster_gpu_a", "cluster_mgmt"}
    a = gv["cluster_gpu_a"]
    # Calico MTU docs: 9000 - 50 (VXLAN); pool and service range from NetBox.
    assert (a["calico_veth_mtu"], a["calico_tunnel_mtu"], a["calico_underlay_mtu"]) == (8950, 8950, 9000)
    assert (a["calico_ipv4pool_cidr"], a["calico_block_size"]) == ("10.100.0.0/16", 26)
    assert a["calico_felix_encapsulation"] == {"ipipEnabled": False, "vxlanEnabled": True, "wireguardEnabled": False,
                                               "wireguardEnabledV6": False}
    assert a["control_plane_service_cidrs"] == ["10.101.0.0/16"]
    assert a["control_plane_apiserver_hosts"] == ["mgmt-cp1", "mgmt-cp2", "mgmt-cp3"]
    assert a["control_plane_etcd_servers"] == ["https://10.2.0.11:2379", "https://10.2.0.12:2379",
                                               "https://10.2.0.13:2379"]
    m = gv["cluster_mgmt"]
    # etcd defaults on a LAN: heartbeat 100, election 1000, quota 2 GiB, snapshot 10000 (Kamaji/HyperShift).
    assert (m["etcd_heartbeat_interval_ms"], m["etcd_election_timeout_ms"]) == (100, 1000)
    assert (m["etcd_quota_backend_bytes"], m["etcd_snapshot_count"]) == (2 * GIB, 10000)
    assert [t["name"] for t in m["control_plane_tenants"]] == ["gpu-a"]


def test_every_value_has_a_reason_and_a_source_and_the_plan_is_json(dc2):
    d = compute_plan(dc2).to_dict()
    json.dumps(d)
    values = [v for c in d["clusters"] for s in c["sections"].values() for v in s.values()]
    assert values
    assert all(v["reason"] and v["source"] and "\n" not in v["reason"] for v in values)
    assert set(d) == {"site", "ok", "violations", "warnings", "findings", "settings", "clusters"}


def test_text_plan_is_grouped_by_cluster_and_lists_violations(kit):
    inv = kit.inventory({"mgmt": kit.management(etcd=4), "gpu-a": kit.workers("gpu-a", 4)})
    text = render_text(compute_plan(inv))
    assert "cluster gpu-a (workload, 4 hosts; Ansible group cluster_gpu_a)" in text
    assert "cluster mgmt (management, 7 hosts; Ansible group cluster_mgmt)" in text
    assert "9000 - 50 (vxlan/ipv4); with several in use the smallest wins  [Calico docs: networking/configuring/mtu]" \
        in text
    assert "Violations (pyctl plan exits 3):\n  1. cluster mgmt: 4 etcd members" in text
    assert text.endswith("Plan has 1 violation(s).\n")


def test_node_with_a_smaller_nic_mtu_is_a_finding_and_sets_the_underlay(kit):
    # Calico MTU: the underlay is the smallest MTU; an odd node is a finding, not averaged away.
    nodes = kit.workers("gpu-a", 3)
    nodes[2] = kit.host("gpu-a-w0002", "gpu-a", "gpu-worker", "10.2.1.3", mtu=1500)
    plan = compute_plan(kit.inventory({"mgmt": kit.management(), "gpu-a": nodes}))
    assert plan.cluster("gpu-a").get("mtu", "veth_mtu") == 1450
    assert plan.findings == ["cluster gpu-a: node gpu-a-w0002: pod-traffic NIC MTU 1500 differs from its peers' 9000 "
                             "(2 nodes); the overlay uses the smallest, 1500"]


def test_mixed_encapsulations_dual_stack_take_the_smallest_mtu(kit):
    prefixes = (*kit.DEFAULT_PREFIXES,
                Prefix("fd00:2::/48", "datacenter", "prod", None, "container", "dc2"),
                Prefix("fd00:2:100::/104", "pod-network", "prod", "gpu-a", "active", "dc2"),
                Prefix("fd00:2:101::/108", "service-network", "prod", "gpu-a", "active", "dc2"))
    settings = load_settings({"pyctl_plan": {"encapsulations": ["vxlan", "wireguard"], "ip_family": "dual"}})
    plan = compute_plan(kit.inventory({"mgmt": kit.management(), "gpu-a": kit.workers("gpu-a", 4)}, prefixes), settings)
    gv = group_vars(plan)["cluster_gpu_a"]
    # WireGuard over IPv6 (80) is the largest overhead in use: 9000 - 80.
    assert gv["calico_veth_mtu"] == 8920
    assert gv["calico_ipv6pool_cidr"] == "fd00:2:100::/104"
    assert gv["calico_ipv6_block_size"] == 122
    assert gv["control_plane_service_cidrs"] == ["10.101.0.0/16", "fd00:2:101::/108"]
    assert gv["calico_felix_encapsulation"]["wireguardEnabledV6"] is True
    # The management cluster runs no pod network (control planes are systemd services): no pool.
    assert "calico_ipv6pool_cidr" not in group_vars(plan)["cluster_mgmt"]


def test_overlapping_pod_pools_of_two_clusters_in_one_vrf_are_a_violation(kit):
    prefixes = (*kit.DEFAULT_PREFIXES, Prefix("10.100.128.0/17", "pod-network", "prod", "gpu-b", "active", "dc2"))
    inv = kit.inventory({"mgmt": kit.management(), "gpu-a": kit.workers("gpu-a", 4),
                         "gpu-b": kit.workers("gpu-b", 4, base="10.2.2")}, prefixes)
    plan = compute_plan(inv)
    assert ("prefixes: dc2 prefix 10.100.0.0/16 (pod-network, cluster gpu-a) overlaps dc2 prefix 10.100.128.0/17 "
            "(pod-network, cluster gpu-b) in VRF prod") in plan.violations


def test_pod_pool_overlapping_another_sites_prefix_in_the_same_vrf_is_a_violation(kit):
    prefixes = (*kit.DEFAULT_PREFIXES, Prefix("10.101.64.0/18", "pod-network", "prod", "gpu-x", "active", "dc1"))
    plan = compute_plan(kit.inventory({"mgmt": kit.management(), "gpu-a": kit.workers("gpu-a", 4)}, prefixes))
    assert plan.violations == ["prefixes: dc2 prefix 10.101.0.0/16 (service-network, cluster gpu-a) overlaps dc1 "
                               "prefix 10.101.64.0/18 (pod-network, cluster gpu-x) in VRF prod"]


def test_the_same_prefix_at_another_site_in_another_vrf_is_fine(kit):
    prefixes = (*kit.DEFAULT_PREFIXES, Prefix("10.101.0.0/16", "pod-network", "dc1-prod", "gpu-x", "active", "dc1"))
    inv = kit.inventory({"mgmt": kit.management(), "gpu-a": kit.workers("gpu-a", 4)}, prefixes)
    assert compute_plan(inv).violations == []


def test_another_sites_prefixes_never_serve_a_cluster_of_the_same_name(kit):
    # Every DC has a "mgmt": dc1's pod-network prefix for its "mgmt" is not dc2's, but it still may not overlap.
    prefixes = (*kit.DEFAULT_PREFIXES, Prefix("10.1.0.0/16", "pod-network", "dc1-prod", "gpu-a", "active", "dc1"))
    plan = compute_plan(kit.inventory({"mgmt": kit.management(), "gpu-a": kit.workers("gpu-a", 4)}, prefixes))
    assert plan.violations == []
    assert plan.cluster("gpu-a").get("ipam_ipv4", "pool") == "10.100.0.0/16"


def test_pod_pool_over_the_node_network_is_a_violation(kit):
    prefixes = [p for p in kit.DEFAULT_PREFIXES if p.cluster != "gpu-a" or p.role == "service-network"]
    prefixes.append(Prefix("10.2.0.0/16", "pod-network", "prod", "gpu-a", "active", "dc2"))
    plan = compute_plan(kit.inventory({"mgmt": kit.management(), "gpu-a": kit.workers("gpu-a", 4)}, prefixes))
    assert ("prefixes: dc2 prefix 10.2.0.0/24 (node-network, cluster mgmt) overlaps dc2 prefix 10.2.0.0/16 "
            "(pod-network, cluster gpu-a) in VRF prod") in plan.violations
    # gpu-a has no node-network prefix any more: its hosts' own subnet is checked instead.
    assert ("prefixes: dc2 prefix 10.2.0.0/16 (pod-network, cluster gpu-a) overlaps dc2 node subnet 10.2.1.0/24 "
            "(hosts of cluster gpu-a) in VRF prod") in plan.violations


def test_missing_pod_and_service_prefixes_are_proposed_from_the_datacenter_prefix(kit):
    prefixes = [Prefix("10.0.0.0/8", "datacenter", "prod", None, "container", "dc2"),
                Prefix("10.0.0.0/16", "node-network", "prod", None, "active", "dc2"),
                Prefix("10.2.0.0/16", "node-network", "prod", None, "active", "dc2")]
    plan = compute_plan(kit.inventory({"mgmt": kit.management(), "gpu-a": kit.workers("gpu-a", 4)}, prefixes))
    assert plan.violations == []
    gv = group_vars(plan)
    # 4 nodes x growth 2 = 8 nodes x 2 blocks of /26 = 16 blocks → /22.
    assert gv["cluster_gpu_a"]["calico_ipv4pool_cidr"] == "10.1.0.0/22"
    # A /20 service range: the first free one after the pool and the node networks.
    assert gv["cluster_gpu_a"]["control_plane_service_cidrs"] == ["10.1.16.0/20"]
    # Management clusters get no pod pool or service range: they run no pod network.
    assert "calico_ipv4pool_cidr" not in gv["cluster_mgmt"]
    assert plan.findings[0] == ("cluster gpu-a: no pod-network prefix for ipv4 in NetBox; proposing 10.1.0.0/22 (free "
                                "in 10.0.0.0/8); create it in NetBox with role pod-network and cluster gpu-a")
    assert plan.cluster("gpu-a").sections["ipam_ipv4"]["pool"].reason.startswith("PROPOSED: free /22 in 10.0.0.0/8")


def test_missing_prefixes_without_a_datacenter_prefix_are_violations(kit):
    plan = compute_plan(kit.inventory({"mgmt": kit.management(), "gpu-a": kit.workers("gpu-a", 4)}, []))
    assert "cluster gpu-a: no pod-network prefix for ipv4 in NetBox, and no datacenter prefix for ipv4 in NetBox to " \
           "propose one from" in plan.violations


def test_block_size_different_from_the_deployed_one_is_a_violation(dc2):
    settings = load_settings({"pyctl_plan": {"clusters": {"gpu-a": {"block_size": 24, "deployed_block_size": 26}}}})
    plan = compute_plan(dc2, settings)
    assert plan.violations == ["cluster gpu-a: ipv4 block size /24 differs from the deployed /26; Calico cannot "
                               "change the block size of a pool in place (only by migrating to a temporary pool), so "
                               "keep /26"]


def test_two_pod_prefixes_for_one_family_are_a_violation(kit):
    prefixes = (*kit.DEFAULT_PREFIXES, Prefix("10.120.0.0/16", "pod-network", "prod", "gpu-a", "active", "dc2"))
    plan = compute_plan(kit.inventory({"mgmt": kit.management(), "gpu-a": kit.workers("gpu-a", 4)}, prefixes))
    assert plan.violations == ["cluster gpu-a: 2 pod-network prefixes for ipv4 in NetBox (10.100.0.0/16, "
                               "10.120.0.0/16); one pool per IP family"]


def test_5000_node_cluster_plan(kit):
    prefixes = [p for p in kit.DEFAULT_PREFIXES if p.cluster != "gpu-a"]
    prefixes += [Prefix("10.64.0.0/12", "pod-network", "prod", "gpu-a", "active", "dc2"),
                 Prefix("10.96.0.0/16", "service-network", "prod", "gpu-a", "active", "dc2"),
                 Prefix("10.3.0.0/16", "node-network", "prod", "gpu-a", "active", "dc2")]
    inv = kit.inventory({"mgmt": kit.management(), "gpu-a": kit.workers("gpu-a", 5000, base="10.3.0")}, prefixes)
    plan = compute_plan(inv, PlanSettings(etcd_member_ram_gib=64))
    a, m = plan.cluster("gpu-a"), plan.cluster("mgmt")
    # Calico: 2^(26-12) = 16,384 blocks, 2 per node (110 pods + 1 tunnel address) → 8,192 nodes fit.
    assert (a.get("ipam_ipv4", "nodes_fit"), a.get("ipam_ipv4", "nodes_more")) == (8192, 3192)
    # Kubernetes: 5,000 nodes is the limit (not above it); capacity above 150,000 pods warns.
    assert plan.violations == []
    assert "cluster gpu-a: 5000 nodes x 110 pods can schedule 550,000 pods, above the Kubernetes limit of 150,000 " \
           "per cluster; keep the workload below it" in plan.warnings
    # etcd: 9.16 GiB of data → 10 GiB quota warns above 8 GiB; Events split above 1,000 nodes.
    assert m.get("etcd", "quota_backend_bytes") == 10 * GIB
    assert "cluster mgmt: etcd quota 10 GiB is above the suggested maximum of 8 GiB (etcd warns at start); split " \
           "Events into their own etcd or shard the tenants" in plan.warnings
    assert m.get("etcd", "events_separate") is True
    assert a.get("control_plane", "etcd_servers_overrides") == (
        "/events#https://10.2.0.11:2383;https://10.2.0.12:2383;https://10.2.0.13:2383")
    # Kubernetes control-plane size above 500 nodes: 32 vCPU, 120 GB per replica.
    assert (a.get("control_plane", "apiserver_cpu_request"), a.get("control_plane", "apiserver_memory_request")) == (
        "32000m", "122880Mi")


def test_member_ram_below_quota_is_a_violation(dc2):
    plan = compute_plan(dc2, PlanSettings(etcd_member_ram_gib=1))
    assert plan.violations == ["cluster mgmt: etcd member RAM 1 GiB is below the backend quota 2 GiB (etcd hardware "
                               "guide: RAM ≥ quota)"]


def test_even_etcd_count_is_a_violation_even_past_the_inventory_builder(kit):
    plan = compute_plan(kit.inventory({"mgmt": kit.management(etcd=2), "gpu-a": kit.workers("gpu-a", 4)}))
    assert plan.violations == ["cluster mgmt: 2 etcd members (mgmt-etcd1, mgmt-etcd2); an even count adds no fault "
                               "tolerance — use 3 or 5"]


def test_measured_rtt_between_members_sets_the_heartbeat(dc2):
    measured = {("mgmt-etcd1", "mgmt-etcd2"): 120.0, ("mgmt-etcd2", "mgmt-etcd3"): 180.5,
                ("mgmt-etcd1", "gpu-a-w0000"): 900.0}
    gv = group_vars(compute_plan(dc2, measured_rtt_ms=measured))["cluster_mgmt"]
    assert (gv["etcd_heartbeat_interval_ms"], gv["etcd_election_timeout_ms"]) == (181, 1810)


def test_rtt_beyond_the_election_cap_is_a_violation(dc2):
    plan = compute_plan(dc2, PlanSettings(etcd_rtt_ms=6000))
    assert plan.violations == ["cluster mgmt: max RTT 6000 ms needs an election timeout of at least 60,000 ms, above "
                               "etcd's maximum 50,000 ms; the members are too far apart"]


def test_two_management_clusters_need_hosted_on(kit):
    inv = kit.inventory({"mgmt": kit.management(), "mgmt2": kit.management("mgmt2", base="10.2.3"),
                     "gpu-a": kit.workers("gpu-a", 4)})
    plan = compute_plan(inv)
    assert "cluster gpu-a: 2 management clusters (mgmt, mgmt2); name the one hosting its control plane in " \
           "pyctl_plan.hosted_on" in plan.violations
    plan = compute_plan(inv, load_settings({"pyctl_plan": {"hosted_on": {"gpu-a": "mgmt2"}}}))
    assert group_vars(plan)["cluster_gpu_a"]["control_plane_management_cluster"] == "mgmt2"
    assert not any("management clusters" in v for v in plan.violations)


def test_settings_for_an_unknown_cluster_are_a_violation(dc2):
    plan = compute_plan(dc2, load_settings({"pyctl_plan": {"clusters": {"gpu-z": {"block_size": 24}}}}))
    assert plan.violations == ["pyctl_plan.clusters.gpu-z: no cluster gpu-z in dc2"]


def test_fewer_control_plane_hosts_than_replicas_warns_and_uses_them_all(kit):
    plan = compute_plan(kit.inventory({"mgmt": kit.management(control_plane=1), "gpu-a": kit.workers("gpu-a", 4)}))
    assert plan.cluster("gpu-a").get("control_plane", "apiserver_replicas") == 1
    assert plan.warnings == ["cluster gpu-a: 3 kube-apiserver replicas wanted but mgmt has 1 control-plane "
                             "host(s); running 1", "cluster gpu-a: 1 kube-apiserver replica: no high availability"]


def test_workload_cluster_without_a_management_cluster_is_a_violation(kit):
    inv = Inventory(site="dc2", clusters=(Cluster("gpu-a", "workload", tuple(kit.workers("gpu-a", 2))),),
                    prefixes=kit.DEFAULT_PREFIXES)
    assert compute_plan(inv).violations == ["cluster gpu-a: no management cluster in dc2 to host its control plane"]


def test_proposals_avoid_host_subnets_and_containers_inside_the_datacenter_prefix(kit):
    # No node-network prefixes: the hosts' own subnets (10.1.0.0/24, 10.1.1.0/24) count as taken, and so does
    # a container inside the datacenter prefix.
    prefixes = [Prefix("10.0.0.0/8", "datacenter", "prod", None, "container", "dc2"),
                Prefix("10.0.0.0/16", "storage", "prod", None, "container", "dc2")]
    inv = kit.inventory({"mgmt": kit.management(base="10.1.0"), "gpu-a": kit.workers("gpu-a", 4, base="10.1.1")},
                        prefixes)
    plan = compute_plan(inv)
    assert plan.violations == []
    assert plan.cluster("gpu-a").get("ipam_ipv4", "pool") == "10.1.4.0/22"


def test_an_overlap_between_two_prefixes_of_another_site_is_a_warning_not_a_violation(kit):
    # dc1's mistake (its pod pool over its own service range) must not stop dc2's plan, drift or rollout.
    prefixes = (*kit.DEFAULT_PREFIXES, Prefix("10.50.0.0/16", "pod-network", "prod", "x", "active", "dc1"),
                Prefix("10.50.8.0/22", "service-network", "prod", "y", "active", "dc1"))
    plan = compute_plan(kit.inventory({"mgmt": kit.management(), "gpu-a": kit.workers("gpu-a", 4)}, prefixes))
    assert plan.violations == []
    assert ("prefixes: dc1 prefix 10.50.0.0/16 (pod-network, cluster x) overlaps dc1 prefix 10.50.8.0/22 "
            "(service-network, cluster y) in VRF prod (no prefix of this site: that site's to fix)") in plan.warnings


def test_a_prefix_scoped_to_a_region_above_the_site_is_labelled_by_its_scope(kit):
    prefixes = (*kit.DEFAULT_PREFIXES,
                Prefix("10.100.64.0/18", "service-network", "prod", "gpu-b", "active", "dc2", "region emea"))
    plan = compute_plan(kit.inventory({"mgmt": kit.management(), "gpu-a": kit.workers("gpu-a", 4)}, prefixes))
    assert ("prefixes: dc2 prefix 10.100.0.0/16 (pod-network, cluster gpu-a) overlaps region emea prefix "
            "10.100.64.0/18 (service-network, cluster gpu-b) in VRF prod") in plan.violations


def test_plan_ip_families_must_be_on_every_pod_nic(kit):
    import dataclasses

    workers = [dataclasses.replace(h, pod_addresses=(f"{h.address}/24",)) for h in kit.workers("gpu-a", 3)]
    inv = kit.inventory({"mgmt": kit.management(), "gpu-a": workers})
    assert compute_plan(inv).violations == []
    dual = compute_plan(inv, load_settings({"pyctl_plan": {"ip_family": "dual"}}))
    assert ("cluster gpu-a: ip_family dual needs ipv6 on every pod-traffic interface, but NetBox has none on 3 "
            "host(s): " + ", ".join(h.name for h in workers)) in dual.violations


def test_the_apiserver_requests_reach_the_role_as_unit_resources(dc2):
    # systemd.resource-control(5): CPUWeight (default 100 = one CPU requested) and MemoryLow = the request.
    plan = compute_plan(dc2)
    a = plan.cluster("gpu-a")
    cpu, memory = a.get("control_plane", "apiserver_cpu_request"), a.get("control_plane", "apiserver_memory_request")
    tenant = next(t for t in group_vars(plan)["cluster_mgmt"]["control_plane_tenants"] if t["name"] == "gpu-a")
    assert int(cpu.removesuffix("m")) // 10 == tenant["cpu_weight"]
    assert tenant["memory_low"] == memory.removesuffix("Mi") + "M"
    assert a.get("control_plane", "apiserver_unit_resources") == {"cpu_weight": tenant["cpu_weight"],
                                                                  "memory_low": tenant["memory_low"]}


@pytest.mark.parametrize(("nodes", "weight", "memory_low"), [(3, 100, "3840M"), (600, 3200, "122880M")])
def test_unit_resources_follow_the_request(nodes: int, weight: int, memory_low: str) -> None:
    assert unit_resources(apiserver_sizing(nodes)) == {"cpu_weight": weight, "memory_low": memory_low}
