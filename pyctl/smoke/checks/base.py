"""The smoke checks: each a small class with a name, a severity, a remedy line, the hosts it applies to,
and a ``run`` that reads the host through a :class:`~pyctl.smoke.pool.Session` and returns a verdict.

Checks never change a host. They compare what the host reports with what NetBox and the plan say,
and name both numbers when they differ. ``skip`` means the check does not apply to this host as it is
(say, a container whose clock is the host kernel's); ``error`` means the check could not get an answer
(a command timed out, output it cannot parse).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pyctl.etcd_metrics import BACKEND_COMMIT_P99_MAX_MS, WAL_FSYNC_P99_MAX_MS
from pyctl.inventory import Host
from pyctl.plan.mtu import FULL_MESH_MAX_HOSTS
from pyctl.smoke.pool import CommandResult, CommandTimeout, Session

Status = Literal["pass", "fail", "skip", "error"]
Severity = Literal["critical", "warning"]

@dataclass(frozen=True)
class CheckResult:
    status: Status
    detail: str
    data: Mapping[str, Any] = field(default_factory=dict)


def passed(detail: str, **data: Any) -> CheckResult:
    return CheckResult("pass", detail, data)


def failed(detail: str, **data: Any) -> CheckResult:
    return CheckResult("fail", detail, data)


def skipped(detail: str) -> CheckResult:
    return CheckResult("skip", detail)


def errored(detail: str) -> CheckResult:
    return CheckResult("error", detail)


@dataclass(frozen=True)
class SmokeSettings:
    """Where the checks look on the hosts; override any key in ``pyctl_smoke`` in the DC's group_vars."""

    # etcd (roles/etcd: certificates in etcd_pki_dir, client port 2379); TLS is used when the three exist.
    etcd_endpoint_host: str = "127.0.0.1"
    etcd_client_port: int = 2379
    etcd_ca: str = "/etc/etcd/pki/ca.crt"
    etcd_cert: str = "/etc/etcd/pki/client.crt"
    etcd_key: str = "/etc/etcd/pki/client.key"
    etcd_quota_bytes: int = 2 * 1024**3  # when the plan has none for the cluster (etcd default 2 GiB)
    etcd_db_size_max_ratio: float = 0.8  # of the quota: above it the check fails (time to compact/defrag)
    # The etcd disk limits (pyctl.etcd_metrics); a site widens them with the etcd role's etcd_perf_* keys.
    etcd_wal_fsync_p99_max_ms: float = WAL_FSYNC_P99_MAX_MS
    etcd_backend_commit_p99_max_ms: float = BACKEND_COMMIT_P99_MAX_MS
    # Each hosted kube-apiserver's /readyz (roles/control_plane): tenant i of the plan's control_plane_tenants
    # listens on port base + i on loopback; its CA and admin client certificate lie in the tenant's PKI dir.
    apiserver_port_base: int = 6443
    apiserver_pki_dir: str = "/etc/kubernetes/{tenant}/pki"
    apiserver_client: str = "admin"
    # cert-expiry: a certificate of etcd or a hosted control plane that expires within this many days.
    cert_warn_days: int = 30
    # The GPU driver every host of the DC runs (roles/gpu_driver gpu_driver_version; "" = not pinned).
    gpu_driver_version: str = ""
    # Overlay devices (Calico's, by encapsulation): the first one present is probed.
    overlay_devices: tuple[str, ...] = ("vxlan.calico", "tunl0", "wireguard.cali")
    # Path MTU probes: all pairs up to this many hosts per cluster, a ring sample above (pyctl.plan.mtu.probe_peers).
    full_mesh_max_hosts: int = FULL_MESH_MAX_HOSTS
    probe_timeout_s: float = 1.0
    http_timeout_s: float = 5.0

    @classmethod
    def from_mapping(cls, doc: Mapping[str, Any]) -> SmokeSettings:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(doc) - known)
        if unknown:
            raise ValueError(f"pyctl_smoke: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        values = dict(doc)
        if "overlay_devices" in values:
            values["overlay_devices"] = tuple(values["overlay_devices"])
        return cls(**values)


@dataclass(frozen=True)
class HostFacts:
    """What the first pass learns about a host that checks of other hosts need (the overlay address)."""

    overlay_device: str | None = None
    overlay_ipv4: str | None = None
    overlay_mtu: int | None = None


@dataclass(frozen=True)
class ClusterValues:
    """The plan's values for the host's cluster that checks compare with."""

    name: str
    hosts: tuple[Host, ...]
    underlay_mtu: int
    overlay_mtu: int | None = None  # the plan's tunnel MTU (workload clusters); None: no overlay planned
    etcd_quota_bytes: int | None = None
    # Hosted control planes of a management cluster: (tenant, apiserver port, the hosts running it).
    tenants: tuple[Tenant, ...] = ()
    # etcd members NetBox marks offline, failed or decommissioning: still members, expected down.
    down_etcd: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tenant:
    name: str
    port: int
    hosts: tuple[str, ...]


@dataclass
class Context:
    """One host's session and everything its checks read besides the host itself."""

    session: Session
    settings: SmokeSettings
    cluster: ClusterValues
    facts: Mapping[str, HostFacts] = field(default_factory=dict)  # host name -> facts (reachable hosts)
    connect_seconds: float = 0.0
    _cache: dict[str, CommandResult] = field(default_factory=dict)

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        return self.session.run(command, timeout)

    def cached(self, command: str) -> CommandResult:
        """Run ``command`` once per host: checks that read the same output share it."""
        if command not in self._cache:
            self._cache[command] = self.session.run(command)
        return self._cache[command]


class Check:
    """A smoke check. Subclasses set the three class attributes and implement ``run``."""

    name: str = ""
    severity: Severity = "critical"
    remedy: str = ""
    pair: bool = False  # needs every host's facts first (runs in the second pass)

    def applies(self, host: Host) -> bool:
        return True

    def run(self, ctx: Context, host: Host) -> CheckResult:
        raise NotImplementedError

    def __call__(self, ctx: Context, host: Host) -> CheckResult:
        """``run``, with a timed-out command or unparsable output turned into an ``error`` verdict."""
        try:
            return self.run(ctx, host)
        except CommandTimeout as exc:
            return errored(str(exc))
        except (ValueError, KeyError) as exc:
            return errored(f"cannot read the host's answer: {exc}")


def missing_tool(res: CommandResult) -> bool:
    return res.rc == 127
