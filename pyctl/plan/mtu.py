"""Overlay MTU: underlay MTU from the pod-traffic NICs, veth/tunnel MTU, FelixConfiguration switches, and
which peers a path-MTU probe reaches.

Source for every number here: Calico docs, networking/configuring/mtu (summarised in RULES.md).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

SOURCE = "Calico docs: networking/configuring/mtu"

# Calico docs, networking/configuring/mtu: bytes of header each encapsulation adds, by outer IP family.
OVERHEAD: dict[tuple[str, str], int] = {
    ("ipip", "ipv4"): 20,
    ("vxlan", "ipv4"): 50,
    ("vxlan", "ipv6"): 70,
    ("wireguard", "ipv4"): 60,
    ("wireguard", "ipv6"): 80,
}
ENCAPSULATIONS = ("ipip", "vxlan", "wireguard")
FAMILIES = ("ipv4", "ipv6")

# FelixConfiguration fields that switch each tunnel on; one left on when unused lets Calico's MTU
# auto-detection pick a smaller MTU (Calico docs, networking/configuring/mtu).
FELIX_FIELDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ipipEnabled", "ipip", ("ipv4",)),
    ("vxlanEnabled", "vxlan", ("ipv4", "ipv6")),
    ("wireguardEnabled", "wireguard", ("ipv4",)),
    ("wireguardEnabledV6", "wireguard", ("ipv6",)),
)

# RFC 791: every IPv4 link carries 68 bytes; RFC 8200: every IPv6 link carries 1280.
MIN_MTU = {"ipv4": 68, "ipv6": 1280}
MAX_MTU = 65535


def _check_mtu(mtu: object, what: str) -> int:
    if isinstance(mtu, bool) or not isinstance(mtu, int) or not MIN_MTU["ipv4"] <= mtu <= MAX_MTU:
        raise ValueError(f"{what} must be an integer from {MIN_MTU['ipv4']} to {MAX_MTU}, got {mtu!r}")
    return mtu


def _families(families: Iterable[str]) -> tuple[str, ...]:
    fams = tuple(dict.fromkeys(families))
    for f in fams:
        if f not in FAMILIES:
            raise ValueError(f"unknown IP family {f!r} (known: {', '.join(FAMILIES)})")
    if not fams:
        raise ValueError("no IP family given")
    return fams


def _encapsulations(encapsulations: Iterable[str]) -> tuple[str, ...]:
    encs = tuple(e for e in dict.fromkeys(encapsulations) if e != "none")
    for e in encs:
        if e not in ENCAPSULATIONS:
            raise ValueError(f"unknown encapsulation {e!r} (known: {', '.join(ENCAPSULATIONS)}, none)")
    return encs


def encapsulation_overhead(encapsulation: str, family: str = "ipv4") -> int:
    """Bytes ``encapsulation`` adds over an outer ``family`` header: ipip 20; vxlan 50/70; wireguard 60/80; none 0."""
    if encapsulation == "none":
        return 0
    _encapsulations([encapsulation])
    _families([family])
    if (encapsulation, family) not in OVERHEAD:
        raise ValueError("ipip carries IPv4 only; Calico has no IP-in-IP for IPv6")
    return OVERHEAD[(encapsulation, family)]


def overheads(encapsulations: Iterable[str], families: Iterable[str] = ("ipv4",), *,
              ebpf: bool = False) -> dict[str, int]:
    """Overhead of each tunnel in use, keyed ``<encapsulation>/<family>``.

    IP-in-IP applies to IPv4 pools only (it is skipped for the IPv6 half of a dual-stack cluster, and
    an IPv6-only cluster with ipip is a ValueError). The eBPF data plane tunnels NodePort traffic in
    VXLAN, so VXLAN's overhead counts with eBPF even when no pool uses VXLAN.
    """
    encs = _encapsulations(encapsulations)
    fams = _families(families)
    if "ipip" in encs and "ipv4" not in fams:
        raise ValueError("ipip carries IPv4 only; an ipv6 cluster needs vxlan or wireguard")
    if ebpf and "vxlan" not in encs:
        encs = (*encs, "vxlan")
    return {f"{e}/{f}": OVERHEAD[(e, f)] for e in encs for f in fams if (e, f) in OVERHEAD}


def veth_mtu(underlay_mtu: int, encapsulations: Iterable[str], families: Iterable[str] = ("ipv4",), *,
             ebpf: bool = False) -> int:
    """Workload (veth) MTU: underlay minus the largest overhead in use (several in use: the smallest MTU wins).

    The tunnel device MTU is the same value. Examples (Calico docs): 1500 → ipip 1480, vxlan 1450,
    vxlan/IPv6 1430, wireguard 1440, wireguard/IPv6 1420; 9000 → 8980 / 8950 / 8930 / 8940 / 8920.
    """
    _check_mtu(underlay_mtu, "underlay MTU")
    per = overheads(encapsulations, families, ebpf=ebpf)
    return underlay_mtu - max(per.values(), default=0)


def underlay_mtu(nic_mtus: Mapping[str, int], path_mtu: int | None = None) -> tuple[int, list[str]]:
    """The underlay MTU of a cluster and the findings behind it.

    ``nic_mtus`` maps each node to the MTU of its pod-traffic NIC. The underlay is the smallest MTU on
    the path: the smallest NIC MTU, or ``path_mtu`` when the switched path is smaller still. A node
    whose MTU differs from its peers' (the MTU most nodes have) is a finding, never averaged away.
    """
    if not nic_mtus:
        raise ValueError("no node MTUs given")
    for node, mtu in nic_mtus.items():
        _check_mtu(mtu, f"MTU of {node}")
    findings: list[str] = []
    counts = Counter(nic_mtus.values())
    smallest = min(counts)
    if len(counts) > 1:
        common = max(counts, key=lambda m: (counts[m], m))
        for node in sorted(nic_mtus):
            if nic_mtus[node] != common:
                findings.append(f"node {node}: pod-traffic NIC MTU {nic_mtus[node]} differs from its peers' "
                                f"{common} ({counts[common]} nodes); the overlay uses the smallest, {smallest}")
    result = smallest
    if path_mtu is not None:
        _check_mtu(path_mtu, "path MTU")
        if path_mtu < smallest:
            findings.append(f"path MTU {path_mtu} is below the NIC MTU {smallest}: full-size frames would be "
                            "dropped silently while small pings pass; the overlay uses the path MTU")
            result = path_mtu
    return result, findings


def felix_encapsulation(encapsulations: Iterable[str], families: Iterable[str] = ("ipv4",)) -> dict[str, bool]:
    """FelixConfiguration tunnel switches: on for each encapsulation in use, off for the rest."""
    encs = _encapsulations(encapsulations)
    fams = _families(families)
    return {name: enc in encs and any(f in fams for f in for_fams) for name, enc, for_fams in FELIX_FIELDS}


@dataclass(frozen=True)
class MtuPlan:
    underlay_mtu: int
    veth_mtu: int
    tunnel_mtu: int | None  # None: no tunnel device (no encapsulation)
    overheads: dict[str, int]
    felix: dict[str, bool]
    findings: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def disable(self) -> list[str]:
        return [k for k, v in self.felix.items() if not v]


def plan_mtu(nic_mtus: Mapping[str, int], encapsulations: Iterable[str], families: Iterable[str] = ("ipv4",), *,
             ebpf: bool = False, path_mtu: int | None = None) -> MtuPlan:
    """The overlay MTU of one cluster from its nodes' pod-traffic NIC MTUs."""
    encs = _encapsulations(encapsulations)
    fams = _families(families)
    under, findings = underlay_mtu(nic_mtus, path_mtu)
    per = overheads(encs, fams, ebpf=ebpf)
    veth = under - max(per.values(), default=0)
    violations = []
    for f in fams:
        if veth < MIN_MTU[f]:
            violations.append(f"veth MTU {veth} is below the {f} minimum {MIN_MTU[f]} "
                              f"({'RFC 8200' if f == 'ipv6' else 'RFC 791'})")
    return MtuPlan(underlay_mtu=under, veth_mtu=veth, tunnel_mtu=veth if per else None, overheads=per,
                   felix=felix_encapsulation(encs, fams), findings=findings, violations=violations)


# --- path MTU: which peers each host probes -----------------------------------------------------------

# Full mesh up to this many hosts: N x (N - 1) probes, each ~1 ms when the path is good, 2 x 31 per host
# (underlay and overlay) at 32. Above it, each host probes the hosts 1, 2, 4, ... places after it in the sorted
# ring: log2(N) peers each, every host probed as often as it probes, and (names sorting by rack) the far
# offsets cross racks and spine paths, where a short uplink (RULES.md: 1472) hides. 3,000 hosts: 12 peers.
FULL_MESH_MAX_HOSTS = 32


def probe_peers(hosts: Sequence[str], host: str, full_mesh_max: int = FULL_MESH_MAX_HOSTS, *,
                racks: Mapping[str, str | None] | None = None) -> list[str]:
    """The peers ``host`` sends full-size don't-fragment probes to: all others up to ``full_mesh_max`` hosts,
    else its ring successors at offsets 1, 2, 4, ... (deterministic, so a failure reproduces). The ring is
    the hosts sorted by rack (``racks``: host -> rack, where known), then by name: the near offsets stay on
    the top-of-rack switch, the far ones cross racks and spine paths. The one peer rule: the smoke check
    (pyctl.smoke.checks.path_mtu) and the calico role's probe (filter pyctl_calico_probe_peers) both use it."""
    names = sorted(set(hosts), key=lambda n: ((racks or {}).get(n) or "", n))
    if host not in names:
        raise ValueError(f"{host} is not one of the {len(names)} hosts")
    i = names.index(host)
    n = len(names)
    if n <= full_mesh_max:
        return [names[(i + k) % n] for k in range(1, n)]
    offsets = [2 ** k for k in range(math.ceil(math.log2(n)))]
    return list(dict.fromkeys(names[(i + o) % n] for o in offsets if o % n))
