"""The smoke checks: each a small class with a name, a severity, a remedy line, the hosts it applies to,
and a ``run`` that reads the host through a :class:`~pyctl.smoke.pool.Session` and returns a verdict.

:mod:`~.base` holds the framework (results, settings, the context a check reads); one module per family
of checks: :mod:`~.host`, :mod:`~.gpu`, :mod:`~.etcd`, :mod:`~.control_plane`, :mod:`~.pki`,
:mod:`~.path_mtu`.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyctl.smoke.checks.base import (
    Check,
    CheckResult,
    ClusterValues,
    Context,
    HostFacts,
    Severity,
    SmokeSettings,
    Status,
    Tenant,
    errored,
    failed,
    missing_tool,
    passed,
    skipped,
)
from pyctl.smoke.checks.control_plane import ApiserverReadyz
from pyctl.smoke.checks.etcd import (
    EtcdDbSize,
    EtcdDisk,
    EtcdHealth,
    EtcdLeader,
    EtcdMembers,
    etcd_command,
    histogram_p99,
    https_get_command,
    split_http,
)
from pyctl.smoke.checks.gpu import (
    NO_NVIDIA_SMI,
    FabricManager,
    GpuCount,
    GpuDriver,
    GpuEcc,
    GpuMig,
    GpuModel,
    GpuPersistence,
    model_matches,
)
from pyctl.smoke.checks.host import (
    TIME_SYNC_COMMAND,
    NicMtu,
    SshReachable,
    TimeSync,
    overlay_facts_command,
    parse_overlay_facts,
)
from pyctl.smoke.checks.path_mtu import PROBE_SCRIPT, PathMtu, probe_command, probe_peers
from pyctl.smoke.checks.pki import CertExpiry

__all__ = [
    "ALL_CHECKS",
    "CHECK_NAMES",
    "NO_NVIDIA_SMI",
    "PROBE_SCRIPT",
    "TIME_SYNC_COMMAND",
    "ApiserverReadyz",
    "CertExpiry",
    "Check",
    "CheckResult",
    "ClusterValues",
    "Context",
    "EtcdDbSize",
    "EtcdDisk",
    "EtcdHealth",
    "EtcdLeader",
    "EtcdMembers",
    "FabricManager",
    "GpuCount",
    "GpuDriver",
    "GpuEcc",
    "GpuMig",
    "GpuModel",
    "GpuPersistence",
    "HostFacts",
    "NicMtu",
    "PathMtu",
    "Severity",
    "SmokeSettings",
    "SshReachable",
    "Status",
    "Tenant",
    "TimeSync",
    "errored",
    "etcd_command",
    "failed",
    "histogram_p99",
    "https_get_command",
    "missing_tool",
    "model_matches",
    "overlay_facts_command",
    "parse_overlay_facts",
    "passed",
    "probe_command",
    "probe_peers",
    "select_checks",
    "skipped",
    "split_http",
]

ALL_CHECKS: tuple[Check, ...] = (
    SshReachable(), TimeSync(), NicMtu(), PathMtu(),
    GpuCount(), GpuModel(), GpuDriver(), GpuPersistence(), GpuEcc(), GpuMig(), FabricManager(),
    EtcdHealth(), EtcdLeader(), EtcdMembers(), EtcdDbSize(), EtcdDisk(), ApiserverReadyz(), CertExpiry(),
)
CHECK_NAMES = tuple(c.name for c in ALL_CHECKS)


def select_checks(names: Sequence[str] | None) -> tuple[Check, ...]:
    """The checks named (all when none); ValueError naming the unknown ones. ``ssh`` is always kept."""
    if not names:
        return ALL_CHECKS
    unknown = sorted(set(names) - set(CHECK_NAMES))
    if unknown:
        raise ValueError(f"unknown check {', '.join(unknown)} (known: {', '.join(CHECK_NAMES)})")
    wanted = {"ssh", *names}
    return tuple(c for c in ALL_CHECKS if c.name in wanted)
