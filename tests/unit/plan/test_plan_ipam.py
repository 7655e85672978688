"""CIDR and Calico IPAM rules (RULES.md "Calico IPAM and CIDRs"; Calico docs, change-block-size and
ipamconfig; Kubernetes docs, cluster-large)."""

from __future__ import annotations

import re

import pytest

from pyctl.plan.ipam import (
    NamedPrefix,
    block_addresses,
    block_change_problems,
    block_size_problems,
    blocks_per_node,
    ipam_capacity,
    kubernetes_limit_problems,
    overlaps,
    pool_blocks,
    pool_prefix_for,
    propose_free,
    service_range_problems,
)


# Blocks in a pool = 2^(block prefix - pool prefix).
def _exactly(message: str) -> str:
    """A pattern for pytest.raises that matches the whole message, not a part of it."""
    return f"^{re.escape(message)}$"


@pytest.mark.parametrize(("pool", "block", "blocks"), [
    ("10.100.0.0/16", 26, 1024),
    ("10.100.0.0/16", 20, 16),  # the largest IPv4 block
    ("10.100.0.0/24", 32, 256),  # the smallest IPv4 block: one address
    ("10.96.0.0/12", 26, 16384),
    ("fd00:10::/112", 122, 1024),
    ("fd00:10::/112", 116, 16),  # the largest IPv6 block
    ("fd00:10::/120", 128, 256),
])
def test_pool_blocks_is_two_to_the_prefix_difference(pool, block, blocks):
    assert pool_blocks(pool, block) == blocks


@pytest.mark.parametrize(("block", "family", "size"), [
    (26, "ipv4", 64), (20, "ipv4", 4096), (32, "ipv4", 1), (122, "ipv6", 64), (116, "ipv6", 4096), (128, "ipv6", 1),
])
def test_block_addresses_at_the_default_and_the_extremes(block, family, size):
    assert block_addresses(block, family) == size


@pytest.mark.parametrize(("block", "family", "message"), [
    (19, "ipv4", "block size /19 is outside the ipv4 range /20-/32 (Calico IPAM)"),
    (33, "ipv4", "block size /33 is outside the ipv4 range /20-/32 (Calico IPAM)"),
    (115, "ipv6", "block size /115 is outside the ipv6 range /116-/128 (Calico IPAM)"),
    (26, "ipv6", "block size /26 is outside the ipv6 range /116-/128 (Calico IPAM)"),
])
def test_block_sizes_outside_calicos_range_are_refused(block, family, message):
    assert block_size_problems(block, family) == [message]


@pytest.mark.parametrize(("block", "family"), [(20, "ipv4"), (32, "ipv4"), (116, "ipv6"), (128, "ipv6")])
def test_block_size_extremes_are_valid(block, family):
    assert block_size_problems(block, family) == []


def test_block_larger_than_the_pool_is_refused():
    with pytest.raises(ValueError, match=_exactly("block /20 is larger than the pool 10.100.0.0/24")):
        pool_blocks("10.100.0.0/24", 20)


def test_pool_with_host_bits_is_refused():
    with pytest.raises(ValueError, match=_exactly("'10.100.0.1/16' has host bits set (the prefix is 10.100.0.0/16)")):
        pool_blocks("10.100.0.1/16", 26)


@pytest.mark.parametrize(("pods", "block", "family", "extra", "blocks"), [
    (110, 26, "ipv4", 0, 2),  # RULES.md: 110 pods → 2 x /26
    (64, 26, "ipv4", 0, 1),
    (64, 26, "ipv4", 1, 2),  # the VXLAN tunnel address comes from the node's block too
    (110, 20, "ipv4", 0, 1),
    (110, 32, "ipv4", 0, 110),
    (110, 122, "ipv6", 1, 2),
    (110, 128, "ipv6", 0, 110),
])
def test_blocks_a_node_needs_is_ceil_pods_over_block_size(pods, block, family, extra, blocks):
    assert blocks_per_node(pods, block, family, extra) == blocks


def test_capacity_says_how_many_nodes_fit_and_how_many_more_can_join():
    cap = ipam_capacity("10.100.0.0/16", 26, 110, 400)
    assert (cap.blocks, cap.blocks_per_node, cap.nodes_fit, cap.nodes_more) == (1024, 2, 512, 112)
    assert cap.violations == cap.warnings == []


def test_5000_node_cluster_fits_a_slash_12_pool_with_slash_26_blocks():
    cap = ipam_capacity("10.96.0.0/12", 26, 110, 5000, extra_addresses=1)
    assert (cap.blocks, cap.nodes_fit, cap.nodes_more) == (16384, 8192, 3192)
    assert cap.violations == []


def test_5000_node_cluster_overflows_a_slash_16_pool():
    cap = ipam_capacity("10.100.0.0/16", 26, 110, 5000)
    assert cap.nodes_more == 0
    assert cap.violations == ["pool 10.100.0.0/16 holds 512 nodes (1024 blocks of /26, 2 per node) but the cluster "
                              "has 5000"]


def test_thin_headroom_warns():
    cap = ipam_capacity("10.100.0.0/16", 26, 110, 500, min_headroom_percent=10)
    assert cap.warnings == ["pool 10.100.0.0/16 fits only 12 more nodes (< 10% headroom over 500)"]


def test_slash_32_blocks_exceed_max_blocks_per_host_and_borrow_without_strict_affinity():
    cap = ipam_capacity("10.100.0.0/16", 32, 110, 10)
    assert cap.blocks_per_node == 110
    assert cap.violations == []
    assert cap.warnings == ["a node needs 110 blocks of /32 for 110 pods, above maxBlocksPerHost 20; pods beyond that "
                            "borrow addresses from other nodes' blocks (/32 routes)"]


def test_slash_32_blocks_with_strict_affinity_are_a_violation():
    cap = ipam_capacity("10.100.0.0/16", 32, 110, 10, strict_affinity=True)
    assert cap.violations == ["a node needs 110 blocks of /32 for 110 pods, above maxBlocksPerHost 20; with "
                              "strictAffinity pods beyond that get no address"]


def test_slash_20_blocks_give_one_block_per_node():
    cap = ipam_capacity("10.64.0.0/12", 20, 110, 200)
    assert (cap.blocks, cap.blocks_per_node, cap.nodes_fit) == (256, 1, 256)


def test_ipv6_pool_capacity():
    cap = ipam_capacity("fd00:10::/104", 122, 110, 5000, extra_addresses=1)
    assert (cap.blocks, cap.blocks_per_node, cap.nodes_fit) == (262144, 2, 131072)


def test_block_size_differing_from_the_deployed_one_is_an_error():
    # "Block size cannot be changed after install": a different size is an error, not a change.
    assert block_change_problems(24, 26) == [
        "ipv4 block size /24 differs from the deployed /26; Calico cannot change the block size of a pool in place "
        "(only by migrating to a temporary pool), so keep /26"]


def test_same_or_undeployed_block_size_is_fine():
    assert block_change_problems(26, 26) == []
    assert block_change_problems(24, None) == []


def test_5000_nodes_is_within_the_kubernetes_limit_but_capacity_above_150000_pods_warns():
    violations, warnings = kubernetes_limit_problems(5000, 110)
    assert violations == []
    assert warnings == ["5000 nodes x 110 pods can schedule 550,000 pods, above the Kubernetes limit of 150,000 per "
                        "cluster; keep the workload below it"]


def test_more_than_5000_nodes_or_110_pods_per_node_are_violations():
    violations, _ = kubernetes_limit_problems(5001, 111)
    assert violations == ["max pods per node 111 is above the Kubernetes limit of 110",
                          "5001 nodes is above the Kubernetes limit of 5,000 nodes per cluster"]


def test_1363_nodes_at_110_pods_stay_within_150000_pods():
    assert kubernetes_limit_problems(1363, 110) == ([], [])


@pytest.mark.parametrize(("cidr", "problems"), [
    ("10.96.0.0/12", []),
    ("10.96.0.0/11", ["service range 10.96.0.0/11 has 21 host bits; kube-apiserver allows at most 20 (/12 for IPv4, "
                      "/108 for IPv6)"]),
    ("fd00:96::/108", []),
    ("fd00:96::/107", ["service range fd00:96::/107 has 21 host bits; kube-apiserver allows at most 20 (/12 for "
                       "IPv4, /108 for IPv6)"]),
])
def test_service_range_has_at_most_20_host_bits(cidr, problems):
    assert service_range_problems(cidr) == problems


def test_overlap_across_sites_in_the_same_vrf_is_reported():
    found = overlaps([
        NamedPrefix("10.100.0.0/16", "prod", "dc2 pods of gpu-a", checked=True),
        NamedPrefix("10.100.128.0/17", "prod", "dc1 pods of gpu-x", checked=True),
    ])
    assert found == ["dc2 pods of gpu-a overlaps dc1 pods of gpu-x in VRF prod"]


def test_same_prefix_in_different_vrfs_does_not_clash():
    assert overlaps([
        NamedPrefix("10.100.0.0/16", "prod", "a", checked=True),
        NamedPrefix("10.100.0.0/16", "lab", "b", checked=True),
    ]) == []


def test_supernet_containing_a_pool_is_its_parent_not_a_clash():
    assert overlaps([
        NamedPrefix("10.0.0.0/8", "prod", "dc aggregate", supernet=True),
        NamedPrefix("10.100.0.0/16", "prod", "pods", checked=True),
    ]) == []


def test_pool_containing_a_supernet_is_a_clash():
    assert overlaps([
        NamedPrefix("10.0.0.0/16", "prod", "container", supernet=True),
        NamedPrefix("10.0.0.0/8", "prod", "pods", checked=True),
    ]) == ["container overlaps pods in VRF prod"]


def test_node_networks_may_overlap_each_other_but_not_a_pool():
    assert overlaps([
        NamedPrefix("10.2.0.0/24", "prod", "nodes a"),
        NamedPrefix("10.2.0.0/24", "prod", "nodes b"),
        NamedPrefix("10.2.0.0/23", "prod", "pods", checked=True),
    ]) == ["nodes a overlaps pods in VRF prod", "nodes b overlaps pods in VRF prod"]


def test_ipv6_overlap_is_reported_and_families_never_mix():
    assert overlaps([
        NamedPrefix("fd00:10::/64", None, "v6 pods", checked=True),
        NamedPrefix("fd00:10::/112", None, "v6 services", checked=True),
        NamedPrefix("10.0.0.0/8", None, "v4 pods", checked=True),
    ]) == ["v6 pods overlaps v6 services in VRF global"]


def test_propose_free_skips_taken_prefixes():
    assert propose_free(["10.0.0.0/8"], ["10.0.0.0/16", "10.1.0.0/24"], 16) == "10.2.0.0/16"
    assert propose_free(["fd00::/48"], ["fd00::/64"], 64) == "fd00:0:0:1::/64"


def test_propose_free_returns_none_when_full():
    assert propose_free(["10.0.0.0/16"], ["10.0.0.0/17", "10.0.128.0/17"], 24) is None


def test_pool_prefix_for_holds_the_target_nodes():
    # 1000 nodes x 2 blocks = 2000 blocks → 2^11 → /26 - 11 = /15.
    assert pool_prefix_for(1000, 2, 26) == 15
    assert pool_prefix_for(1, 1, 26) == 26
