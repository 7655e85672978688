"""Ansible filters over pyctl.plan: the same rule functions pyctl runs, for plain Ansible users.

Each filter has its own DOCUMENTATION / EXAMPLES / RETURN in ``FILTER_DOCS``; the module-level
strings describe the file. Bad input raises AnsibleFilterError with the rule's message.
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

DOCUMENTATION = r"""
name: pyctl_plan
short_description: pyctl plan rules as filters (overlay MTU, Calico IPAM, etcd timing and quota, apiserver sizing)
version_added: "0.1.0"
author: pyctl maintainers
description:
  - Exposes the pure functions of C(pyctl.plan) as Jinja2 filters. Each filter is documented in
    C(FILTER_DOCS) of this file; the values are the ones C(pyctl plan) computes.
requirements:
  - the pyctl Python package (importable, or this file inside a pyctl checkout)
  - netaddr
"""

EXAMPLES = r"""
- name: veth MTU for VXLAN over a 9000-byte underlay
  ansible.builtin.debug:
    msg: "{{ 9000 | pyctl_veth_mtu(['vxlan']) }}"  # 8950
"""

RETURN = r"""
_value:
  description: Depends on the filter; see FILTER_DOCS.
  type: raw
"""

FILTER_DOCS: dict[str, dict[str, str]] = {
    "pyctl_encapsulation_overhead": {
        "DOCUMENTATION": r"""
name: pyctl_encapsulation_overhead
short_description: bytes a Calico encapsulation adds
description:
  - IP-in-IP 20; VXLAN 50 over IPv4, 70 over IPv6; WireGuard 60 over IPv4, 80 over IPv6; none 0
    (Calico docs, networking/configuring/mtu).
positional: _input, family
options:
  _input:
    description: Encapsulation.
    type: str
    choices: [ipip, vxlan, wireguard, none]
    required: true
  family:
    description: Outer IP family.
    type: str
    choices: [ipv4, ipv6]
    default: ipv4
""",
        "EXAMPLES": r"""
- ansible.builtin.debug:
    msg: "{{ 'vxlan' | pyctl_encapsulation_overhead('ipv6') }}"  # 70
""",
        "RETURN": r"""
_value:
  description: Overhead in bytes.
  type: int
""",
    },
    "pyctl_veth_mtu": {
        "DOCUMENTATION": r"""
name: pyctl_veth_mtu
short_description: workload (veth) and tunnel MTU for Calico
description:
  - Underlay MTU minus the largest overhead of the encapsulations in use; with several in use the
    smallest MTU wins (Calico docs, networking/configuring/mtu).
positional: _input, encapsulations, families
options:
  _input:
    description: Underlay MTU (the smallest pod-traffic NIC MTU on the path).
    type: int
    required: true
  encapsulations:
    description: Encapsulations in use.
    type: list
    elements: str
    default: [vxlan]
  families:
    description: IP families of the pools (a tunnel per family).
    type: list
    elements: str
    default: [ipv4]
  ebpf:
    description: eBPF data plane (VXLAN for NodePort traffic counts).
    type: bool
    default: false
""",
        "EXAMPLES": r"""
- ansible.builtin.debug:
    msg: "{{ 1500 | pyctl_veth_mtu(['wireguard', 'vxlan']) }}"  # 1440
- ansible.builtin.debug:
    msg: "{{ 9000 | pyctl_veth_mtu(['vxlan'], ['ipv6']) }}"  # 8930
""",
        "RETURN": r"""
_value:
  description: The veth MTU (the tunnel device MTU is the same).
  type: int
""",
    },
    "pyctl_underlay_mtu": {
        "DOCUMENTATION": r"""
name: pyctl_underlay_mtu
short_description: a cluster's underlay MTU from its nodes' pod-traffic NIC MTUs
description:
  - The smallest NIC MTU (or the path MTU when smaller); nodes whose MTU differs from their peers are
    findings (Calico docs, networking/configuring/mtu).
positional: _input, path_mtu
options:
  _input:
    description: Node name to pod-traffic NIC MTU.
    type: dict
    required: true
  path_mtu:
    description: Smallest MTU on the switched path, when known.
    type: int
""",
        "EXAMPLES": r"""
- ansible.builtin.debug:
    msg: >-
      {{ dict(groups['cluster_gpu_a']
              | zip(groups['cluster_gpu_a'] | map('extract', hostvars, 'pyctl_underlay_mtu')))
         | pyctl_underlay_mtu }}
""",
        "RETURN": r"""
_value:
  description: underlay_mtu (int) and findings (list of str).
  type: dict
""",
    },
    "pyctl_felix_encapsulation": {
        "DOCUMENTATION": r"""
name: pyctl_felix_encapsulation
short_description: FelixConfiguration tunnel switches for the encapsulations in use
description:
  - ipipEnabled, vxlanEnabled, wireguardEnabled, wireguardEnabledV6; the ones not in use are false so
    Calico's MTU auto-detection does not pick a smaller MTU (Calico docs, networking/configuring/mtu).
positional: _input, families
options:
  _input:
    description: Encapsulations in use.
    type: list
    elements: str
    required: true
  families:
    description: IP families of the pools.
    type: list
    elements: str
    default: [ipv4]
""",
        "EXAMPLES": r"""
- ansible.builtin.debug:
    msg: "{{ ['wireguard'] | pyctl_felix_encapsulation(['ipv4', 'ipv6']) }}"
""",
        "RETURN": r"""
_value:
  description: FelixConfiguration field to bool.
  type: dict
""",
    },
    "pyctl_ipam_blocks": {
        "DOCUMENTATION": r"""
name: pyctl_ipam_blocks
short_description: Calico IPAM blocks in a pool, blocks per node, nodes that fit
description:
  - Blocks = 2^(block prefix - pool prefix); blocks per node = ceil((max pods + extra addresses) / block
    size); nodes that fit and how many more can join (Calico docs, networking/ipam/change-block-size).
positional: _input, block_size, max_pods, nodes
options:
  _input:
    description: Pool CIDR.
    type: str
    required: true
  block_size:
    description: Block prefix length (IPv4 /20-/32, IPv6 /116-/128).
    type: int
    default: 26
  max_pods:
    description: Pods per node.
    type: int
    default: 110
  nodes:
    description: Nodes in the cluster today.
    type: int
    default: 0
  extra_addresses:
    description: Tunnel device addresses per node taken from the pool.
    type: int
    default: 0
  max_blocks_per_host:
    description: IPAMConfiguration maxBlocksPerHost.
    type: int
    default: 20
  strict_affinity:
    description: IPAMConfiguration strictAffinity.
    type: bool
    default: false
""",
        "EXAMPLES": r"""
- ansible.builtin.debug:
    msg: "{{ '10.100.0.0/16' | pyctl_ipam_blocks(26, 110, 400) }}"
""",
        "RETURN": r"""
_value:
  description: pool, block_prefix, block_addresses, blocks, blocks_per_node, nodes, nodes_fit, nodes_more,
    violations, warnings.
  type: dict
""",
    },
    "pyctl_prefix_overlaps": {
        "DOCUMENTATION": r"""
name: pyctl_prefix_overlaps
short_description: overlaps of pod pools and service ranges with other prefixes of the same VRF
description:
  - A pod pool or service range (checked) must not overlap any other prefix in its VRF, except a
    supernet that contains it; prefixes of different VRFs never clash.
positional: _input
options:
  _input:
    description: Prefixes, each a dict with cidr, vrf, label, checked (bool) and supernet (bool).
    type: list
    elements: dict
    required: true
""",
        "EXAMPLES": r"""
- ansible.builtin.assert:
    that: >-
      [{'cidr': '10.100.0.0/16', 'vrf': 'prod', 'label': 'pods', 'checked': true},
       {'cidr': '10.100.8.0/24', 'vrf': 'prod', 'label': 'storage'}] | pyctl_prefix_overlaps | length == 1
""",
        "RETURN": r"""
_value:
  description: One message per overlapping pair.
  type: list
  elements: str
""",
    },
    "pyctl_propose_prefix": {
        "DOCUMENTATION": r"""
name: pyctl_propose_prefix
short_description: the first free prefix of a length inside supernets
positional: _input, taken, prefix_length
options:
  _input:
    description: Supernets to take from, in order.
    type: list
    elements: str
    required: true
  taken:
    description: Prefixes already in use.
    type: list
    elements: str
    required: true
  prefix_length:
    description: Length of the prefix wanted.
    type: int
    required: true
""",
        "EXAMPLES": r"""
- ansible.builtin.debug:
    msg: "{{ ['10.0.0.0/8'] | pyctl_propose_prefix(['10.0.0.0/16'], 16) }}"  # 10.1.0.0/16
""",
        "RETURN": r"""
_value:
  description: The free prefix, or None when none is left.
  type: str
""",
    },
    "pyctl_etcd_timing": {
        "DOCUMENTATION": r"""
name: pyctl_etcd_timing
short_description: etcd heartbeat interval and election timeout from the RTT between members
description:
  - Heartbeat = max(RTT, 100 ms); election = 10 x heartbeat, at least 10 x RTT, at most 50,000 ms.
    Given values are checked - heartbeat >= 0.5 x RTT, election >= 10 x RTT, >= 5 x heartbeat,
    <= 50,000 ms (etcd docs v3.5, op-guide/tuning).
positional: _input, heartbeat_ms, election_timeout_ms
options:
  _input:
    description: Max measured RTT between members, in ms.
    type: float
    required: true
  heartbeat_ms:
    description: A heartbeat interval to check instead of computing one.
    type: int
  election_timeout_ms:
    description: An election timeout to check instead of computing one.
    type: int
""",
        "EXAMPLES": r"""
- ansible.builtin.debug:
    msg: "{{ 250 | pyctl_etcd_timing }}"  # heartbeat_ms 250, election_timeout_ms 2500
""",
        "RETURN": r"""
_value:
  description: heartbeat_ms, election_timeout_ms, rtt_ms, violations.
  type: dict
""",
    },
    "pyctl_etcd_quota": {
        "DOCUMENTATION": r"""
name: pyctl_etcd_quota
short_description: etcd --quota-backend-bytes from the expected object volume
description:
  - Twice the expected data, rounded up to GiB, at least the 2 GiB default; warns above the suggested
    8 GiB maximum (etcd docs v3.5, dev-guide/limit).
positional: _input, object_bytes, quota_gib
options:
  _input:
    description: Expected objects.
    type: int
    required: true
  object_bytes:
    description: Average object size.
    type: int
    default: 8192
  quota_gib:
    description: A quota to check instead of computing one.
    type: float
""",
        "EXAMPLES": r"""
- ansible.builtin.debug:
    msg: "{{ 600000 | pyctl_etcd_quota }}"
""",
        "RETURN": r"""
_value:
  description: quota_bytes, expected_bytes, warnings.
  type: dict
""",
    },
    "pyctl_etcd_members": {
        "DOCUMENTATION": r"""
name: pyctl_etcd_members
short_description: checks an etcd member list (3 or 5; never even; 7 at most)
positional: _input
options:
  _input:
    description: Member names.
    type: list
    elements: str
    required: true
""",
        "EXAMPLES": r"""
- ansible.builtin.assert:
    that: (groups['role_etcd'] | pyctl_etcd_members).violations == []
""",
        "RETURN": r"""
_value:
  description: violations and warnings (lists of str).
  type: dict
""",
    },
    "pyctl_apiserver_sizing": {
        "DOCUMENTATION": r"""
name: pyctl_apiserver_sizing
short_description: kube-apiserver replicas and requests for a cluster of N nodes
description:
  - Requests per replica from the control-plane machine size for the node count (Kubernetes docs,
    setup/best-practices/cluster-large, GCE sizes).
positional: _input, replicas
options:
  _input:
    description: Nodes of the workload cluster.
    type: int
    required: true
  replicas:
    description: kube-apiserver replicas.
    type: int
    default: 3
""",
        "EXAMPLES": r"""
- ansible.builtin.debug:
    msg: "{{ 5000 | pyctl_apiserver_sizing }}"  # 32 vCPU, 122880 MiB per replica
""",
        "RETURN": r"""
_value:
  description: replicas, cpu_millicores, memory_mib, reason.
  type: dict
""",
    },
}


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
