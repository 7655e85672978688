"""The Ansible filter plugin plugins/filter/pyctl_plan.py: one test per filter, each against the rule the
pyctl.plan function behind it encodes, plus the documentation every filter must carry."""

from __future__ import annotations

import inspect
from pathlib import Path

import jinja2
import pytest
import yaml
from ansible.errors import AnsibleFilterError

from tests.load import load_file

PLUGIN = Path(__file__).resolve().parents[3] / "plugins" / "filter" / "pyctl_plan.py"


plugin = load_file(PLUGIN, "pyctl_plan_filter")
FILTERS = plugin.FilterModule().filters()


def _docs(name: str) -> dict:
    """The filter's DOCUMENTATION / EXAMPLES / RETURN, in plugins/filter/<name>.yml as ansible-doc reads them."""
    return yaml.safe_load((PLUGIN.parent / f"{name}.yml").read_text())


def test_every_filter_is_exposed():
    assert set(FILTERS) == {
        "pyctl_encapsulation_overhead", "pyctl_veth_mtu", "pyctl_underlay_mtu", "pyctl_felix_encapsulation",
        "pyctl_ipam_blocks", "pyctl_prefix_overlaps", "pyctl_propose_prefix", "pyctl_etcd_timing",
        "pyctl_etcd_quota", "pyctl_etcd_members", "pyctl_apiserver_sizing"}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_each_filter_documents_its_options_examples_and_return(name):
    docs = _docs(name)
    doc = docs["DOCUMENTATION"]
    assert doc["name"] == name
    assert doc["short_description"]
    params = list(inspect.signature(plugin.FILTERS[name]).parameters)
    assert list(doc["options"]) == ["_input", *params[1:]]
    assert yaml.safe_load(docs["EXAMPLES"])
    assert "_value" in docs["RETURN"]


def test_pyctl_encapsulation_overhead_vxlan_ipv6_takes_70_bytes():
    assert FILTERS["pyctl_encapsulation_overhead"]("vxlan", "ipv6") == 70


def test_pyctl_veth_mtu_jumbo_frames_and_mixed_encapsulations():
    # Calico MTU docs: 9000 → 8950 for VXLAN; several in use → the smallest wins.
    assert FILTERS["pyctl_veth_mtu"](9000, ["vxlan"]) == 8950
    assert FILTERS["pyctl_veth_mtu"](1500, ["wireguard", "vxlan"], ["ipv4", "ipv6"]) == 1420


def test_pyctl_veth_mtu_renders_in_jinja():
    env = jinja2.Environment()
    env.filters.update(FILTERS)
    assert env.from_string("{{ 9000 | pyctl_veth_mtu(['vxlan'], ['ipv6']) }}").render() == "8930"


def test_pyctl_underlay_mtu_reports_the_odd_node():
    out = FILTERS["pyctl_underlay_mtu"]({"w1": 9000, "w2": 9000, "w3": 1500})
    assert out["underlay_mtu"] == 1500
    assert out["findings"] == ["node w3: pod-traffic NIC MTU 1500 differs from its peers' 9000 (2 nodes); the "
                               "overlay uses the smallest, 1500"]


def test_pyctl_felix_encapsulation_disables_what_is_not_in_use():
    assert FILTERS["pyctl_felix_encapsulation"](["ipip"]) == {
        "ipipEnabled": True, "vxlanEnabled": False, "wireguardEnabled": False, "wireguardEnabledV6": False}


def test_pyctl_ipam_blocks_counts_blocks_and_nodes():
    out = FILTERS["pyctl_ipam_blocks"]("10.100.0.0/16", 26, 110, 400)
    assert (out["blocks"], out["blocks_per_node"], out["nodes_fit"], out["nodes_more"]) == (1024, 2, 512, 112)


def test_pyctl_ipam_blocks_ipv6_slash_128_extreme():
    out = FILTERS["pyctl_ipam_blocks"]("fd00::/120", 128, 110, 1)
    assert (out["blocks"], out["blocks_per_node"], out["nodes_fit"]) == (256, 110, 2)
    assert out["warnings"]


def test_pyctl_prefix_overlaps_same_vrf_only():
    prefixes = [{"cidr": "10.100.0.0/16", "vrf": "prod", "label": "pods", "checked": True},
                {"cidr": "10.100.8.0/24", "vrf": "prod", "label": "storage"},
                {"cidr": "10.100.9.0/24", "vrf": "lab", "label": "lab storage"}]
    assert FILTERS["pyctl_prefix_overlaps"](prefixes) == ["pods overlaps storage in VRF prod"]


def test_pyctl_propose_prefix_takes_the_first_free_one():
    assert FILTERS["pyctl_propose_prefix"](["10.0.0.0/8"], ["10.0.0.0/16"], 16) == "10.1.0.0/16"


def test_pyctl_etcd_timing_caps_and_floors():
    assert FILTERS["pyctl_etcd_timing"](250) == {"heartbeat_ms": 250, "election_timeout_ms": 2500, "rtt_ms": 250.0,
                                                 "violations": []}
    assert FILTERS["pyctl_etcd_timing"](100, 100, 900)["violations"] == [
        "election timeout 900 ms is below 10 x the max RTT 100 ms"]


def test_pyctl_etcd_quota_warns_above_8_gib():
    out = FILTERS["pyctl_etcd_quota"](600_000)
    assert out["quota_bytes"] == 10 * 1024**3
    assert len(out["warnings"]) == 1


def test_pyctl_etcd_members_even_count_is_a_violation():
    assert FILTERS["pyctl_etcd_members"](["e1", "e2"])["violations"] == [
        "2 etcd members (e1, e2); an even count adds no fault tolerance — use 3 or 5"]


def test_pyctl_apiserver_sizing_for_5000_nodes():
    out = FILTERS["pyctl_apiserver_sizing"](5000)
    assert (out["replicas"], out["cpu_millicores"], out["memory_mib"]) == (3, 32000, 122880)


def test_bad_input_raises_ansible_filter_error_with_the_rule():
    with pytest.raises(AnsibleFilterError) as exc:
        FILTERS["pyctl_ipam_blocks"]("10.100.0.0/16", 19)
    assert exc.value.message == "pyctl_ipam_blocks: block size /19 is outside the ipv4 range /20-/32 (Calico IPAM)"
