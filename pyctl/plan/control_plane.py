"""Hosted control planes: kube-apiserver replicas and requests per workload cluster, and their placement.

Sizing source: Kubernetes docs, setup/best-practices/cluster-large, "Size of control plane
components" — the GCE control-plane machine per node count (n1-standard-N: N vCPU, 3.75 GB per vCPU).
Replicas: HyperShift's HighlyAvailable policy runs 3 kube-apiservers on distinct management hosts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SOURCE_SIZING = "Kubernetes docs: setup/best-practices/cluster-large (control-plane size by node count, GCE)"
SOURCE_REPLICAS = "HyperShift: HighlyAvailable control plane (3 kube-apiserver replicas on distinct hosts)"
SOURCE_UNIT = ("systemd.resource-control(5): CPUWeight= (1–10000, default 100), MemoryLow= (memory kept from "
               "reclaim while the unit uses less)")
# systemd's default CPUWeight, that of one ordinary service: one requested CPU weighs as much.
WEIGHT_PER_CPU = 100

# Kubernetes docs, cluster-large: nodes up to N → n1-standard-<vCPU> (GCE); None: "more than 500".
SIZE_TIERS: tuple[tuple[int | None, int], ...] = ((5, 1), (10, 2), (100, 4), (250, 8), (500, 16), (None, 32))
# n1-standard machines: 3.75 GB per vCPU.
MIB_PER_VCPU = 3840


@dataclass(frozen=True)
class ApiserverSizing:
    nodes: int
    replicas: int
    cpu_millicores: int
    memory_mib: int
    reason: str


def apiserver_sizing(nodes: int, replicas: int = 3) -> ApiserverSizing:
    """Per-replica requests from the node count: the control-plane machine size for that many nodes.

    Each replica requests a whole machine's worth: during a rolling upgrade or a host failure the
    remaining replicas carry the cluster.
    """
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 0:
        raise ValueError(f"nodes must be a non-negative integer, got {nodes!r}")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ValueError(f"replicas must be a positive integer, got {replicas!r}")
    limit, vcpu = next((lim, v) for lim, v in SIZE_TIERS if lim is None or nodes <= lim)
    tier = f"≤{limit} nodes" if limit is not None else ">500 nodes"
    return ApiserverSizing(nodes=nodes, replicas=replicas, cpu_millicores=vcpu * 1000, memory_mib=vcpu * MIB_PER_VCPU,
                           reason=f"{nodes} nodes: {tier} → n1-standard-{vcpu} ({vcpu} vCPU, {vcpu * 3.75:g} GB)")


def unit_resources(s: ApiserverSizing) -> dict[str, int | str]:
    """The request as resource control on the replica's kube-apiserver unit (the hosted control planes
    are systemd services, not pods): ``CPUWeight`` in proportion to the CPU request, one CPU weighing as
    much as an ordinary service (systemd's default 100), so under contention the replicas on a host share
    it as their requests do, and ``MemoryLow`` the memory request, which the kernel keeps from reclaim as
    a scheduler keeps a request reserved. Neither is a limit: a replica may use more when the host has it."""
    weight = max(1, min(10000, round(s.cpu_millicores * WEIGHT_PER_CPU / 1000)))
    return {"cpu_weight": weight, "memory_low": f"{s.memory_mib}M"}


def place_control_planes(tenants: Mapping[str, ApiserverSizing], hosts: Sequence[str]) -> dict[str, list[str]]:
    """Which control-plane hosts carry each tenant's replicas: distinct hosts, least loaded first.

    Tenants are placed largest first; ties go to the host named first, so the result is stable.
    A tenant with more replicas than hosts gets every host (the caller reports the shortfall).
    """
    load = {h: 0 for h in hosts}
    out: dict[str, list[str]] = {}
    for name in sorted(tenants, key=lambda t: (-tenants[t].cpu_millicores, t)):
        s = tenants[name]
        chosen = sorted(load, key=lambda h: (load[h], h))[: s.replicas]
        for h in chosen:
            load[h] += s.cpu_millicores
        out[name] = sorted(chosen)
    return {name: out[name] for name in sorted(out)}


def host_fit_problems(placement: Mapping[str, Sequence[str]], tenants: Mapping[str, ApiserverSizing],
                      host_cpu: float | None, host_ram_gib: float | None) -> list[str]:
    """Hosts whose apiserver requests exceed their capacity (checked only when the capacity is given)."""
    cpu: dict[str, int] = {}
    mem: dict[str, int] = {}
    for name, hosts in placement.items():
        for h in hosts:
            cpu[h] = cpu.get(h, 0) + tenants[name].cpu_millicores
            mem[h] = mem.get(h, 0) + tenants[name].memory_mib
    problems = []
    for h in sorted(cpu):
        if host_cpu is not None and cpu[h] > host_cpu * 1000:
            problems.append(f"control-plane host {h}: kube-apiserver requests {cpu[h] / 1000:g} vCPU, "
                            f"above its {host_cpu:g}")
        if host_ram_gib is not None and mem[h] > host_ram_gib * 1024:
            problems.append(f"control-plane host {h}: kube-apiserver requests {mem[h] / 1024:g} GiB memory, "
                            f"above its {host_ram_gib:g} GiB")
    return problems
