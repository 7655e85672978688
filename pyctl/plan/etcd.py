"""etcd for the hosted control planes: members, timing, quota, events split, RAM.

Sources: etcd docs v3.5 (op-guide/tuning, op-guide/hardware, dev-guide/limit, FAQ) and the
Kamaji/HyperShift reference settings, as summarised in RULES.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

SOURCE_TUNING = "etcd docs v3.5: op-guide/tuning"
SOURCE_LIMITS = "etcd docs v3.5: dev-guide/limit"
SOURCE_HARDWARE = "etcd docs v3.5: op-guide/hardware"
SOURCE_FAQ = "etcd docs v3.5: FAQ (cluster size)"
SOURCE_HOSTED = "Kamaji and HyperShift etcd settings (RULES.md)"

GIB = 1024**3

# etcd tuning: default heartbeat 100 ms, election timeout 1000 ms (10x heartbeat); election ≤ 50,000 ms.
DEFAULT_HEARTBEAT_MS = 100
ELECTION_PER_HEARTBEAT = 10
MAX_ELECTION_TIMEOUT_MS = 50_000
# etcd tuning: heartbeat ≈ RTT (0.5-1.5x); election ≥ 10x RTT and, in practice, ≥ 5x heartbeat.
MIN_HEARTBEAT_PER_RTT = 0.5
MIN_ELECTION_PER_RTT = 10
MIN_ELECTION_PER_HEARTBEAT = 5

# etcd limits: --quota-backend-bytes default 2 GiB; 8 GiB is the suggested maximum (etcd warns above it).
DEFAULT_QUOTA_BYTES = 2 * GIB
MAX_SUGGESTED_QUOTA_BYTES = 8 * GIB
# pyctl estimate: MVCC keeps old revisions until compaction, and the file keeps free pages until defrag,
# so the backend needs about twice the live data.
QUOTA_HEADROOM = 2
# pyctl estimate of objects a node brings besides its Pods: Node, Lease, CSINode, CSRs, DaemonSet
# endpoints and the like.
OBJECTS_PER_NODE = 10

# etcd FAQ: 3 or 5 members; 7 at most.
MAX_MEMBERS = 7

# etcd hardware guide: ~1,000 Kubernetes nodes → 8 vCPU / 32 GB; ~3,000 nodes → 16 vCPU / 64 GB.
HARDWARE_TIERS = ((3000, 64), (1000, 32))

# The events etcd runs as a second member set on the same etcd hosts, on its own ports (pyctl choice;
# 2379/2380 are etcd's registered client/peer ports, 2381 is kubeadm's metrics port).
CLIENT_PORT = 2379
EVENTS_CLIENT_PORT = 2383
EVENTS_PEER_PORT = 2384

EVENTS_THRESHOLD_REASON = (
    "the etcd hardware guide steps up to 8 vCPU / 32 GB at ~1,000 Kubernetes nodes; Events are the "
    "highest-churn objects (1 h TTL), so above that tier they get their own etcd (Kubernetes large-cluster guide)"
)


def member_problems(members: Sequence[str]) -> tuple[list[str], list[str]]:
    """(violations, warnings) for an etcd of these members: 3 or 5 (7 at most), never an even count."""
    n = len(members)
    names = ", ".join(members)
    if n == 0:
        return ["no etcd members (hosts with role etcd)"], []
    if n % 2 == 0:
        return [f"{n} etcd members ({names}); an even count adds no fault tolerance — use 3 or 5"], []
    if n > MAX_MEMBERS:
        return [f"{n} etcd members; etcd supports at most {MAX_MEMBERS}"], []
    if n == 1:
        return [], [f"1 etcd member ({names}): no fault tolerance; use 3 or 5"]
    if n == MAX_MEMBERS:
        return [], [f"{n} etcd members: the most etcd supports, and every write waits for 4 of them; 5 is usual"]
    return [], []


def max_rtt(members: Sequence[str], measured: Mapping[tuple[str, str], float] | None,
            default_ms: float) -> tuple[float, bool]:
    """The largest measured RTT between any two ``members`` (either order of a pair), or the default.

    Returns (rtt_ms, measured). Pairs that name a host outside ``members`` are ignored.
    """
    wanted = set(members)
    rtts = [float(v) for (a, b), v in (measured or {}).items() if a in wanted and b in wanted and a != b]
    for v in rtts:
        if not math.isfinite(v) or v < 0:
            raise ValueError(f"measured RTT must be a non-negative number of milliseconds, got {v!r}")
    if not rtts:
        return default_ms, False
    return max(rtts), True


@dataclass(frozen=True)
class EtcdTiming:
    heartbeat_ms: int
    election_timeout_ms: int
    rtt_ms: float
    heartbeat_reason: str
    election_reason: str
    violations: list[str] = field(default_factory=list)


def etcd_timing(rtt_ms: float, heartbeat_ms: int | None = None, election_timeout_ms: int | None = None) -> EtcdTiming:
    """Heartbeat and election timeout for members ``rtt_ms`` apart (etcd tuning guide).

    Computed: heartbeat = max(RTT, etcd's 100 ms default) — below 100 ms a LAN gains nothing and pays in
    CPU; election = 10 x heartbeat (etcd's default ratio), at least 10 x RTT, capped at 50,000 ms when
    the floors allow. Given values are checked against the same rules: heartbeat ≥ 0.5 x RTT, election
    ≥ 10 x RTT, ≥ 5 x heartbeat, ≤ 50,000 ms.
    """
    if isinstance(rtt_ms, bool) or not isinstance(rtt_ms, int | float) or not math.isfinite(rtt_ms) or rtt_ms < 0:
        raise ValueError(f"RTT must be a non-negative number of milliseconds, got {rtt_ms!r}")
    violations: list[str] = []
    if heartbeat_ms is None:
        hb = max(DEFAULT_HEARTBEAT_MS, math.ceil(rtt_ms))
        hb_reason = (f"≈ max RTT {rtt_ms:g} ms" if hb > DEFAULT_HEARTBEAT_MS else
                     f"max RTT {rtt_ms:g} ms is below etcd's default {DEFAULT_HEARTBEAT_MS} ms; keep the default")
    else:
        hb = heartbeat_ms
        hb_reason = f"set in pyctl_plan (max RTT {rtt_ms:g} ms)"
        if hb < MIN_HEARTBEAT_PER_RTT * rtt_ms:
            violations.append(f"heartbeat interval {hb} ms is below half the max RTT {rtt_ms:g} ms between members")
    floor = max(math.ceil(MIN_ELECTION_PER_RTT * rtt_ms), MIN_ELECTION_PER_HEARTBEAT * hb)
    if election_timeout_ms is None:
        election = max(ELECTION_PER_HEARTBEAT * hb, math.ceil(MIN_ELECTION_PER_RTT * rtt_ms))
        el_reason = f"10 x heartbeat {hb} ms (etcd's default ratio), ≥ 10 x RTT {rtt_ms:g} ms"
        if election > MAX_ELECTION_TIMEOUT_MS and floor <= MAX_ELECTION_TIMEOUT_MS:
            election = MAX_ELECTION_TIMEOUT_MS
            el_reason = f"capped at etcd's maximum {MAX_ELECTION_TIMEOUT_MS:,} ms (floor {floor:,} ms still met)"
        elif election > MAX_ELECTION_TIMEOUT_MS:
            violations.append(f"max RTT {rtt_ms:g} ms needs an election timeout of at least {floor:,} ms, above "
                              f"etcd's maximum {MAX_ELECTION_TIMEOUT_MS:,} ms; the members are too far apart")
    else:
        election = election_timeout_ms
        el_reason = "set in pyctl_plan"
        if election > MAX_ELECTION_TIMEOUT_MS:
            violations.append(f"election timeout {election:,} ms is above etcd's maximum "
                              f"{MAX_ELECTION_TIMEOUT_MS:,} ms")
        if election < MIN_ELECTION_PER_RTT * rtt_ms:
            violations.append(f"election timeout {election:,} ms is below 10 x the max RTT {rtt_ms:g} ms")
        if election < MIN_ELECTION_PER_HEARTBEAT * hb:
            violations.append(f"election timeout {election:,} ms is below 5 x the heartbeat interval {hb} ms")
    return EtcdTiming(heartbeat_ms=hb, election_timeout_ms=election, rtt_ms=float(rtt_ms), heartbeat_reason=hb_reason,
                      election_reason=el_reason, violations=violations)


def expected_objects(nodes: int, max_pods_per_node: int) -> int:
    """Estimated objects of a cluster: one Pod per pod slot plus per-node objects (pyctl estimate)."""
    return nodes * (max_pods_per_node + OBJECTS_PER_NODE)


@dataclass(frozen=True)
class EtcdQuota:
    quota_bytes: int
    expected_bytes: int
    reason: str
    warnings: list[str] = field(default_factory=list)


def etcd_quota(objects: int, object_bytes: int = 8192, quota_gib: float | None = None) -> EtcdQuota:
    """--quota-backend-bytes for ``objects`` objects of ``object_bytes`` average size.

    Computed: twice the live data (MVCC history and free pages), rounded up to whole GiB, never below
    etcd's 2 GiB default. Above 8 GiB (etcd's suggested maximum) it warns; a given quota below the
    estimate warns too (etcd raises NOSPACE and goes read-only when full).
    """
    if isinstance(objects, bool) or not isinstance(objects, int) or objects < 0:
        raise ValueError(f"expected objects must be a non-negative integer, got {objects!r}")
    expected = objects * object_bytes * QUOTA_HEADROOM
    warnings: list[str] = []
    if quota_gib is None:
        quota = max(DEFAULT_QUOTA_BYTES, math.ceil(expected / GIB) * GIB)
        reason = (f"{objects:,} objects x {object_bytes:,} B x {QUOTA_HEADROOM} (history, fragmentation) = "
                  f"{expected / GIB:.2f} GiB, rounded up, at least the 2 GiB default")
    else:
        quota = int(quota_gib * GIB)
        reason = "set in pyctl_plan"
        if quota < expected:
            warnings.append(f"etcd quota {quota / GIB:g} GiB is below the expected {expected / GIB:.2f} GiB; etcd "
                            "raises NOSPACE and turns read-only when it fills")
    if quota > MAX_SUGGESTED_QUOTA_BYTES:
        warnings.append(f"etcd quota {quota / GIB:g} GiB is above the suggested maximum of 8 GiB (etcd warns at "
                        "start); split Events into their own etcd or shard the tenants")
    return EtcdQuota(quota_bytes=quota, expected_bytes=expected, reason=reason, warnings=warnings)


def events_etcd_needed(nodes: int, threshold: int = 1000) -> bool:
    """Whether Events move to a separate etcd: above ``threshold`` nodes (see EVENTS_THRESHOLD_REASON)."""
    return nodes > threshold


def ram_problems(member_ram_gib: float | None, quota_bytes: int, nodes: int = 0) -> tuple[list[str], list[str]]:
    """(violations, warnings): member RAM must hold the quota (etcd maps the backend into memory);
    below the hardware guide's tier for ``nodes`` Kubernetes nodes is a warning."""
    if member_ram_gib is None:
        return [], []
    violations: list[str] = []
    warnings: list[str] = []
    if member_ram_gib * GIB < quota_bytes:
        violations.append(f"etcd member RAM {member_ram_gib:g} GiB is below the backend quota "
                          f"{quota_bytes / GIB:g} GiB (etcd hardware guide: RAM ≥ quota)")
    for tier_nodes, tier_gib in HARDWARE_TIERS:
        if nodes >= tier_nodes:
            if member_ram_gib < tier_gib:
                warnings.append(f"etcd member RAM {member_ram_gib:g} GiB is below the hardware guide's {tier_gib} GB "
                                f"for ~{tier_nodes:,} Kubernetes nodes ({nodes:,} here)")
            break
    return violations, warnings
