"""etcd checks (role etcd): health, leader, members against NetBox, DB size against the quota, disk latency."""

from __future__ import annotations

import json
import shlex
from typing import Any

from pyctl.etcd_metrics import BACKEND_COMMIT, WAL_FSYNC, histogram_quantile, parse_histogram
from pyctl.inventory import ROLE_ETCD, Host
from pyctl.smoke.checks.base import Check, CheckResult, Context, Severity, SmokeSettings, failed, missing_tool, passed

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
        if missing_tool(res):
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
        if missing_tool(res):
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
        if missing_tool(res):
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
    name = "etcd-disk"  # critical: it gates a rollout's etcd batch (RULES.md limits), not only reports
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
        for label, metric, limit in (("WAL fsync", WAL_FSYNC, s.etcd_wal_fsync_p99_max_ms),
                                     ("backend commit", BACKEND_COMMIT, s.etcd_backend_commit_p99_max_ms)):
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
