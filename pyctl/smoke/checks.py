"""The smoke checks: each a small class with a name, a severity, a remedy line, the hosts it applies to,
and a ``run`` that reads the host through a :class:`~pyctl.smoke.pool.Session` and returns a verdict.

Checks never change a host. They compare what the host reports with what NetBox and the plan say,
and name both numbers when they differ. ``skip`` means the check does not apply to this host as it is
(say, a container whose clock is the host kernel's); ``error`` means the check could not get an answer
(a command timed out, output it cannot parse).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pyctl.etcd_metrics import histogram_quantile, parse_histogram
from pyctl.inventory import ROLE_CONTROL_PLANE, ROLE_ETCD, ROLE_GPU_WORKER, Host
from pyctl.smoke import nvidia
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
    # RULES.md "etcd": WAL fsync p99 < 10 ms, backend commit p99 < 25 ms.
    etcd_wal_fsync_p99_max_ms: float = 10.0
    etcd_backend_commit_p99_max_ms: float = 25.0
    # Each hosted kube-apiserver's /readyz (roles/control_plane): tenant i of the plan's control_plane_tenants
    # listens on port base + i on loopback; its CA and admin client certificate lie in the tenant's PKI dir.
    apiserver_port_base: int = 6443
    apiserver_pki_dir: str = "/etc/kubernetes/{tenant}/pki"
    apiserver_client: str = "admin"
    # The GPU driver every host of the DC runs (roles/gpu_driver gpu_driver_version; "" = not pinned).
    gpu_driver_version: str = ""
    # Overlay devices, the first one present is probed (Calico's by encapsulation, then the lab's).
    overlay_devices: tuple[str, ...] = ("vxlan.calico", "tunl0", "wireguard.cali", "vxlan.pyctl")
    # Path MTU probes: all pairs up to this many hosts per cluster, a sample above (see probe_peers).
    full_mesh_max_hosts: int = 10
    sampled_peers: int = 3
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


def _missing_tool(res: CommandResult) -> bool:
    return res.rc == 127


# --- host checks -------------------------------------------------------------------------------------

class SshReachable(Check):
    name = "ssh"
    remedy = "is the host up and sshd running? the host key must be the one in known_hosts"

    def run(self, ctx: Context, host: Host) -> CheckResult:
        res = ctx.run("true")
        if not res.ok:
            return failed(f"connected, but a command fails: rc {res.rc} {res.stderr.strip()[:200]}")
        return passed(f"{host.address}: host key verified against known_hosts, "
                      f"connected in {ctx.connect_seconds * 1000:.0f} ms")


TIME_SYNC_COMMAND = (
    "timedatectl show -p NTPSynchronized --value 2>/dev/null; echo --; "
    "for u in chrony chronyd systemd-timesyncd ntpsec ntp; do "
    "[ \"$(systemctl is-active $u 2>/dev/null)\" = active ] && echo $u; done; echo --; "
    "systemd-detect-virt --container 2>/dev/null || true"
)


class TimeSync(Check):
    name = "time-sync"
    remedy = "enable chrony or systemd-timesyncd with reachable NTP servers; etcd and TLS need synchronised clocks"

    def run(self, ctx: Context, host: Host) -> CheckResult:
        parts = (ctx.run(TIME_SYNC_COMMAND).stdout + "\n--\n--").split("--")
        synced = parts[0].strip()
        active = [u for u in parts[1].split() if u]
        container = parts[2].strip()
        if synced == "yes":
            return passed(f"NTPSynchronized=yes ({', '.join(active) or 'sync service not named'})")
        if container and container != "none":
            # A container's clock is the host kernel's: there is nothing to synchronise in here.
            return skipped(f"{container} container: its clock is the host kernel's (NTPSynchronized="
                           f"{synced or 'unknown'}); check time sync on the machine that runs it")
        services = ", ".join(active) or "none"
        return failed(f"NTPSynchronized={synced or 'unknown'}; active time sync services: {services}")


class NicMtu(Check):
    name = "nic-mtu"
    remedy = "set the pod-traffic NIC's MTU to NetBox's (netplan/systemd-networkd) or correct NetBox, then rerun"

    def run(self, ctx: Context, host: Host) -> CheckResult:
        nic = host.underlay_nic
        res = ctx.run(f"cat /sys/class/net/{shlex.quote(nic)}/mtu")
        if not res.ok:
            return failed(f"{nic}: no such interface on the host ({res.stderr.strip()[:120]}); NetBox says "
                          f"MTU {host.underlay_mtu}")
        mtu = int(res.stdout.strip())
        if mtu != host.underlay_mtu:
            return failed(f"{nic} MTU is {mtu}, NetBox says {host.underlay_mtu}", host_mtu=mtu,
                          netbox_mtu=host.underlay_mtu)
        return passed(f"{nic} MTU {mtu} = NetBox {host.underlay_mtu}", host_mtu=mtu, netbox_mtu=host.underlay_mtu)


def overlay_facts_command(devices: Sequence[str]) -> str:
    names = " ".join(shlex.quote(d) for d in devices)
    return f"for d in {names}; do ip -json address show dev \"$d\" 2>/dev/null && exit 0; done; echo '[]'"


def parse_overlay_facts(stdout: str) -> HostFacts:
    entries = json.loads(stdout.strip().splitlines()[0] if stdout.strip() else "[]")
    if not entries:
        return HostFacts()
    dev = entries[0]
    ipv4 = next((a.get("local") for a in dev.get("addr_info", []) if a.get("family") == "inet"), None)
    return HostFacts(overlay_device=dev.get("ifname"), overlay_ipv4=ipv4, overlay_mtu=dev.get("mtu"))


# --- GPU checks (role gpu-worker) -------------------------------------------------------------------

_QUERY = "command -v nvidia-smi >/dev/null || exit 127; " + shlex.join(nvidia.QUERY_GPU_ARGS) + " 2>&1"
_MIG_LGI = "command -v nvidia-smi >/dev/null || exit 127; nvidia-smi mig -lgi 2>&1"
NO_NVIDIA_SMI = "nvidia-smi not found — run the gpu phase"
_GB = re.compile(r"(\d+)\s*GB", re.IGNORECASE)


class _GpuCheck(Check):
    remedy = "run the gpu phase (pyctl rollout <dc> --phase gpu); if it is done, compare the board with NetBox"

    def applies(self, host: Host) -> bool:
        return host.role == ROLE_GPU_WORKER and host.gpu is not None

    def run(self, ctx: Context, host: Host) -> CheckResult:
        res = ctx.cached(_QUERY)
        if _missing_tool(res):
            return failed(NO_NVIDIA_SMI)
        try:
            gpus = nvidia.parse_query_gpu(res.stdout)
        except nvidia.DriverError as exc:
            return failed(f"nvidia-smi cannot talk to the driver: {exc} (a reboot after a driver or kernel "
                          "upgrade?)")
        if res.rc != 0:
            return failed(f"nvidia-smi exited {res.rc}: {res.stdout.strip()[:200]}")
        assert host.gpu is not None
        return self.judge(ctx, host, gpus)

    def judge(self, ctx: Context, host: Host, gpus: list[nvidia.GpuStatus]) -> CheckResult:
        raise NotImplementedError


class GpuCount(_GpuCheck):
    name = "gpu-count"
    remedy = "a GPU fell off the bus or NetBox is wrong: check `nvidia-smi -L`, dmesg (Xid) and the BMC; fix one"

    def judge(self, ctx: Context, host: Host, gpus: list[nvidia.GpuStatus]) -> CheckResult:
        assert host.gpu is not None
        if len(gpus) != host.gpu.count:
            return failed(f"host has {len(gpus)} GPUs, NetBox says {host.gpu.count}", host=len(gpus),
                          netbox=host.gpu.count)
        return passed(f"{len(gpus)} GPUs = NetBox {host.gpu.count}")


def model_matches(netbox_model: str, smi_name: str) -> bool:
    """NetBox "H100-80GB" against nvidia-smi "NVIDIA H100 80GB HBM3" / "NVIDIA A100-SXM4-80GB" / "NVIDIA H200"."""
    family, _, memory = netbox_model.partition("-")
    tokens = re.split(r"[\s-]+", smi_name.upper())
    if family.upper() not in tokens:
        return False
    sizes = _GB.findall(smi_name)
    mem = _GB.findall(memory)
    return not sizes or not mem or sizes[0] == mem[0]


class GpuModel(_GpuCheck):
    name = "gpu-model"
    remedy = "the board is not the model NetBox records: correct NetBox or move the host to the right cluster"

    def judge(self, ctx: Context, host: Host, gpus: list[nvidia.GpuStatus]) -> CheckResult:
        assert host.gpu is not None
        wrong = sorted({g.name for g in gpus if not model_matches(host.gpu.model, g.name)})
        if wrong:
            return failed(f"GPUs are {', '.join(wrong)}, NetBox says {host.gpu.model}")
        return passed(f"{', '.join(sorted({g.name for g in gpus})) or 'no GPUs'} = NetBox {host.gpu.model}")


class GpuDriver(_GpuCheck):
    name = "gpu-driver"
    remedy = "install the DC's pinned driver branch (gpu phase) and reboot; hold the packages"

    def judge(self, ctx: Context, host: Host, gpus: list[nvidia.GpuStatus]) -> CheckResult:
        versions = sorted({g.driver_version for g in gpus})
        if len(versions) > 1:
            return failed(f"GPUs report different driver versions: {', '.join(versions)}")
        have = versions[0] if versions else "none"
        # The pin is a Debian package version ("550.127.08-1"); the driver reports the upstream part.
        want = ctx.settings.gpu_driver_version.split("-", 1)[0]
        if want and have != want:
            return failed(f"driver {have}, the DC pins {want}", host=have, pinned=want)
        return passed(f"driver {have}" + (f" = pinned {want}" if want else " (no pin configured)"))


class GpuPersistence(_GpuCheck):
    name = "gpu-persistence"
    severity: Severity = "warning"
    remedy = "enable and start nvidia-persistenced (--persistence-mode); the gpu phase does this"

    def judge(self, ctx: Context, host: Host, gpus: list[nvidia.GpuStatus]) -> CheckResult:
        off = [str(g.index) for g in gpus if g.persistence_mode is False]
        if off:
            return failed(f"persistence mode off on GPU {', '.join(off)}")
        return passed(f"persistence mode on ({len(gpus)} GPUs)")


class GpuEcc(_GpuCheck):
    name = "gpu-ecc"
    remedy = ("uncorrected ECC errors: drain the host, reset the GPU (nvidia-smi -r); "
              "open a hardware case if they return")

    def judge(self, ctx: Context, host: Host, gpus: list[nvidia.GpuStatus]) -> CheckResult:
        bad = [f"GPU {g.index}: {g.ecc_uncorrected}" for g in gpus if g.ecc_uncorrected]
        if bad:
            return failed(f"uncorrected volatile ECC errors: {'; '.join(bad)}")
        return passed("no uncorrected ECC errors")


class GpuMig(_GpuCheck):
    name = "gpu-mig"
    remedy = "apply NetBox's MIG layout (gpu phase, nvidia-mig-parted apply) or correct mig_layout in NetBox"

    def judge(self, ctx: Context, host: Host, gpus: list[nvidia.GpuStatus]) -> CheckResult:
        assert host.gpu is not None
        layout = host.gpu.mig_layout
        mode_wrong = [str(g.index) for g in gpus if g.mig_mode is not None and g.mig_mode != bool(layout)]
        if mode_wrong:
            return failed(f"MIG mode {'off' if layout else 'on'} on GPU {', '.join(mode_wrong)}; NetBox layout "
                          f"{json.dumps(dict(layout)) if layout else 'none (MIG off)'}")
        if not layout:
            return passed("MIG off, as NetBox says")
        res = ctx.cached(_MIG_LGI)
        findings = nvidia.mig_layout_findings(nvidia.parse_mig_gpu_instances(res.stdout), len(gpus), layout)
        if findings:
            return failed("; ".join(findings))
        return passed(f"MIG layout {json.dumps(dict(layout))} on {len(gpus)} GPUs")


class FabricManager(Check):
    name = "fabric-manager"
    remedy = "install nvidia-fabricmanager of exactly the driver's version and start it; without it CUDA fails (802)"

    def applies(self, host: Host) -> bool:
        return host.role == ROLE_GPU_WORKER and host.gpu is not None and host.gpu.nvswitch

    def run(self, ctx: Context, host: Host) -> CheckResult:
        res = ctx.run("systemctl is-active nvidia-fabricmanager")
        state = res.stdout.strip() or res.stderr.strip()
        if state != "active":
            return failed(f"nvidia-fabricmanager is {state or 'not installed'} on an NVSwitch board")
        return passed("nvidia-fabricmanager active")


# --- etcd (role etcd) -------------------------------------------------------------------------------

def _etcd_prelude(s: SmokeSettings) -> str:
    """Shell that sets $EP and $TLS: TLS with the client certificate when the three files exist."""
    ca, cert, key = (shlex.quote(p) for p in (s.etcd_ca, s.etcd_cert, s.etcd_key))
    return (f"command -v etcdctl >/dev/null || {{ echo 'etcdctl not found' >&2; exit 127; }}; "
            f"if [ -r {ca} ] && [ -r {cert} ] && [ -r {key} ]; then "
            f"EP=https://{s.etcd_endpoint_host}:{s.etcd_client_port}; TLS='--cacert={ca} --cert={cert} --key={key}'; "
            f"else EP=http://{s.etcd_endpoint_host}:{s.etcd_client_port}; TLS=''; fi; "
            "export ETCDCTL_API=3; ")


def etcd_command(s: SmokeSettings, sub: str) -> str:
    return _etcd_prelude(s) + f"etcdctl $TLS --endpoints=$EP --dial-timeout=3s --command-timeout=5s {sub} 2>&1"


_HTTP_GET_PY = (
    "import os,ssl,sys,urllib.request as u\n"
    "url,ca,cert,key,t=sys.argv[1:6]\n"
    "c=None\n"
    "if url.startswith('https'):\n"
    " c=ssl.create_default_context(cafile=ca if os.access(ca,os.R_OK) else None)\n"
    " if os.access(cert,os.R_OK) and os.access(key,os.R_OK): c.load_cert_chain(cert,key)\n"
    "try:\n"
    " r=u.urlopen(url,context=c,timeout=float(t)); b=r.read(); code=r.status\n"
    "except u.HTTPError as e: b=e.read(); code=e.code\n"
    "except Exception as e: sys.stderr.write(str(e)); sys.exit(7)\n"
    "sys.stdout.write(b.decode(errors='replace')+'\\n'+str(code))\n"
)


def https_get_command(url: str, ca: str, cert: str, key: str, timeout: float) -> str:
    """GET ``url`` on the host with a client certificate when the files exist: curl, else python3.

    Prints the body, a newline and the HTTP status; exits non-zero when no HTTP answer came.
    """
    q = {k: shlex.quote(v) for k, v in (("url", url), ("ca", ca), ("cert", cert), ("key", key))}
    py = shlex.quote(_HTTP_GET_PY)
    return (f"if command -v curl >/dev/null; then "
            f"A=''; [ -r {q['ca']} ] && A=\"--cacert {q['ca']}\"; "
            f"[ -r {q['cert']} ] && [ -r {q['key']} ] && A=\"$A --cert {q['cert']} --key {q['key']}\"; "
            f"curl -sS --max-time {timeout:g} $A -w '\\n%{{http_code}}' {q['url']}; "
            f"else python3 -c {py} {q['url']} {q['ca']} {q['cert']} {q['key']} {timeout:g}; fi")


def split_http(stdout: str) -> tuple[int, str]:
    body, _, code = stdout.rstrip("\n").rpartition("\n")
    return int(code), body


class _EtcdCheck(Check):
    def applies(self, host: Host) -> bool:
        return host.role == ROLE_ETCD

    def status(self, ctx: Context) -> dict[str, Any] | CheckResult:
        res = ctx.cached(etcd_command(ctx.settings, "endpoint status -w json"))
        if _missing_tool(res):
            return failed("etcdctl not found — run the etcd phase")
        if res.rc != 0:
            return failed(f"etcd does not answer: {res.stdout.strip()[-240:]}")
        doc = json.loads(res.stdout[res.stdout.index("["):])
        status: dict[str, Any] = doc[0]["Status"]
        return status


class EtcdHealth(_EtcdCheck):
    name = "etcd-health"
    remedy = "systemctl status etcd; journalctl -u etcd: start the member, or replace it (member remove/add)"

    def run(self, ctx: Context, host: Host) -> CheckResult:
        res = ctx.run(etcd_command(ctx.settings, "endpoint health"))
        text = res.stdout.strip()
        if _missing_tool(res):
            return failed("etcdctl not found — run the etcd phase")
        if res.rc != 0 or "is healthy" not in text:
            return failed(f"member unhealthy: {text[-240:] or f'etcdctl exited {res.rc}'}")
        return passed(text.splitlines()[0][:200])


class EtcdLeader(_EtcdCheck):
    name = "etcd-leader"
    remedy = "no leader: a quorum of members is down or cannot reach each other on the peer port (2380)"

    def run(self, ctx: Context, host: Host) -> CheckResult:
        status = self.status(ctx)
        if isinstance(status, CheckResult):
            return status
        leader = int(status.get("leader", 0))
        me = int(status["header"]["member_id"])
        term = status["header"].get("raft_term", status.get("raftTerm"))
        if leader == 0:
            return failed(f"member {me:x} sees no leader (raft term {term})")
        role = "this member" if leader == me else f"member {leader:x}"
        return passed(f"leader is {role}, raft term {term}")


class EtcdMembers(_EtcdCheck):
    name = "etcd-members"
    remedy = ("a member NetBox lists is missing: `pyctl reapply` cannot add it safely; etcdctl member add/remove "
              "(roles/etcd join), or correct NetBox")

    def run(self, ctx: Context, host: Host) -> CheckResult:
        res = ctx.cached(etcd_command(ctx.settings, "member list -w json"))
        if _missing_tool(res):
            return failed("etcdctl not found — run the etcd phase")
        if res.rc != 0:
            return failed(f"etcd does not answer: {res.stdout.strip()[-240:]}")
        doc = json.loads(res.stdout[res.stdout.index("{"):])
        members = sorted(m.get("name") or f"(unstarted {m['ID']:x})" for m in doc.get("members", []))
        # A member NetBox marks down (offline, failed, decommissioning) is still a member until removed.
        netbox = sorted([h.name for h in ctx.cluster.hosts if h.role == ROLE_ETCD] + list(ctx.cluster.down_etcd))
        missing = [n for n in netbox if n not in members]
        extra = [n for n in members if n not in netbox]
        if missing or extra:
            parts = ([f"NetBox lists {', '.join(missing)}, not a member"] if missing else []) + (
                [f"member {', '.join(extra)} is not in NetBox"] if extra else [])
            return failed("; ".join(parts), members=members, netbox=netbox)
        down = (f"; {', '.join(ctx.cluster.down_etcd)} down in NetBox (still members: {len(members)} count for quorum)"
                if ctx.cluster.down_etcd else "")
        return passed(f"{len(members)} members, as NetBox lists them{down}", members=members,
                      down=list(ctx.cluster.down_etcd))


class EtcdDbSize(_EtcdCheck):
    name = "etcd-db-size"
    severity: Severity = "warning"
    remedy = "compact and defragment (etcdctl compact, defrag one member at a time) or raise the quota in the plan"

    def run(self, ctx: Context, host: Host) -> CheckResult:
        status = self.status(ctx)
        if isinstance(status, CheckResult):
            return status
        size = int(status["dbSize"])
        quota = ctx.cluster.etcd_quota_bytes or ctx.settings.etcd_quota_bytes
        ratio = size / quota
        detail = f"DB {size / 2**20:.1f} MiB of quota {quota / 2**30:g} GiB ({ratio:.0%})"
        if ratio >= ctx.settings.etcd_db_size_max_ratio:
            return failed(f"{detail}, above {ctx.settings.etcd_db_size_max_ratio:.0%}", db_bytes=size,
                          quota_bytes=quota)
        return passed(detail, db_bytes=size, quota_bytes=quota)


def histogram_p99(text: str, metric: str) -> float | None:
    """p99 in seconds of Prometheus histogram ``metric`` (Prometheus' histogram_quantile), None when empty."""
    hist = parse_histogram(text, metric)
    if hist is None:
        raise ValueError(f"/metrics has no {metric} histogram")
    return histogram_quantile(0.99, hist.buckets)


class EtcdDisk(_EtcdCheck):
    name = "etcd-disk"
    severity: Severity = "warning"
    remedy = "the disk is too slow for etcd: a dedicated SSD/NVMe for the data dir, ionice -c2 -n0, no noisy neighbours"

    def run(self, ctx: Context, host: Host) -> CheckResult:
        s = ctx.settings
        scheme_probe = f"[ -r {shlex.quote(s.etcd_ca)} ] && echo https || echo http"
        scheme = ctx.run(scheme_probe).stdout.strip() or "http"
        url = f"{scheme}://{s.etcd_endpoint_host}:{s.etcd_client_port}/metrics"
        res = ctx.run(https_get_command(url, s.etcd_ca, s.etcd_cert, s.etcd_key, s.http_timeout_s))
        if res.rc != 0:
            return failed(f"GET {url} failed: {(res.stderr or res.stdout).strip()[-200:]}")
        code, body = split_http(res.stdout)
        if code != 200:
            return failed(f"GET {url}: HTTP {code}")
        parts = []
        bad = []
        for label, metric, limit in (("WAL fsync", "etcd_disk_wal_fsync_duration_seconds", s.etcd_wal_fsync_p99_max_ms),
                                     ("backend commit", "etcd_disk_backend_commit_duration_seconds",
                                      s.etcd_backend_commit_p99_max_ms)):
            p99 = histogram_p99(body, metric)
            if p99 is None:
                parts.append(f"{label} p99 n/a (no observations)")
                continue
            ms = p99 * 1000
            parts.append(f"{label} p99 {ms:.1f} ms (limit {limit:g})")
            if ms >= limit:
                bad.append(label)
        detail = "; ".join(parts)
        return failed(detail) if bad else passed(detail)


# --- control plane ---------------------------------------------------------------------------------

class ApiserverReadyz(Check):
    name = "apiserver-readyz"
    remedy = "journalctl -u kube-apiserver; GET /readyz?verbose names the failing check (often etcd)"

    def applies(self, host: Host) -> bool:
        return host.role == ROLE_CONTROL_PLANE

    def run(self, ctx: Context, host: Host) -> CheckResult:
        s = ctx.settings
        mine = [t for t in ctx.cluster.tenants if not t.hosts or host.name in t.hosts]
        if not mine:
            return passed("no hosted control plane is planned on this host")
        bad, good = [], []
        for t in mine:
            url = f"https://127.0.0.1:{t.port}/readyz"
            pki = s.apiserver_pki_dir.format(tenant=t.name)
            res = ctx.run(https_get_command(url, f"{pki}/ca.crt", f"{pki}/{s.apiserver_client}.crt",
                                            f"{pki}/{s.apiserver_client}.key", s.http_timeout_s))
            if res.rc != 0:
                bad.append(f"{t.name}: GET {url}: no answer ({_oneline(res.stderr or res.stdout)[-160:]})")
                continue
            code, body = split_http(res.stdout)
            if code != 200 or body.strip() != "ok":
                bad.append(f"{t.name}: GET {url}: HTTP {code} {_oneline(body)[-160:]}")
            else:
                good.append(f"{t.name} :{t.port}")
        if bad:
            return failed("; ".join(bad))
        return passed(f"/readyz 200 ok: {', '.join(good)}")


def _oneline(text: str) -> str:
    return " ".join(text.split())


# --- pair check: path MTU --------------------------------------------------------------------------

def probe_peers(hosts: Sequence[Host], host: Host, *, full_mesh_max: int = 10, sample: int = 3) -> list[Host]:
    """The peers ``host`` sends full-size don't-fragment probes to.

    Up to ``full_mesh_max`` hosts in the cluster: every other host (n(n-1) probes, at most 90). Above
    that, all pairs grow quadratically (1,000 nodes: a million probes) for little gain: a lowered MTU
    sits on one NIC or one switch port, so it shows on *every* path through it. Each host therefore
    probes its rack neighbours (the previous and next host of its rack by name: the top-of-rack switch
    path) plus ``sample`` peers of other racks chosen by a hash of the two names — deterministic, so a
    failure reproduces on a rerun, and spread, so each host is also probed by about ``sample`` others.
    A bad host or uplink is then seen from at least 2 + 2×``sample`` directions.
    """
    others = [h for h in hosts if h.name != host.name]
    if len(hosts) <= full_mesh_max:
        return sorted(others, key=lambda h: h.name)
    rack = sorted((h for h in hosts if h.rack == host.rack), key=lambda h: h.name)
    i = [h.name for h in rack].index(host.name) if host in rack else -1
    chosen: dict[str, Host] = {}
    if i >= 0 and len(rack) > 1:
        for j in (i - 1, i + 1):
            peer = rack[j % len(rack)]
            if peer.name != host.name:
                chosen[peer.name] = peer
    pool = [h for h in others if h.rack != host.rack] or [h for h in others if h.name not in chosen]
    ranked = sorted(pool, key=lambda h: hashlib.sha256(f"{host.name}>{h.name}".encode()).hexdigest())
    for peer in ranked[:sample]:
        chosen.setdefault(peer.name, peer)
    return sorted(chosen.values(), key=lambda h: h.name)


# Runs on the host: ICMP (ICMPv6 to an IPv6 peer) echo of the full size with DF set, peers in parallel. Not the ping
# binary: it needs CAP_NET_RAW (file capabilities a container without NET_RAW cannot exec: "Operation not
# permitted"), while an ICMP datagram socket needs only net.ipv4.ping_group_range. IP_PMTUDISC_PROBE sets DF
# like `ping -M do` but ignores the kernel's cached path MTU, which one failed probe would lower for the
# next ten minutes. A lost full-size echo is retried; then a small echo tells "MTU" from "no path".
PROBE_SCRIPT = r"""
import base64,json,os,select,socket,struct,sys,time
from concurrent.futures import ThreadPoolExecutor
spec=json.loads(base64.b64decode(sys.argv[1]))
T=float(spec["timeout"])
def ck(d):
    d+=b"\0"*(len(d)%2); s=sum(struct.unpack("!%dH"%(len(d)//2),d)); s=(s>>16)+(s&0xFFFF); s+=s>>16
    return ~s&0xFFFF
def echo(addr,size,seq):
    v6=":" in addr; fam=socket.AF_INET6 if v6 else socket.AF_INET
    proto=socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    try: s=socket.socket(fam,socket.SOCK_DGRAM,proto); raw=False
    except PermissionError: s=socket.socket(fam,socket.SOCK_RAW,proto); raw=True
    try:
        if v6:
            s.setsockopt(socket.IPPROTO_IPV6,getattr(socket,"IPV6_MTU_DISCOVER",23),3)
            s.setsockopt(socket.IPPROTO_IPV6,getattr(socket,"IPV6_DONTFRAG",62),1)
        else: s.setsockopt(socket.IPPROTO_IP,getattr(socket,"IP_MTU_DISCOVER",10),getattr(socket,"IP_PMTUDISC_PROBE",3))
        p=os.urandom(max(size-(48 if v6 else 28),0)); ident=os.getpid()&0xFFFF; typ=128 if v6 else 8
        h=struct.pack("!BBHHH",typ,0,0,ident,seq)
        try: s.sendto((h if v6 else struct.pack("!BBHHH",8,0,ck(h+p),ident,seq))+p,(addr,0))
        except OSError as e: return "send: "+e.strerror
        want=socket.inet_pton(fam,addr); end=time.monotonic()+T
        while True:
            left=end-time.monotonic()
            if left<=0 or not select.select([s],[],[],left)[0]: return "lost"
            try: d,a=s.recvfrom(65535)
            except OSError as e: return "icmp: "+str(e)
            if raw and not v6: d=d[(d[0]&15)*4:]
            ok=len(d)>=8 and d[0]==(129 if v6 else 0) and struct.unpack("!H",d[6:8])[0]==seq and len(d)-8==len(p)
            if ok and socket.inet_pton(fam,a[0].split("%")[0])==want:
                return ""
    finally: s.close()
def probe(path):
    seq=(path["i"]*8)&0xFFFF
    why=""
    for k in range(3):
        why=echo(path["address"],path["size"],seq+k)
        if not why: return dict(path,ok=True,why="")
    small=echo(path["address"],84,seq+4)=="" or echo(path["address"],84,seq+5)==""
    return dict(path,ok=False,why=why,small_ok=small)
with ThreadPoolExecutor(16) as ex: print(json.dumps(list(ex.map(probe,spec["paths"]))))
"""


def probe_command(paths: Sequence[Mapping[str, Any]], timeout: float) -> str:
    spec = base64.b64encode(json.dumps({"timeout": timeout, "paths": list(paths)}).encode()).decode()
    return f"python3 -c {shlex.quote(PROBE_SCRIPT)} {spec}"


class PathMtu(Check):
    name = "path-mtu"
    pair = True
    remedy = ("a path drops full-size packets: compare the NIC, bond, VLAN and switch-port MTUs along it "
              "with the plan (small pings pass, large frames vanish)")

    def run(self, ctx: Context, host: Host) -> CheckResult:
        peers = probe_peers(ctx.cluster.hosts, host, full_mesh_max=ctx.settings.full_mesh_max_hosts,
                            sample=ctx.settings.sampled_peers)
        reachable = [p for p in peers if p.name in ctx.facts]
        unprobed = [p.name for p in peers if p.name not in ctx.facts]
        if not reachable:
            return skipped("no reachable peer to probe" + (f" ({', '.join(unprobed)} unreachable)" if unprobed else ""))
        under = ctx.cluster.underlay_mtu
        mine = ctx.facts.get(host.name, HostFacts())
        paths: list[dict[str, Any]] = []
        for p in reachable:
            # The address NetBox assigns to the peer's pod-traffic interface: the path pod traffic takes.
            paths.append({"i": len(paths), "kind": "underlay", "peer": p.name, "address": p.pod_address or p.address,
                          "size": under})
        overlay_size = ctx.cluster.overlay_mtu or mine.overlay_mtu
        if mine.overlay_ipv4 and overlay_size:
            for p in reachable:
                theirs = ctx.facts[p.name]
                if theirs.overlay_ipv4:
                    paths.append({"i": len(paths), "kind": f"overlay {mine.overlay_device}", "peer": p.name,
                                  "address": theirs.overlay_ipv4, "size": overlay_size})
        timeout = ctx.settings.probe_timeout_s
        res = ctx.run(probe_command(paths, timeout), timeout=timeout * 8 + 10)
        if res.rc != 0:
            return errored(f"probe failed: rc {res.rc} {res.stderr.strip()[-200:]}")
        results = json.loads(res.stdout)
        bad = [r for r in results if not r["ok"]]
        kinds = sorted({r["kind"] for r in results})
        data = {"paths": [{k: r[k] for k in ("kind", "peer", "address", "size", "ok")} for r in results],
                "unprobed": unprobed}
        tail = f"; not probed (unreachable): {', '.join(unprobed)}" if unprobed else ""
        if bad:
            lines = []
            for r in bad:
                why = ("small packets pass: the path MTU is below it" if r.get("small_ok")
                       else f"no reply at all ({r['why']})")
                lines.append(f"{r['kind']} {r['size']}-byte DF packet to {r['peer']} ({r['address']}) dropped — {why}")
            return failed("; ".join(lines) + tail, **data)
        sizes = ", ".join(f"{k} {next(r['size'] for r in results if r['kind'] == k)}" for k in kinds)
        return passed(f"{len(results)} paths to {len(reachable)} peers carry full-size DF packets ({sizes}){tail}",
                      **data)


ALL_CHECKS: tuple[Check, ...] = (
    SshReachable(), TimeSync(), NicMtu(), PathMtu(),
    GpuCount(), GpuModel(), GpuDriver(), GpuPersistence(), GpuEcc(), GpuMig(), FabricManager(),
    EtcdHealth(), EtcdLeader(), EtcdMembers(), EtcdDbSize(), EtcdDisk(), ApiserverReadyz(),
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
