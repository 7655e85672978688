"""Pod pools, service ranges and Calico IPAM blocks: capacity, block size, overlap, free-range proposals.

Sources: Calico docs (networking/ipam/change-block-size; reference/resources/ippool and ipamconfig),
Kubernetes docs (setup/best-practices/cluster-large) and kube-apiserver's service-range validation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import netaddr

SOURCE_BLOCKS = "Calico docs: networking/ipam/change-block-size"
SOURCE_IPAMCONFIG = "Calico docs: reference/resources/ipamconfig"
SOURCE_K8S_LIMITS = "Kubernetes docs: setup/best-practices/cluster-large"
SOURCE_SERVICE_RANGE = "kube-apiserver --service-cluster-ip-range (at most 20 host bits)"

# Calico docs, change-block-size: allowed block prefix lengths; default 64 addresses (/26, /122).
BLOCK_RANGE = {"ipv4": (20, 32), "ipv6": (116, 128)}
DEFAULT_BLOCK = {"ipv4": 26, "ipv6": 122}
BITS = {"ipv4": 32, "ipv6": 128}

# Kubernetes docs, cluster-large: "No more than 110 pods per node, 5,000 nodes, 150,000 total pods".
MAX_PODS_PER_NODE = 110
MAX_NODES = 5000
MAX_PODS = 150_000

# Calico IPAMConfiguration default maxBlocksPerHost (RULES.md).
MAX_BLOCKS_PER_HOST = 20

# kube-apiserver rejects a service range with more than 20 host bits (/12 IPv4, /108 IPv6).
SERVICE_MAX_HOST_BITS = 20


def family_of(cidr: str) -> str:
    return "ipv4" if network(cidr).version == 4 else "ipv6"


def network(cidr: str) -> netaddr.IPNetwork:
    """``cidr`` as a network; ValueError when it is not one or has host bits set."""
    try:
        net = netaddr.IPNetwork(cidr)
    except (netaddr.AddrFormatError, ValueError, TypeError) as exc:
        raise ValueError(f"{cidr!r} is not a CIDR prefix") from exc
    if net.ip != net.network:
        raise ValueError(f"{cidr!r} has host bits set (the prefix is {net.cidr})")
    return net


def block_size_problems(block_prefix: int, family: str = "ipv4") -> list[str]:
    """Why ``block_prefix`` is not a valid Calico block for ``family``; [] when it is."""
    lo, hi = BLOCK_RANGE[family]
    if isinstance(block_prefix, bool) or not isinstance(block_prefix, int) or not lo <= block_prefix <= hi:
        return [f"block size /{block_prefix} is outside the {family} range /{lo}-/{hi} (Calico IPAM)"]
    return []


def _valid_block(block_prefix: int, family: str) -> int:
    problems = block_size_problems(block_prefix, family)
    if problems:
        raise ValueError(problems[0])
    return block_prefix


def block_addresses(block_prefix: int, family: str = "ipv4") -> int:
    """Addresses in one block: 2^(address bits - block prefix); /26 → 64, /122 → 64, /32 → 1, /20 → 4096."""
    return int(2 ** (BITS[family] - _valid_block(block_prefix, family)))


def pool_blocks(pool_cidr: str, block_prefix: int) -> int:
    """Blocks in a pool = 2^(block prefix - pool prefix) (Calico docs, change-block-size)."""
    net = network(pool_cidr)
    family = "ipv4" if net.version == 4 else "ipv6"
    _valid_block(block_prefix, family)
    if block_prefix < net.prefixlen:
        raise ValueError(f"block /{block_prefix} is larger than the pool {net.cidr}")
    return int(2 ** (block_prefix - net.prefixlen))


def blocks_per_node(max_pods: int, block_prefix: int, family: str = "ipv4", extra_addresses: int = 0) -> int:
    """Blocks a node needs = ceil((max pods + extra addresses) / block size); 110 pods on /26 → 2.

    ``extra_addresses``: tunnel device addresses Calico also takes from the node's blocks (one per
    VXLAN, IP-in-IP or WireGuard device).
    """
    if isinstance(max_pods, bool) or not isinstance(max_pods, int) or max_pods < 1:
        raise ValueError(f"max pods per node must be a positive integer, got {max_pods!r}")
    return math.ceil((max_pods + extra_addresses) / block_addresses(block_prefix, family))


@dataclass(frozen=True)
class IpamCapacity:
    pool: str
    block_prefix: int
    block_addresses: int
    blocks: int
    blocks_per_node: int
    nodes: int
    nodes_fit: int
    nodes_more: int
    violations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def ipam_capacity(pool_cidr: str, block_prefix: int, max_pods: int = MAX_PODS_PER_NODE, nodes: int = 0, *,
                  extra_addresses: int = 0, max_blocks_per_host: int = MAX_BLOCKS_PER_HOST,
                  strict_affinity: bool = False, min_headroom_percent: int = 0) -> IpamCapacity:
    """How many nodes the pool holds, how many more can join, and the rules the numbers break."""
    net = network(pool_cidr)
    family = "ipv4" if net.version == 4 else "ipv6"
    blocks = pool_blocks(pool_cidr, block_prefix)
    size = block_addresses(block_prefix, family)
    per_node = blocks_per_node(max_pods, block_prefix, family, extra_addresses)
    fit = blocks // per_node
    violations: list[str] = []
    warnings: list[str] = []
    if per_node > max_blocks_per_host:
        msg = (f"a node needs {per_node} blocks of /{block_prefix} for {max_pods} pods, above maxBlocksPerHost "
               f"{max_blocks_per_host}")
        if strict_affinity:
            violations.append(msg + "; with strictAffinity pods beyond that get no address")
        else:
            warnings.append(msg + "; pods beyond that borrow addresses from other nodes' blocks (/32 routes)")
    if nodes > fit:
        violations.append(f"pool {net.cidr} holds {fit} nodes ({blocks} blocks of /{block_prefix}, {per_node} per "
                          f"node) but the cluster has {nodes}")
    elif nodes and (fit - nodes) * 100 < nodes * min_headroom_percent:
        warnings.append(f"pool {net.cidr} fits only {fit - nodes} more nodes (< {min_headroom_percent}% headroom "
                        f"over {nodes})")
    return IpamCapacity(pool=str(net.cidr), block_prefix=block_prefix, block_addresses=size, blocks=blocks,
                        blocks_per_node=per_node, nodes=nodes, nodes_fit=fit, nodes_more=max(fit - nodes, 0),
                        violations=violations, warnings=warnings)


def block_change_problems(planned: int, deployed: int | None, family: str = "ipv4") -> list[str]:
    """A block size that differs from the deployed one is an error: it cannot change after install."""
    if deployed is None or deployed == planned:
        return []
    return [f"{family} block size /{planned} differs from the deployed /{deployed}; Calico cannot change the block "
            "size of a pool in place (only by migrating to a temporary pool), so keep /"
            f"{deployed}"]


def kubernetes_limit_problems(nodes: int, max_pods: int) -> tuple[list[str], list[str]]:
    """(violations, warnings) against the tested Kubernetes limits: ≤110 pods/node, ≤5,000 nodes, ≤150,000 pods."""
    violations: list[str] = []
    warnings: list[str] = []
    if max_pods > MAX_PODS_PER_NODE:
        violations.append(f"max pods per node {max_pods} is above the Kubernetes limit of {MAX_PODS_PER_NODE}")
    if nodes > MAX_NODES:
        violations.append(f"{nodes} nodes is above the Kubernetes limit of {MAX_NODES:,} nodes per cluster")
    if nodes * max_pods > MAX_PODS:
        # Capacity, not load: a warning, since the scheduler may never fill every slot.
        warnings.append(f"{nodes} nodes x {max_pods} pods can schedule {nodes * max_pods:,} pods, above the "
                        f"Kubernetes limit of {MAX_PODS:,} per cluster; keep the workload below it")
    return violations, warnings


def service_range_problems(cidr: str) -> list[str]:
    net = network(cidr)
    bits = (32 if net.version == 4 else 128) - net.prefixlen
    if bits > SERVICE_MAX_HOST_BITS:
        return [f"service range {net.cidr} has {bits} host bits; kube-apiserver allows at most "
                f"{SERVICE_MAX_HOST_BITS} (/12 for IPv4, /108 for IPv6)"]
    return []


def pool_prefix_for(nodes: int, blocks_needed_per_node: int, block_prefix: int) -> int:
    """The longest pool prefix whose blocks hold ``nodes`` nodes of ``blocks_needed_per_node`` blocks each."""
    blocks = max(1, nodes * blocks_needed_per_node)
    return block_prefix - math.ceil(math.log2(blocks))


def propose_free(supernets: Sequence[str], taken: Iterable[str], prefix_length: int) -> str | None:
    """The first free ``/prefix_length`` in ``supernets`` that overlaps nothing in ``taken``; None if full."""
    used = netaddr.IPSet()
    for t in taken:
        used.add(netaddr.IPNetwork(t).cidr)
    for s in supernets:
        sup = network(s)
        if prefix_length < sup.prefixlen or prefix_length > (32 if sup.version == 4 else 128):
            continue
        free = netaddr.IPSet([sup]) - used
        for cidr in free.iter_cidrs():
            if cidr.prefixlen <= prefix_length:
                return str(next(cidr.subnet(prefix_length)))
    return None


@dataclass(frozen=True)
class NamedPrefix:
    """A prefix in the overlap check.

    ``checked``: a pod pool or service range, which must overlap nothing else in its VRF.
    ``supernet``: a container (the DC aggregate, role datacenter or aggregate, status container),
    which may contain checked prefixes.
    """

    cidr: str
    vrf: str | None
    label: str
    checked: bool = False
    supernet: bool = False
    local: bool = True  # of the site being planned (or global): an overlap it is in concerns that site


def overlap_pairs(prefixes: Sequence[NamedPrefix]) -> list[tuple[NamedPrefix, NamedPrefix]]:
    """Every overlap of a pod pool or service range with another prefix in the same VRF, as pairs.

    Prefixes in different VRFs never clash (separate routing domains); a supernet that contains a
    checked prefix is its parent, not a clash. Node networks that overlap each other are not reported:
    clusters of one DC may share an underlay subnet.
    """
    nets = [(p, network(p.cidr)) for p in prefixes]
    clashes: set[tuple[int, int]] = set()
    # Only pairs with a checked side matter: O(checked x all), not O(all^2), for a NetBox of many sites.
    for i, (a, na) in enumerate(nets):
        if not a.checked:
            continue
        for j, (b, nb) in enumerate(nets):
            if j == i or a.vrf != b.vrf or na.version != nb.version or na.first > nb.last or nb.first > na.last:
                continue
            if b.supernet and nb.prefixlen < na.prefixlen:
                continue
            clashes.add((min(i, j), max(i, j)))
    return [(nets[i][0], nets[j][0]) for i, j in sorted(clashes)]


def describe_overlap(a: NamedPrefix, b: NamedPrefix) -> str:
    return f"{a.label} overlaps {b.label} in VRF {a.vrf or 'global'}"


def overlaps(prefixes: Sequence[NamedPrefix]) -> list[str]:
    """Every overlap (see :func:`overlap_pairs`), described."""
    return [describe_overlap(a, b) for a, b in overlap_pairs(prefixes)]
