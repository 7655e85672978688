"""Ansible filters over pyctl.etcd_metrics: etcd disk latency (p99) from a member's /metrics text.

Each filter has its own DOCUMENTATION / EXAMPLES / RETURN in ``FILTER_DOCS``; the module-level strings
describe the file. Bad input raises AnsibleFilterError.
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

DOCUMENTATION = r"""
name: pyctl_etcd
short_description: etcd disk latency (WAL fsync, backend commit p99) from /metrics
version_added: "0.1.0"
author: pyctl maintainers
description:
  - Parses the Prometheus histograms etcd serves on /metrics and computes quantiles the way
    Prometheus' histogram_quantile does (linear interpolation inside a bucket).
  - Each filter is documented in C(FILTER_DOCS) of this file.
requirements:
  - the pyctl Python package (importable, or this file inside a pyctl checkout)
"""

EXAMPLES = r"""
- name: WAL fsync and backend commit p99 of one member
  ansible.builtin.debug:
    msg: "{{ metrics_response.content | pyctl_etcd_disk_latency(10, 25) }}"
"""

RETURN = r"""
_value:
  description: Depends on the filter; see FILTER_DOCS.
  type: raw
"""

FILTER_DOCS: dict[str, dict[str, str]] = {
    "pyctl_etcd_histogram_quantile": {
        "DOCUMENTATION": r"""
name: pyctl_etcd_histogram_quantile
short_description: a quantile of one Prometheus histogram in /metrics text
positional: _input, metric, quantile
options:
  _input:
    description: Prometheus text exposition (the body of GET /metrics).
    type: str
    required: true
  metric:
    description: Histogram name without the _bucket suffix.
    type: str
    required: true
  quantile:
    description: Quantile in [0, 1].
    type: float
    default: 0.99
""",
        "EXAMPLES": r"""
- ansible.builtin.debug:
    msg: "{{ metrics_text | pyctl_etcd_histogram_quantile('etcd_disk_wal_fsync_duration_seconds', 0.99) }}"
""",
        "RETURN": r"""
_value:
  description: The quantile in the histogram's unit (seconds for etcd's disk histograms); null without observations.
  type: float
""",
    },
    "pyctl_etcd_disk_latency": {
        "DOCUMENTATION": r"""
name: pyctl_etcd_disk_latency
short_description: WAL fsync and backend commit p99 of one etcd member against their limits
positional: _input, wal_fsync_max_ms, backend_commit_max_ms
options:
  _input:
    description: The member's /metrics text.
    type: str
    required: true
  wal_fsync_max_ms:
    description: Limit for etcd_disk_wal_fsync_duration_seconds p99 (etcd hardware guide, 10 ms).
    type: float
    default: 10
  backend_commit_max_ms:
    description: Limit for etcd_disk_backend_commit_duration_seconds p99 (etcd hardware guide, 25 ms).
    type: float
    default: 25
""",
        "EXAMPLES": r"""
- ansible.builtin.debug:
    msg: "{{ (metrics_text | pyctl_etcd_disk_latency(10, 25)).wal_fsync.p99_ms }}"
""",
        "RETURN": r"""
_value:
  description: >-
    C(wal_fsync) and C(backend_commit), each with metric, p99_ms (null without observations), limit_ms,
    observations and ok; and C(ok) for both.
  type: dict
""",
    },
}


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
