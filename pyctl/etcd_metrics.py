"""etcd disk latency from /metrics: Prometheus histograms to p99, and the gate against RULES.md limits.

A healthy etcd disk has WAL fsync p99 < 10 ms and backend commit p99 < 25 ms (etcd docs v3.5,
op-guide/hardware and metrics; RULES.md "etcd"). The quantile follows Prometheus'
``histogram_quantile``: the rank falls in one bucket and is interpolated linearly inside it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

WAL_FSYNC = "etcd_disk_wal_fsync_duration_seconds"
BACKEND_COMMIT = "etcd_disk_backend_commit_duration_seconds"
# RULES.md "etcd": WAL fsync p99 < 10 ms, backend commit p99 < 25 ms.
WAL_FSYNC_P99_MAX_MS = 10.0
BACKEND_COMMIT_P99_MAX_MS = 25.0

# name{labels} value [timestamp]; labels may hold escaped quotes, which these metrics never do.
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Histogram:
    """Cumulative buckets (upper bound, observations ≤ bound), sorted, the last one +Inf."""

    name: str
    buckets: tuple[tuple[float, float], ...]
    count: float
    total: float


def parse_histogram(text: str, name: str) -> Histogram | None:
    """The histogram ``name`` from Prometheus text exposition, or None when /metrics does not have it.

    Series that differ only in labels other than ``le`` are added up, as ``sum by (le)`` would.
    """
    buckets: dict[float, float] = {}
    count = total = 0.0
    found = False
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        m = _SAMPLE.match(line)
        if m is None:
            continue
        metric, value = m["name"], float(m["value"])
        if metric == f"{name}_bucket":
            labels = {lm["key"]: lm["value"] for lm in _LABEL.finditer(m["labels"] or "")}
            if "le" not in labels:
                raise ValueError(f"{name}_bucket sample without an le label: {line!r}")
            le = math.inf if labels["le"] == "+Inf" else float(labels["le"])
            buckets[le] = buckets.get(le, 0.0) + value
            found = True
        elif metric == f"{name}_count":
            count += value
            found = True
        elif metric == f"{name}_sum":
            total += value
    if not found:
        return None
    ordered = tuple(sorted(buckets.items()))
    if not ordered or not math.isinf(ordered[-1][0]):
        raise ValueError(f"{name} has no +Inf bucket")
    return Histogram(name=name, buckets=ordered, count=count, total=total)


def histogram_quantile(q: float, buckets: tuple[tuple[float, float], ...]) -> float | None:
    """The ``q`` quantile of cumulative ``buckets``, as Prometheus' histogram_quantile computes it.

    Linear interpolation inside the bucket the rank falls in (the first bucket starts at 0); a rank in
    the +Inf bucket gives the highest finite bound. None when there are no observations.
    """
    if not 0 <= q <= 1:
        raise ValueError(f"quantile must be within [0, 1], got {q!r}")
    if not buckets or not math.isinf(buckets[-1][0]):
        raise ValueError("buckets must end with the +Inf bucket")
    observations = buckets[-1][1]
    if observations <= 0:
        return None
    rank = q * observations
    lower_bound, lower_count = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower_bound
            in_bucket = cumulative - lower_count
            if in_bucket <= 0:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / in_bucket
        lower_bound, lower_count = bound, cumulative
    return lower_bound


@dataclass(frozen=True)
class LatencyCheck:
    metric: str
    p99_ms: float | None
    limit_ms: float
    observations: int

    @property
    def ok(self) -> bool:
        """Within the limit; a histogram without observations yet passes (nothing measured)."""
        return self.p99_ms is None or self.p99_ms < self.limit_ms

    def as_dict(self) -> dict[str, object]:
        return {"metric": self.metric, "p99_ms": None if self.p99_ms is None else round(self.p99_ms, 3),
                "limit_ms": self.limit_ms, "observations": self.observations, "ok": self.ok}


def disk_latency(text: str, wal_fsync_max_ms: float = WAL_FSYNC_P99_MAX_MS,
                 backend_commit_max_ms: float = BACKEND_COMMIT_P99_MAX_MS) -> dict[str, object]:
    """WAL fsync and backend commit p99 (ms) of one member's /metrics against their limits.

    Returns ``{"wal_fsync": {...}, "backend_commit": {...}, "ok": bool}``; raises ValueError when
    /metrics lacks either histogram (not an etcd, or a version that renamed them).
    """
    checks = {}
    for key, metric, limit in (("wal_fsync", WAL_FSYNC, wal_fsync_max_ms),
                               ("backend_commit", BACKEND_COMMIT, backend_commit_max_ms)):
        hist = parse_histogram(text, metric)
        if hist is None:
            raise ValueError(f"/metrics has no {metric} histogram")
        p99 = histogram_quantile(0.99, hist.buckets)
        checks[key] = LatencyCheck(metric=metric, p99_ms=None if p99 is None else p99 * 1000, limit_ms=limit,
                                   observations=int(hist.buckets[-1][1]))
    out: dict[str, object] = {key: c.as_dict() for key, c in checks.items()}
    out["ok"] = all(c.ok for c in checks.values())
    return out
