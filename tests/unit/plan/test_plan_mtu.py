"""Overlay MTU rules (RULES.md "Calico overlay MTU"; Calico docs, networking/configuring/mtu)."""

from __future__ import annotations

import re

import pytest

from pyctl.plan.mtu import encapsulation_overhead, felix_encapsulation, plan_mtu, underlay_mtu, veth_mtu


# Calico docs' own examples: underlay 1500 → 1480 / 1450 / 1430 / 1440 / 1420; 9000 → 8980 / 8950 / 8930 / 8940 / 8920.
def _exactly(message: str) -> str:
    """A pattern for pytest.raises that matches the whole message, not a part of it."""
    return f"^{re.escape(message)}$"


@pytest.mark.parametrize(("underlay", "encapsulation", "family", "expected"), [
    (1500, "ipip", "ipv4", 1480),
    (1500, "vxlan", "ipv4", 1450),
    (1500, "vxlan", "ipv6", 1430),
    (1500, "wireguard", "ipv4", 1440),
    (1500, "wireguard", "ipv6", 1420),
    (9000, "ipip", "ipv4", 8980),
    (9000, "vxlan", "ipv4", 8950),
    (9000, "vxlan", "ipv6", 8930),
    (9000, "wireguard", "ipv4", 8940),
    (9000, "wireguard", "ipv6", 8920),
])
def test_veth_mtu_matches_calico_examples_for_standard_and_jumbo_frames(underlay, encapsulation, family, expected):
    assert veth_mtu(underlay, [encapsulation], [family]) == expected


def test_vxlan_ipv6_takes_70_bytes():
    assert encapsulation_overhead("vxlan", "ipv6") == 70


@pytest.mark.parametrize(("encapsulation", "family", "overhead"), [
    ("ipip", "ipv4", 20), ("vxlan", "ipv4", 50), ("wireguard", "ipv4", 60), ("wireguard", "ipv6", 80),
    ("none", "ipv4", 0),
])
def test_encapsulation_overheads_are_calicos(encapsulation, family, overhead):
    assert encapsulation_overhead(encapsulation, family) == overhead


def test_wireguard_and_vxlan_together_take_the_smallest_mtu():
    # "With several in use (e.g. WireGuard + VXLAN), the smallest result wins."
    assert veth_mtu(1500, ["vxlan", "wireguard"]) == 1440
    assert veth_mtu(9000, ["ipip", "vxlan"]) == 8950


def test_dual_stack_vxlan_uses_the_ipv6_overhead():
    # A dual-stack VXLAN cluster has vxlan.calico (50) and vxlan-v6.calico (70): the veth MTU must fit both.
    assert veth_mtu(9000, ["vxlan"], ["ipv4", "ipv6"]) == 8930


def test_dual_stack_ipip_applies_to_ipv4_only():
    assert veth_mtu(1500, ["ipip"], ["ipv4", "ipv6"]) == 1480


def test_ebpf_counts_vxlan_for_nodeport_traffic_without_a_vxlan_pool():
    # "eBPF data plane uses VXLAN for NodePort traffic: count 50."
    assert veth_mtu(1500, [], ["ipv4"], ebpf=True) == 1450


def test_no_encapsulation_keeps_the_underlay_mtu_and_has_no_tunnel():
    m = plan_mtu({"n1": 9000, "n2": 9000}, [], ["ipv4"])
    assert (m.veth_mtu, m.tunnel_mtu) == (9000, None)
    assert m.disable == ["ipipEnabled", "vxlanEnabled", "wireguardEnabled", "wireguardEnabledV6"]


def test_tunnel_mtu_equals_veth_mtu_and_stays_below_the_nic():
    # Tunnel MTU = veth MTU; a tunnel MTU equal to the NIC MTU makes Felix fail.
    m = plan_mtu({"n1": 1500}, ["vxlan"])
    assert m.tunnel_mtu == m.veth_mtu == 1450
    assert m.tunnel_mtu < m.underlay_mtu


def test_ipip_on_an_ipv6_only_cluster_is_refused():
    with pytest.raises(ValueError, match=_exactly("ipip carries IPv4 only; an ipv6 cluster needs vxlan or wireguard")):
        veth_mtu(1500, ["ipip"], ["ipv6"])
    with pytest.raises(ValueError, match=_exactly("ipip carries IPv4 only; Calico has no IP-in-IP for IPv6")):
        encapsulation_overhead("ipip", "ipv6")


def test_unknown_encapsulation_is_refused_with_the_known_ones():
    message = "unknown encapsulation 'geneve' (known: ipip, vxlan, wireguard, none)"
    with pytest.raises(ValueError, match=_exactly(message)):
        veth_mtu(1500, ["geneve"])


def test_mtu_outside_ip_limits_is_refused():
    with pytest.raises(ValueError, match=_exactly("underlay MTU must be an integer from 68 to 65535, got 70000")):
        veth_mtu(70000, ["vxlan"])


def test_underlay_is_the_smallest_nic_mtu_and_the_odd_node_is_a_finding():
    # "a node whose NIC MTU differs from its peers is a finding, not something to average away"
    under, findings = underlay_mtu({"w1": 9000, "w2": 9000, "w3": 1500})
    assert under == 1500
    assert findings == ["node w3: pod-traffic NIC MTU 1500 differs from its peers' 9000 (2 nodes); the overlay uses "
                        "the smallest, 1500"]


def test_uniform_nic_mtus_give_no_findings():
    assert underlay_mtu({"w1": 9000, "w2": 9000}) == (9000, [])


def test_path_mtu_below_the_nics_sets_the_underlay():
    # Known failure mode: an uplink at 1472 under 1500-byte NICs drops full-size VXLAN frames (1522 bytes).
    m = plan_mtu({"w1": 1500, "w2": 1500}, ["vxlan"], path_mtu=1472)
    assert (m.underlay_mtu, m.veth_mtu) == (1472, 1422)
    assert m.findings == ["path MTU 1472 is below the NIC MTU 1500: full-size frames would be dropped silently while "
                          "small pings pass; the overlay uses the path MTU"]


def test_felix_disables_every_encapsulation_not_in_use():
    assert felix_encapsulation(["vxlan"]) == {
        "ipipEnabled": False, "vxlanEnabled": True, "wireguardEnabled": False, "wireguardEnabledV6": False}


def test_felix_wireguard_dual_stack_enables_both_wireguard_switches():
    assert felix_encapsulation(["wireguard"], ["ipv4", "ipv6"]) == {
        "ipipEnabled": False, "vxlanEnabled": False, "wireguardEnabled": True, "wireguardEnabledV6": True}


def test_ipv6_veth_mtu_below_1280_is_a_violation():
    # RFC 8200: every IPv6 link carries at least 1280 bytes.
    m = plan_mtu({"w1": 1350}, ["wireguard"], ["ipv6"])
    assert m.veth_mtu == 1270
    assert m.violations == ["veth MTU 1270 is below the ipv6 minimum 1280 (RFC 8200)"]
