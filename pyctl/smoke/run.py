"""Run the smoke checks over a data center: one SSH connection per host, two passes, one report.

Pass 1, per host (at most ``concurrency`` at a time): connect (the ``ssh`` check), read the facts other
hosts' checks need (the overlay device's address), run every host check that applies. Pass 2: the pair
check (path MTU), which needs every host's facts. A host that cannot be reached fails ``ssh`` and its
other checks are skipped; its peers do not probe it (so one dead host reads as unreachable, exit 4,
not as a path failure on every neighbour).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyctl import config
from pyctl.config import SSHSettings
from pyctl.errors import ConfigError
from pyctl.inventory import Cluster, Host, Inventory
from pyctl.plan import Plan
from pyctl.rundir import new_run_dir, write_json
from pyctl.smoke.checks import (
    ALL_CHECKS,
    Check,
    CheckResult,
    ClusterValues,
    Context,
    HostFacts,
    SmokeSettings,
    Tenant,
    overlay_facts_command,
    parse_overlay_facts,
)
from pyctl.smoke.pool import ConnectError, Session, SSHPool, connect
from pyctl.smoke.render import render_html
from pyctl.smoke.report import HostReport, Outcome, SmokeReport


def cluster_values(inventory: Inventory, plan: Plan | None, settings: SmokeSettings) -> dict[str, ClusterValues]:
    """Per cluster, the plan's underlay/overlay MTU and etcd quota (the NIC minimum where the plan has none)."""
    out = {}
    for c in inventory.clusters:
        out[c.name] = ClusterValues(name=c.name, hosts=c.hosts, underlay_mtu=_plan_value(plan, c, "mtu", "underlay_mtu")
                                    or min(h.underlay_mtu for h in c.hosts),
                                    overlay_mtu=_plan_value(plan, c, "mtu", "tunnel_mtu") or None,
                                    etcd_quota_bytes=_plan_value(plan, c, "etcd", "quota_backend_bytes"),
                                    tenants=_tenants(_plan_value(plan, c, "control_plane", "tenants"), settings),
                                    down_etcd=c.down_etcd)
    return out


def _tenants(planned: Any, settings: SmokeSettings) -> tuple[Tenant, ...]:
    """The plan's hosted control planes, numbered as roles/control_plane numbers their ports."""
    return tuple(Tenant(str(t["name"]), int(t.get("secure_port") or settings.apiserver_port_base + i),
                        tuple(t.get("hosts") or ())) for i, t in enumerate(planned or []))


def _plan_value(plan: Plan | None, c: Cluster, section: str, key: str) -> Any:
    if plan is None:
        return None
    try:
        return plan.cluster(c.name).get(section, key)
    except KeyError:
        return None


def _timed(check: Check, ctx: Context, host: Host) -> Outcome:
    started = time.monotonic()
    result: CheckResult = check(ctx, host)
    return Outcome(check.name, check.severity, result.status, result.detail, check.remedy,
                   time.monotonic() - started, dict(result.data))


def run_smoke(inventory: Inventory, plan: Plan | None, settings: SmokeSettings, *, ssh: SSHSettings,
              concurrency: int = 16, timeout: float = 10.0, checks: Sequence[Check] = ALL_CHECKS,
              connector: Callable[[str, SSHSettings], Session] | None = None,
              progress: Callable[[str], None] | None = None, only: Collection[str] | None = None) -> SmokeReport:
    """Run ``checks`` on every host of ``inventory`` (or on the hosts named in ``only``: a rollout's health
    gate); ``timeout`` is the per-host connect timeout in seconds.

    ``plan`` is the :class:`~pyctl.plan.Plan` of the inventory (None: NIC minimums, default quota).
    ``connector`` replaces paramiko (tests). With ``only`` and a pair check, the other hosts of those
    hosts' clusters are connected to for their facts alone (the peers a path is probed to), not checked.
    """
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    ssh = SSHSettings(user=ssh.user, key_file=ssh.key_file, known_hosts=ssh.known_hosts, port=ssh.port,
                      connect_timeout=timeout, command_timeout=max(ssh.command_timeout, timeout))
    values = cluster_values(inventory, plan, settings)
    host_checks = [c for c in checks if not c.pair]
    pair_checks = [c for c in checks if c.pair]
    checked = [h for h in inventory.hosts if only is None or h.name in only]
    clusters = {h.cluster for h in checked}
    peers = [h for h in inventory.hosts if pair_checks and only is not None and h.name not in only
             and h.cluster in clusters]
    reports = {h.name: HostReport(h.name, h.cluster, h.rack, h.role, h.address) for h in checked}
    contexts: dict[str, Context] = {}
    facts: dict[str, HostFacts] = {}
    names = [c.name for c in checks]

    with SSHPool(ssh, concurrency=concurrency, connector=connector or connect) as pool:
        def read_facts(session: Session) -> HostFacts | None:
            try:
                return parse_overlay_facts(session.run(overlay_facts_command(settings.overlay_devices)).stdout)
            except Exception:
                return None

        def first_pass(host: Host) -> None:
            if host.name not in reports:  # a peer of a gated host: its facts alone
                try:
                    peer = read_facts(pool.session(host.address))
                except ConnectError:
                    peer = None
                if peer is not None:  # a peer without facts is named as not probed by path-mtu, not failed here
                    facts[host.name] = peer
                return
            rep = reports[host.name]
            t0 = time.monotonic()
            try:
                session = pool.session(host.address)
            except ConnectError as exc:
                rep.reachable = exc.kind != "unreachable"  # a wrong host key is a failure, not a dead host
                rep.connect_error = exc.kind
                rep.outcomes.append(Outcome("ssh", "critical", "fail", exc.message, exc.remedy, time.monotonic() - t0))
                why = "host unreachable" if exc.kind == "unreachable" else f"no SSH session ({exc.kind})"
                rep.outcomes.extend(Outcome(c.name, c.severity, "skip", why, c.remedy, 0.0)
                                    for c in checks if c.name != "ssh" and c.applies(host))
                return
            ctx = Context(session=session, settings=settings, cluster=values[host.cluster],
                          connect_seconds=time.monotonic() - t0)
            contexts[host.name] = ctx
            if pair_checks:  # a host without facts is still probed on its underlay
                facts[host.name] = read_facts(session) or HostFacts()
            rep.outcomes.extend(_timed(c, ctx, host) for c in host_checks if c.applies(host))
            if progress:
                progress(f"{host.name}: {sum(o.failed for o in rep.outcomes)} failed")

        pool.map(first_pass, checked + peers)

        def second_pass(host: Host) -> None:
            ctx = contexts.get(host.name)
            if ctx is None:
                return
            ctx.facts = facts
            reports[host.name].outcomes.extend(_timed(c, ctx, host) for c in pair_checks if c.applies(host))

        if pair_checks:
            pool.map(second_pass, checked)

    for rep in reports.values():
        rep.outcomes.sort(key=lambda o: names.index(o.check) if o.check in names else len(names))
    hosts = sorted(reports.values(), key=lambda r: (r.rack or "", r.name))
    return SmokeReport(dc=inventory.site, started=started_at, seconds=time.monotonic() - started,
                       checks=names, hosts=hosts)


def smoke_settings(dc: str, repo: Path | None = None) -> SmokeSettings:
    """SmokeSettings from the DC's smoke policy (:func:`pyctl.config.smoke_policy`)."""
    policy = config.smoke_policy(dc, repo) if repo else config.smoke_policy(dc)
    try:
        return SmokeSettings.from_mapping(policy)
    except (TypeError, ValueError) as exc:
        base = config.smoke_policy_source(dc, repo) if repo else config.smoke_policy_source(dc)
        raise ConfigError(f"{base}: {exc}") from exc


def smoke(dc: str, inventory: Inventory, plan: Plan | None, *, checks: Sequence[Check] | None = None,
          concurrency: int = 32, timeout: float = 10.0, only: Collection[str] | None = None,
          verb: str = "smoke") -> tuple[SmokeReport, Path]:
    """Run the checks on every host of ``inventory`` (or those in ``only``); write ``report.json`` and
    ``report.html`` into ``runs/<dc>/<time>-<verb>/``. Returns the SmokeReport and the HTML path (`pyctl
    smoke`, a rollout's health gates and its last phase)."""
    ssh = config.load_ssh_settings(dc)
    settings = smoke_settings(dc)
    report = run_smoke(inventory, plan, settings, ssh=ssh, concurrency=concurrency, timeout=timeout,
                       checks=checks if checks is not None else ALL_CHECKS, only=only)
    run_dir = new_run_dir(dc, verb)
    report.run_dir = str(run_dir)
    write_json(run_dir / "report.json", report.to_dict())
    html = run_dir / "report.html"
    html.write_text(render_html(report), encoding="utf-8")
    return report, html
