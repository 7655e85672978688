"""Per-DC plan policy: :class:`PlanSettings` and :func:`load_settings`.

The settings live in ``inventories/<dc>/group_vars/all/pyctl.yml`` under one nested mapping::

    pyctl_plan:
      encapsulations: [vxlan]          # ipip, vxlan, wireguard; [] or [none] for no overlay
      ip_family: ipv4                  # ipv4, ipv6 or dual
      block_size: 26
      etcd_rtt_ms: 1.0
      clusters:                        # per-cluster overrides of any key above
        gpu-a:
          deployed_block_size: 26

Anything outside ``pyctl_plan`` in that file is ignored here (it belongs to the roles). A key
that is not a setting is an error, so a typo cannot silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyctl.errors import ConfigError

SETTINGS_KEY = "pyctl_plan"

ENCAPSULATIONS = ("ipip", "vxlan", "wireguard")
IP_FAMILIES = ("ipv4", "ipv6", "dual")
DATAPLANES = ("iptables", "nftables", "ebpf")

# Calico docs (networking/ipam/change-block-size): IPv4 blocks /20-/32, IPv6 blocks /116-/128.
BLOCK_RANGE = {"ipv4": (20, 32), "ipv6": (116, 128)}


@dataclass(frozen=True)
class PlanSettings:
    """Per-DC policy the plan applies. Defaults name their source; ``clusters`` overrides per cluster."""

    # Overlay encapsulations in use; () means none (routed pod network, e.g. BGP).
    encapsulations: tuple[str, ...] = ("vxlan",)
    ip_family: str = "ipv4"
    # eBPF uses VXLAN for NodePort traffic between nodes: its overhead counts even without a VXLAN pool
    # (Calico docs, networking/configuring/mtu).
    dataplane: str = "iptables"
    # The smallest MTU on the switched path between nodes, when known and below the NICs' (e.g. an uplink at
    # 1472); None: the path carries the NIC MTU.
    path_mtu: int | None = None
    # Calico default block: 64 addresses, /26 IPv4 and /122 IPv6 (Calico docs, IPAM block size).
    block_size: int = 26
    block_size_v6: int = 122
    # The block sizes already deployed (IPPool.blockSize); None: not deployed yet, any valid size goes.
    deployed_block_size: int | None = None
    deployed_block_size_v6: int | None = None
    # kubelet default and the Kubernetes large-cluster limit (Kubernetes docs, cluster-large).
    max_pods_per_node: int = 110
    # IPAMConfiguration defaults (Calico docs, reference/resources/ipamconfig).
    max_blocks_per_host: int = 20
    strict_affinity: bool = False
    # pyctl policy: warn when fewer than this many percent more nodes fit in the pod pool.
    min_headroom_percent: int = 10
    # pyctl policy: a proposed pod pool holds this many times today's nodes.
    pool_growth_factor: float = 2.0
    # Proposed service ranges: a /20 (4,094 Services per cluster; a DC's /16 then holds several
    # clusters' ranges) or a /112; kube-apiserver allows at most 20 host bits.
    service_prefix_length: int = 20
    service_prefix_length_v6: int = 112
    # RTT between etcd members when none is measured: same-DC LAN, pyctl policy.
    etcd_rtt_ms: float = 1.0
    # Overrides of the computed timing; None: computed from the RTT.
    etcd_heartbeat_ms: int | None = None
    etcd_election_timeout_ms: int | None = None
    # Expected objects of a workload cluster; None: estimated from nodes x (max pods + per-node objects).
    etcd_expected_objects: int | None = None
    # pyctl estimate of the average stored object (Pods with managedFields run 5-10 KiB).
    etcd_object_bytes: int = 8192
    # Explicit backend quota; None: computed from the expected volume (etcd default 2 GiB as the floor).
    etcd_quota_gib: float | None = None
    # Kamaji and HyperShift use 10,000 (RULES.md, etcd reference settings).
    etcd_snapshot_count: int = 10000
    # Periodic compaction as Kamaji/HyperShift run it; a backstop to kube-apiserver's own 5-minute compaction.
    etcd_auto_compaction_retention: str = "1h"
    # Above this many nodes (all tenants of one etcd), Events move to a separate etcd; see pyctl.plan.etcd.
    events_etcd_node_threshold: int = 1000
    # RAM of each etcd member host; NetBox does not hold it yet. None: the RAM check is skipped.
    etcd_member_ram_gib: float | None = None
    # kube-apiserver replicas per hosted control plane (HyperShift HighlyAvailable: 3).
    control_plane_replicas: int = 3
    # Capacity of each control-plane host; None: the fit check is skipped.
    control_plane_host_cpu: float | None = None
    control_plane_host_ram_gib: float | None = None
    # Which management cluster hosts each workload cluster's control plane; needed only with several.
    hosted_on: Mapping[str, str] = field(default_factory=dict)
    # Per-cluster overrides: cluster name -> settings of that cluster.
    clusters: Mapping[str, PlanSettings] = field(default_factory=dict)

    @property
    def families(self) -> tuple[str, ...]:
        return ("ipv4", "ipv6") if self.ip_family == "dual" else (self.ip_family,)

    def for_cluster(self, name: str) -> PlanSettings:
        """These settings with the overrides for cluster ``name`` applied."""
        return self.clusters.get(name, self)

    def to_dict(self) -> dict[str, Any]:
        out = self._own()
        ref = out
        out["clusters"] = {n: {k: v for k, v in o._own().items() if k not in _DC_ONLY and v != ref[k]}
                           for n, o in sorted(self.clusters.items())}
        return out

    def _own(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "clusters":
                continue
            out[f.name] = list(v) if isinstance(v, tuple) else dict(v) if isinstance(v, Mapping) else v
        return out


_FIELDS = {f.name: f for f in dataclasses.fields(PlanSettings)}
_DC_ONLY = ("clusters", "hosted_on")


def _int(v: Any, lo: int, hi: int | None = None) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        return None
    return v


def _number(v: Any, lo: float, *, strict: bool = False) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    if v < lo or (strict and v == lo):
        return None
    return float(v)


def _check(key: str, v: Any, where: str, problems: list[str]) -> Any:
    """The value of setting ``key`` converted, or None after appending a problem."""

    def bad(expected: str) -> None:
        problems.append(f"{where}.{key}: {expected}, got {v!r}")

    if key == "encapsulations":
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list | tuple) or not all(isinstance(e, str) for e in v):
            bad(f"must be a list of {', '.join(ENCAPSULATIONS)} (or none)")
            return None
        names = [e.lower() for e in v]
        if names == ["none"]:
            return ()
        unknown = [e for e in names if e not in ENCAPSULATIONS]
        if unknown:
            bad(f"unknown encapsulation {unknown[0]!r} (known: {', '.join(ENCAPSULATIONS)}, or none alone)")
            return None
        if len(set(names)) != len(names):
            bad("lists an encapsulation twice")
            return None
        return tuple(names)
    if key == "ip_family":
        if v not in IP_FAMILIES:
            bad(f"must be one of {', '.join(IP_FAMILIES)}")
            return None
        return v
    if key == "dataplane":
        if v not in DATAPLANES:
            bad(f"must be one of {', '.join(DATAPLANES)}")
            return None
        return v
    if key in ("block_size", "deployed_block_size", "block_size_v6", "deployed_block_size_v6"):
        family = "ipv6" if key.endswith("_v6") else "ipv4"
        lo, hi = BLOCK_RANGE[family]
        if v is None and key.startswith("deployed"):
            return None
        if _int(v, lo, hi) is None:
            # Calico docs, networking/ipam/change-block-size.
            bad(f"must be a prefix length from {lo} to {hi} (Calico IPAM block size for {family})")
            return None
        return v
    if key == "path_mtu":
        if v is None:
            return None
        if _int(v, 68, 65535) is None:
            bad("must be an MTU from 68 to 65535, or null")
            return None
        return v
    if key in ("max_pods_per_node", "max_blocks_per_host", "control_plane_replicas", "events_etcd_node_threshold",
               "etcd_snapshot_count", "etcd_object_bytes"):
        if _int(v, 1) is None:
            bad("must be a positive integer")
            return None
        return v
    if key == "etcd_expected_objects":
        if v is None:
            return None
        if _int(v, 0) is None:
            bad("must be a non-negative integer, or null")
            return None
        return v
    if key == "min_headroom_percent":
        if _int(v, 0, 1000) is None:
            bad("must be an integer percentage from 0 to 1000")
            return None
        return v
    if key == "service_prefix_length":
        # kube-apiserver: a service range has at most 20 host bits (/12 for IPv4).
        if _int(v, 12, 30) is None:
            bad("must be a prefix length from 12 to 30")
            return None
        return v
    if key == "service_prefix_length_v6":
        if _int(v, 108, 126) is None:
            bad("must be a prefix length from 108 to 126")
            return None
        return v
    if key == "pool_growth_factor":
        f = _number(v, 1.0)
        if f is None:
            bad("must be a number ≥ 1")
        return f
    if key == "etcd_rtt_ms":
        f = _number(v, 0.0, strict=True)
        if f is None:
            bad("must be a positive number of milliseconds")
        return f
    if key in ("etcd_heartbeat_ms", "etcd_election_timeout_ms"):
        if v is None:
            return None
        if _int(v, 1) is None:
            bad("must be a positive integer of milliseconds, or null")
            return None
        return v
    if key in ("etcd_quota_gib", "etcd_member_ram_gib", "control_plane_host_cpu", "control_plane_host_ram_gib"):
        if v is None:
            return None
        f = _number(v, 0.0, strict=True)
        if f is None:
            bad("must be a positive number, or null")
        return f
    if key == "strict_affinity":
        if not isinstance(v, bool):
            bad("must be true or false")
            return None
        return v
    if key == "etcd_auto_compaction_retention":
        # etcd --auto-compaction-retention with periodic mode: a duration such as 1h or 30m.
        if not isinstance(v, str) or not v or v[-1] not in "hms" or not v[:-1].isdigit() or int(v[:-1]) == 0:
            bad("must be a duration such as 1h, 30m or 600s")
            return None
        return v
    raise AssertionError(key)


def _settings(raw: Mapping[str, Any], where: str, base: PlanSettings, problems: list[str],
              *, top: bool) -> PlanSettings:
    changes: dict[str, Any] = {}
    for key in sorted(raw, key=str):
        v = raw[key]
        if not isinstance(key, str) or key not in _FIELDS:
            problems.append(f"{where}.{key}: unknown setting (known: {', '.join(_FIELDS)})")
            continue
        if key in _DC_ONLY:
            if not top:
                problems.append(f"{where}.{key}: can be set for the whole DC only")
            continue
        before = len(problems)
        value = _check(key, v, where, problems)
        if len(problems) == before:
            changes[key] = value
    return dataclasses.replace(base, **changes)


def load_settings(mapping: Mapping[str, Any] | None) -> PlanSettings:
    """The plan settings in ``mapping`` (the YAML document of ``group_vars/all/pyctl.yml``).

    Reads only the ``pyctl_plan`` key; a document without it gives the defaults. Raises ConfigError
    naming every bad value (``problems``), each as ``pyctl_plan.<key>: <what is wrong>, got <value>``.
    """
    if mapping is None:
        return PlanSettings()
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"plan settings must be a mapping, got {type(mapping).__name__}")
    raw = mapping.get(SETTINGS_KEY)
    if raw is None:
        return PlanSettings()
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{SETTINGS_KEY} must be a mapping, got {type(raw).__name__}")
    problems: list[str] = []
    base = _settings(raw, SETTINGS_KEY, PlanSettings(), problems, top=True)

    hosted = raw.get("hosted_on", {})
    hosted_on: dict[str, str] = {}
    if not isinstance(hosted, Mapping) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in hosted.items()):
        problems.append(f"{SETTINGS_KEY}.hosted_on: must map workload cluster names to management cluster names, "
                        f"got {hosted!r}")
    else:
        hosted_on = dict(hosted)

    per_cluster = raw.get("clusters", {})
    overrides: dict[str, PlanSettings] = {}
    if not isinstance(per_cluster, Mapping):
        problems.append(f"{SETTINGS_KEY}.clusters: must map cluster names to settings, got {per_cluster!r}")
    else:
        for name in sorted(per_cluster, key=str):
            sub = per_cluster[name]
            where = f"{SETTINGS_KEY}.clusters.{name}"
            if not isinstance(sub, Mapping):
                problems.append(f"{where}: must be a mapping of settings, got {sub!r}")
                continue
            overrides[str(name)] = _settings(sub, where, base, problems, top=False)

    settings = dataclasses.replace(base, hosted_on=hosted_on, clusters=overrides)
    for where, s in [(SETTINGS_KEY, settings), *((f"{SETTINGS_KEY}.clusters.{n}", o) for n, o in overrides.items())]:
        problems.extend(_cross_problems(s, where))
    if problems:
        raise ConfigError("; ".join(problems), problems=problems)
    return settings


def _cross_problems(s: PlanSettings, where: str) -> list[str]:
    problems = []
    if "ipip" in s.encapsulations and s.ip_family == "ipv6":
        # Calico docs (networking/configuring/vxlan-ipip): IP-in-IP carries IPv4 only.
        problems.append(f"{where}.encapsulations: ipip carries IPv4 only; an ipv6 cluster needs vxlan or wireguard")
    return problems
