"""Certificate check (roles/pki's flow, for etcd and the hosted control planes): none expires soon."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from typing import Any

from pyctl.inventory import ROLE_CONTROL_PLANE, ROLE_ETCD, Host
from pyctl.smoke.checks.base import Check, CheckResult, Context, Severity, failed, passed, skipped

# Prints {"now": <host epoch>, "certs": [{"path", "not_after"}], "errors": [...]} for every *.crt in the
# directories given; stdlib only (ssl's decoder), so it runs on any host with python3.
CERT_SCRIPT = r"""
import glob,json,os,ssl,sys,time
out={"now":time.time(),"certs":[],"errors":[]}
for d in sys.argv[1:]:
    for p in sorted(glob.glob(os.path.join(d,"*.crt"))):
        try:
            out["certs"].append({"path":p,"not_after":ssl.cert_time_to_seconds(ssl._ssl._test_decode_cert(p)["notAfter"])})
        except Exception as e:
            out["errors"].append(p+": "+str(e))
print(json.dumps(out))
"""


def cert_command(dirs: list[str]) -> str:
    return f"python3 -c {shlex.quote(CERT_SCRIPT)} {' '.join(shlex.quote(d) for d in dirs)}"


class CertExpiry(Check):
    name = "cert-expiry"
    severity: Severity = "warning"
    remedy = ("run the role's phase (`pyctl rollout DC --phase etcd` or `--phase control_plane`): it reissues a "
              "certificate within its renew days (etcd_cert_renew_days, control_plane_cert_renew_days)")

    def applies(self, host: Host) -> bool:
        return host.role in (ROLE_ETCD, ROLE_CONTROL_PLANE)

    def _dirs(self, ctx: Context, host: Host) -> list[str]:
        s = ctx.settings
        if host.role == ROLE_ETCD:
            return [s.etcd_ca.rsplit("/", 1)[0]]
        return [s.apiserver_pki_dir.format(tenant=t.name) for t in ctx.cluster.tenants
                if not t.hosts or host.name in t.hosts]

    def run(self, ctx: Context, host: Host) -> CheckResult:
        dirs = self._dirs(ctx, host)
        if not dirs:
            return skipped("does not apply: no hosted control plane is planned on this host")
        res = ctx.run(cert_command(dirs))
        if res.rc != 0:
            return failed(f"cannot read the certificates: rc {res.rc} {res.stderr.strip()[-200:]}")
        doc: dict[str, Any] = json.loads(res.stdout)
        if doc["errors"]:
            return failed("unreadable: " + "; ".join(doc["errors"])[:300])
        certs = doc["certs"]
        if not certs:
            return skipped(f"does not apply: no certificates in {', '.join(dirs)}")
        warn = ctx.settings.cert_warn_days
        days = {c["path"]: (c["not_after"] - doc["now"]) / 86400 for c in certs}
        soon = sorted((d, p) for p, d in days.items() if d < warn)
        first_days, first = min((d, p) for p, d in days.items())
        data = {"certificates": len(certs), "first": first, "first_days": round(first_days, 1)}
        if soon:
            return failed("; ".join(f"{p} {'expired' if d < 0 else 'expires'} "
                                    f"{_date(doc['now'] + d * 86400)} ({_in(d)})" for d, p in soon)
                          + f": within {warn} days", **data)
        return passed(f"{len(certs)} certificates; the first to expire: {first} on "
                      f"{_date(doc['now'] + first_days * 86400)} ({_in(first_days)})", **data)


def _date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def _in(days: float) -> str:
    return f"{-days:.0f} days ago" if days < 0 else f"in {days:.0f} days"
