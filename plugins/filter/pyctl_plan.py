"""Ansible filters over pyctl.plan: the same rule functions pyctl runs, for plain Ansible users.

Each filter's DOCUMENTATION / EXAMPLES / RETURN is in plugins/filter/<filter name>.yml, which
ansible-doc -t filter <filter name> shows. Bad input raises AnsibleFilterError with the rule's message.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

try:
    from pyctl.ansible_filters import as_filter
    from pyctl.plan import control_plane, etcd, ipam, mtu
except ImportError:  # run from a checkout without pyctl installed: the package sits two levels up
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from pyctl.ansible_filters import as_filter
    from pyctl.plan import control_plane, etcd, ipam, mtu


def pyctl_encapsulation_overhead(encapsulation: str, family: str = "ipv4") -> int:
    return mtu.encapsulation_overhead(encapsulation, family)


def pyctl_veth_mtu(underlay_mtu: int, encapsulations: Sequence[str] = ("vxlan",),
                   families: Sequence[str] = ("ipv4",), ebpf: bool = False) -> int:
    return mtu.veth_mtu(underlay_mtu, encapsulations, families, ebpf=ebpf)


def pyctl_underlay_mtu(nic_mtus: Mapping[str, int], path_mtu: int | None = None) -> dict[str, Any]:
    value, findings = mtu.underlay_mtu(nic_mtus, path_mtu)
    return {"underlay_mtu": value, "findings": findings}


def pyctl_felix_encapsulation(encapsulations: Sequence[str], families: Sequence[str] = ("ipv4",)) -> dict[str, bool]:
    return mtu.felix_encapsulation(encapsulations, families)


def pyctl_ipam_blocks(pool_cidr: str, block_size: int = 26, max_pods: int = 110, nodes: int = 0, *,
                      extra_addresses: int = 0, max_blocks_per_host: int = 20,
                      strict_affinity: bool = False) -> dict[str, Any]:
    cap = ipam.ipam_capacity(pool_cidr, block_size, max_pods, nodes, extra_addresses=extra_addresses,
                             max_blocks_per_host=max_blocks_per_host, strict_affinity=strict_affinity)
    return {
        "pool": cap.pool, "block_prefix": cap.block_prefix, "block_addresses": cap.block_addresses,
        "blocks": cap.blocks, "blocks_per_node": cap.blocks_per_node, "nodes": cap.nodes, "nodes_fit": cap.nodes_fit,
        "nodes_more": cap.nodes_more, "violations": cap.violations, "warnings": cap.warnings,
    }


def pyctl_prefix_overlaps(prefixes: Sequence[Mapping[str, Any]]) -> list[str]:
    named = [ipam.NamedPrefix(cidr=p["cidr"], vrf=p.get("vrf"), label=p.get("label") or p["cidr"],
                              checked=bool(p.get("checked")), supernet=bool(p.get("supernet"))) for p in prefixes]
    return ipam.overlaps(named)


def pyctl_propose_prefix(supernets: Sequence[str], taken: Sequence[str], prefix_length: int) -> str | None:
    return ipam.propose_free(supernets, taken, prefix_length)


def pyctl_etcd_timing(rtt_ms: float, heartbeat_ms: int | None = None,
                      election_timeout_ms: int | None = None) -> dict[str, Any]:
    t = etcd.etcd_timing(rtt_ms, heartbeat_ms, election_timeout_ms)
    return {"heartbeat_ms": t.heartbeat_ms, "election_timeout_ms": t.election_timeout_ms, "rtt_ms": t.rtt_ms,
            "violations": t.violations}


def pyctl_etcd_quota(expected_objects: int, object_bytes: int = 8192, quota_gib: float | None = None) -> dict[str, Any]:
    q = etcd.etcd_quota(expected_objects, object_bytes, quota_gib)
    return {"quota_bytes": q.quota_bytes, "expected_bytes": q.expected_bytes, "warnings": q.warnings}


def pyctl_etcd_members(members: Sequence[str]) -> dict[str, list[str]]:
    violations, warnings = etcd.member_problems(list(members))
    return {"violations": violations, "warnings": warnings}


def pyctl_apiserver_sizing(nodes: int, replicas: int = 3) -> dict[str, Any]:
    s = control_plane.apiserver_sizing(nodes, replicas)
    return {"replicas": s.replicas, "cpu_millicores": s.cpu_millicores, "memory_mib": s.memory_mib,
            "reason": s.reason}


FILTERS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (pyctl_encapsulation_overhead, pyctl_veth_mtu, pyctl_underlay_mtu, pyctl_felix_encapsulation,
              pyctl_ipam_blocks, pyctl_prefix_overlaps, pyctl_propose_prefix, pyctl_etcd_timing, pyctl_etcd_quota,
              pyctl_etcd_members, pyctl_apiserver_sizing)
}


class FilterModule:
    """pyctl plan rules as Jinja2 filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {name: as_filter(f) for name, f in FILTERS.items()}
