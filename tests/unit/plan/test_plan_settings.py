"""Per-DC plan settings: defaults that name their sources, and exact errors for bad values."""

from __future__ import annotations

import pytest

from pyctl.errors import ConfigError, ExitCode
from pyctl.plan import PlanSettings, load_settings


def test_a_file_without_pyctl_plan_gives_the_defaults():
    s = load_settings({"calico_something": 1})
    assert s == PlanSettings()
    # Calico default block /26 (/122), kubelet 110 pods, maxBlocksPerHost 20, Kamaji/HyperShift snapshot 10000.
    assert (s.encapsulations, s.ip_family, s.block_size, s.block_size_v6) == (("vxlan",), "ipv4", 26, 122)
    assert (s.max_pods_per_node, s.max_blocks_per_host, s.etcd_snapshot_count) == (110, 20, 10000)
    assert s.deployed_block_size is None
    assert s.etcd_member_ram_gib is None


def test_values_and_per_cluster_overrides_are_read():
    s = load_settings({"pyctl_plan": {
        "encapsulations": ["wireguard", "vxlan"], "ip_family": "dual", "etcd_rtt_ms": 2,
        "clusters": {"gpu-a": {"deployed_block_size": 24, "block_size": 24}},
    }})
    assert s.encapsulations == ("wireguard", "vxlan")
    assert s.families == ("ipv4", "ipv6")
    assert s.etcd_rtt_ms == 2.0
    a = s.for_cluster("gpu-a")
    assert (a.block_size, a.deployed_block_size, a.encapsulations) == (24, 24, ("wireguard", "vxlan"))
    assert s.for_cluster("gpu-b") is s


def test_none_means_no_encapsulation():
    assert load_settings({"pyctl_plan": {"encapsulations": "none"}}).encapsulations == ()
    assert load_settings({"pyctl_plan": {"encapsulations": []}}).encapsulations == ()


@pytest.mark.parametrize(("raw", "problem"), [
    ({"block_size": 19}, "pyctl_plan.block_size: must be a prefix length from 20 to 32 (Calico IPAM block size for "
                         "ipv4), got 19"),
    ({"block_size_v6": 112}, "pyctl_plan.block_size_v6: must be a prefix length from 116 to 128 (Calico IPAM block "
                             "size for ipv6), got 112"),
    ({"encapsulations": ["geneve"]}, "pyctl_plan.encapsulations: unknown encapsulation 'geneve' (known: ipip, vxlan, "
                                     "wireguard, or none alone), got ['geneve']"),
    ({"encapsulations": ["vxlan", "vxlan"]}, "pyctl_plan.encapsulations: lists an encapsulation twice, got "
                                             "['vxlan', 'vxlan']"),
    ({"ip_family": "ipv5"}, "pyctl_plan.ip_family: must be one of ipv4, ipv6, dual, got 'ipv5'"),
    ({"max_pods_per_node": 0}, "pyctl_plan.max_pods_per_node: must be a positive integer, got 0"),
    ({"max_pods_per_node": True}, "pyctl_plan.max_pods_per_node: must be a positive integer, got True"),
    ({"etcd_rtt_ms": 0}, "pyctl_plan.etcd_rtt_ms: must be a positive number of milliseconds, got 0"),
    ({"etcd_member_ram_gib": "64G"}, "pyctl_plan.etcd_member_ram_gib: must be a positive number, or null, got '64G'"),
    ({"path_mtu": 70000}, "pyctl_plan.path_mtu: must be an MTU from 68 to 65535, or null, got 70000"),
    ({"service_prefix_length": 11}, "pyctl_plan.service_prefix_length: must be a prefix length from 12 to 30, got 11"),
    ({"etcd_auto_compaction_retention": "1d"}, "pyctl_plan.etcd_auto_compaction_retention: must be a duration such "
                                               "as 1h, 30m or 600s, got '1d'"),
    ({"strict_affinity": "yes"}, "pyctl_plan.strict_affinity: must be true or false, got 'yes'"),
    ({"ip_family": "ipv6", "encapsulations": ["ipip"]}, "pyctl_plan.encapsulations: ipip carries IPv4 only; an ipv6 "
                                                        "cluster needs vxlan or wireguard"),
    ({"clusters": {"gpu-a": {"hosted_on": {}}}}, "pyctl_plan.clusters.gpu-a.hosted_on: can be set for the whole DC "
                                                 "only"),
    ({"clusters": {"gpu-a": {"deployed_block_size": 33}}}, "pyctl_plan.clusters.gpu-a.deployed_block_size: must be "
                                                           "a prefix length from 20 to 32 (Calico IPAM block size for "
                                                           "ipv4), got 33"),
    ({"hosted_on": ["gpu-a"]}, "pyctl_plan.hosted_on: must map workload cluster names to management cluster names, "
                               "got ['gpu-a']"),
])
def test_bad_values_are_config_errors_with_exact_messages(raw, problem):
    with pytest.raises(ConfigError) as exc:
        load_settings({"pyctl_plan": raw})
    assert exc.value.problems == [problem]
    assert exc.value.message == problem
    assert exc.value.exit_code == ExitCode.BAD_CONFIG


def test_unknown_key_lists_the_known_ones():
    with pytest.raises(ConfigError) as exc:
        load_settings({"pyctl_plan": {"blocksize": 26}})
    assert exc.value.problems[0].startswith("pyctl_plan.blocksize: unknown setting (known: encapsulations, ip_family, ")


def test_every_bad_value_is_reported_at_once():
    with pytest.raises(ConfigError) as exc:
        load_settings({"pyctl_plan": {"block_size": 40, "max_pods_per_node": -1}})
    assert exc.value.problems == [
        "pyctl_plan.block_size: must be a prefix length from 20 to 32 (Calico IPAM block size for ipv4), got 40",
        "pyctl_plan.max_pods_per_node: must be a positive integer, got -1",
    ]
    assert exc.value.message == "; ".join(exc.value.problems)


def test_pyctl_plan_must_be_a_mapping():
    with pytest.raises(ConfigError) as exc:
        load_settings({"pyctl_plan": ["vxlan"]})
    assert exc.value.message == "pyctl_plan must be a mapping, got list"


def test_settings_serialise_with_only_the_overridden_cluster_keys():
    s = load_settings({"pyctl_plan": {"clusters": {"gpu-a": {"deployed_block_size": 26}}}})
    d = s.to_dict()
    assert d["clusters"] == {"gpu-a": {"deployed_block_size": 26}}
    assert d["encapsulations"] == ["vxlan"]
