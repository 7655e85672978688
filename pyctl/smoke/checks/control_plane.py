"""Control-plane check: each hosted apiserver's /readyz."""

from __future__ import annotations

from pyctl.inventory import ROLE_CONTROL_PLANE, Host
from pyctl.smoke.checks.base import Check, CheckResult, Context, failed, passed, skipped
from pyctl.smoke.checks.etcd import https_get_command, split_http

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
            # Nothing to check is not a pass: the report says the check does not apply here.
            return skipped("does not apply: no hosted control plane is planned on this host")
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
