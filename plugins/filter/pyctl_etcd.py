"""Ansible filters over pyctl.etcd_metrics: etcd disk latency (p99) from a member's /metrics text.

Each filter's DOCUMENTATION / EXAMPLES / RETURN is in plugins/filter/<filter name>.yml, which
ansible-doc -t filter <filter name> shows. Bad input raises AnsibleFilterError.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleFilterError

try:
    from pyctl import etcd_metrics
except ImportError:  # run from a checkout without pyctl installed: the package sits two levels up
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from pyctl import etcd_metrics


def pyctl_etcd_histogram_quantile(text: str, metric: str, quantile: float = 0.99) -> float | None:
    try:
        hist = etcd_metrics.parse_histogram(str(text), metric)
        if hist is None:
            raise ValueError(f"/metrics has no {metric} histogram")
        return etcd_metrics.histogram_quantile(float(quantile), hist.buckets)
    except ValueError as exc:
        raise AnsibleFilterError(f"pyctl_etcd_histogram_quantile: {exc}") from exc


def pyctl_etcd_disk_latency(text: str, wal_fsync_max_ms: float = etcd_metrics.WAL_FSYNC_P99_MAX_MS,
                            backend_commit_max_ms: float = etcd_metrics.BACKEND_COMMIT_P99_MAX_MS) -> dict[str, Any]:
    try:
        return etcd_metrics.disk_latency(str(text), float(wal_fsync_max_ms), float(backend_commit_max_ms))
    except ValueError as exc:
        raise AnsibleFilterError(f"pyctl_etcd_disk_latency: {exc}") from exc


class FilterModule:
    """pyctl etcd metrics filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "pyctl_etcd_histogram_quantile": pyctl_etcd_histogram_quantile,
            "pyctl_etcd_disk_latency": pyctl_etcd_disk_latency,
        }
