"""Drift: what changed on the hosts since the roles last ran, and what differs from NetBox.

Two sources, kept apart because they are fixed differently:

- **role drift**: every phase playbook of a rollout (gpu, etcd, control_plane, calico) in check + diff
  mode through :mod:`pyctl.runner`, the four at once (each targets its own hosts; check mode only
  reads). Every task that would change a host is drift, with its diff. `pyctl reapply` fixes it by running
  those roles on those hosts.
- **NetBox drift**: the host's reported facts against NetBox (GPU count, model and MIG layout, NIC
  MTU, etcd membership), with the smoke checks of the same names. pyctl never "fixes" these by
  changing NetBox or the hardware: a person decides which side is wrong.

A host is ``in-sync``, ``drifted``, ``failed`` (a task failed in check mode, so its state is unknown)
or ``unreachable``. Exit code: 2 when any host drifted or failed, else 4 when any was unreachable,
else 0 (DESIGN.md "Contracts": drift outranks an unreachable host, as a failure does).
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from pyctl import config, desired_state
from pyctl import digest as digest_mod
from pyctl import site as site_mod
from pyctl.drift.render import render_html
from pyctl.drift.report import DriftReport, HostDrift, NetBoxDrift, RoleDrift, kind_of
from pyctl.inventory import Inventory
from pyctl.phases import DRIFT_PLAYBOOKS, ROLE_PHASE, ROLE_PHASES, roles_of
from pyctl.rundir import new_run_dir, runs_root, write_json
from pyctl.runner import HostResult, Progress, RunResult, run_playbook
from pyctl.smoke.checks import select_checks
from pyctl.smoke.report import SmokeReport
from pyctl.smoke.run import run_smoke, smoke_settings

# The smoke checks that compare a host's facts with NetBox.
NETBOX_CHECKS = ("gpu-count", "gpu-model", "gpu-mig", "nic-mtu", "etcd-members")


def merge_runs(runs: Sequence[RunResult], run_dir: Path) -> RunResult:
    """One RunResult of several runs on (possibly) overlapping hosts: changes and failures added up."""
    hosts: dict[str, HostResult] = {}
    for run in runs:
        for name, r in run.hosts.items():
            into = hosts.setdefault(name, HostResult(name))
            for attr in ("ok", "changed", "failed", "unreachable", "skipped", "rescued", "ignored"):
                setattr(into, attr, getattr(into, attr) + getattr(r, attr))
            into.changed_tasks.extend(r.changed_tasks)
            into.changes.extend(r.changes)
            into.failures.extend(r.failures)
    status = "canceled" if any(r.canceled for r in runs) else "successful"
    return RunResult(run_dir, "drift", status, max((r.rc for r in runs), default=0), hosts)


def from_results(inventory: Inventory, wanted: Iterable[str], run: RunResult | None, smoke: SmokeReport | None
                 ) -> list[HostDrift]:
    """Build per-host drift from a check-mode :class:`pyctl.runner.RunResult` and a smoke report of the
    NETBOX_CHECKS (None: not checked). Hosts not in ``wanted`` are left out."""
    names = set(wanted)
    out = {h.name: HostDrift(h.name, h.cluster, h.rack, h.role) for h in inventory.hosts if h.name in names}
    for name, result in (run.hosts if run is not None else {}).items():
        host = out.get(name)
        if host is None:
            continue
        for change in result.changes:
            role = change.role or "(play)"
            host.changes.append(RoleDrift(ROLE_PHASE.get(role, "other"), role, change.task, kind_of(change.action),
                                          change.diff))
        real = [f for f in result.failures if not f.ignored]
        unreachable = [f for f in real if f.unreachable]
        if unreachable:
            host.unreachable = unreachable[0].message
        elif real:
            host.failed = f"{real[0].task}: {real[0].message}"
    if smoke is not None:
        for rep in smoke.hosts:
            host = out.get(rep.name)
            if host is None:
                continue
            if not rep.reachable and not host.unreachable:
                host.unreachable = next((o.detail for o in rep.outcomes if o.check == "ssh"), "unreachable")
            for o in rep.outcomes:
                if o.check in NETBOX_CHECKS and o.failed:
                    host.netbox.append(NetBoxDrift(o.check, o.detail))
    return sorted(out.values(), key=lambda h: (h.rack or "", h.name))


def check_plan(site: site_mod.Site, roles_by_host: Mapping[str, Sequence[str]],
               verdicts: Mapping[str, desired_state.Verdict] | None
               ) -> dict[str, list[str]]:
    """Playbook -> the hosts to run it on in check mode: every role of every host without a verdict
    (``verdicts`` None: the full check), else only the roles whose record differs or is unusable. An
    etcd check takes the member's whole etcd cluster (a member's settings are rendered from its peers)."""
    by_role: dict[str, set[str]] = {}
    for host, roles in roles_by_host.items():
        v = verdicts.get(host) if verdicts is not None else None
        if v is not None and v.unreachable:
            continue
        for role in roles:
            if v is None or role in v.differs or role in v.unusable:
                by_role.setdefault(role, set()).add(host)
    if "etcd" in by_role:
        members = set(site.group_hosts("role_etcd"))
        clusters = {h.cluster for h in site.inventory.hosts if h.name in by_role["etcd"]}
        by_role["etcd"] = {h.name for h in site.inventory.hosts if h.cluster in clusters and h.name in members}
    return {str(p.playbook): sorted(by_role[str(p.role)]) for p in ROLE_PHASES if by_role.get(str(p.role))}


def add_record_findings(hosts: Sequence[HostDrift], verdicts: Mapping[str, desired_state.Verdict]) -> None:
    """What the fast path found that check mode did not show: never dropped (no false "in sync").

    A difference counts as shown when check mode reported a change of the same role on the host whose
    task or diff names the item. Everything else is added as a change of its own, with the recorded and
    the current value; ``not-managed`` entries always (no role manages them, so no check sees them)."""
    for host in hosts:
        v = verdicts.get(host.name)
        if v is None:
            continue
        if v.unreachable and not host.unreachable:
            host.unreachable = v.unreachable
        for role, diffs in v.differs.items():
            shown = [f"{c.task}\n{c.diff}" for c in host.changes if c.role == role]
            for d in diffs:
                if d.kind != "not-managed" and any(d.item in text for text in shown):
                    continue
                host.changes.append(RoleDrift(ROLE_PHASE.get(role, "other"), role,
                                              f"(recorded state) {d.family}: {d.item}", d.kind, d.describe()))


def collect(site: site_mod.Site, *, hosts: Sequence[str] | None = None, runs_dir: Path | None = None,
            say: Callable[[str], None] | None = None, full: bool = False) -> DriftReport:
    """Drift of ``hosts`` (default: every host); writes ``drift.json`` and ``drift.html`` into
    ``runs/<dc>/<time>-drift/`` and ``runs/<dc>/last-drift.json``.

    First every host's state is compared with its record over the SSH pool (:mod:`pyctl.desired_state`);
    then the roles run in check + diff mode only where a record differs or cannot vouch for the host
    (none, stale, or ``full``: everywhere). Then the NetBox checks."""

    wanted = list(hosts) if hosts is not None else site.hosts
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    run_dir = new_run_dir(site.dc, "drift", runs_dir)
    inputs = digest_mod.of_site(site)
    roles_by_host = roles_of(site, wanted)
    ssh = config.load_ssh_settings(site.dc)

    def elapsed() -> str:
        return f"[{time.monotonic() - started:6.1f}s]"

    verdicts: dict[str, desired_state.Verdict] | None = None
    if not full:
        addresses = {h.name: h.address for h in site.inventory.hosts}
        verdicts = desired_state.assess(site.dc, roles_by_host, addresses, inputs, ssh, runs_dir=runs_dir)
        if say:
            verified = sum(1 for h in wanted if roles_by_host[h] and set(verdicts[h].verified) == set(roles_by_host[h]))
            differ = sorted(h for h in wanted if verdicts[h].differs)
            unusable = sorted(h for h in wanted if verdicts[h].unusable)
            say(f"{elapsed()} drift {site.dc}: {len(wanted)} hosts against their records: {verified} match, "
                f"{len(differ)} differ{': ' + ', '.join(differ[:6]) if differ else ''}, {len(unusable)} "
                f"without a usable record{': ' + ', '.join(unusable[:6]) if unusable else ''}")
            for h in unusable[:6]:
                say(f"  {h}: " + "; ".join(f"{r}: {why}" for r, why in verdicts[h].unusable.items()))
    plan = check_plan(site, roles_by_host, verdicts)
    inv_dir = site_mod.write_inventory_dir(site, run_dir / "inventory")

    def progress(p: Progress) -> None:
        if say and p.kind == "changed":
            say(f"{elapsed()}   drift: {p.host}: {p.task}")
        elif say and p.kind in ("failed", "unreachable"):
            say(f"{elapsed()}   {p.kind.upper()}: {p.host}: {p.message or ''}")

    if say and plan:
        say(f"{elapsed()} drift {site.dc}: check + diff mode: "
            + "; ".join(f"{book} on {len(h)} host{'s' if len(h) != 1 else ''}" for book, h in plan.items()))
    cancel = threading.Event()
    runs: list[RunResult] = []
    phase_of = dict((book, phase) for phase, book in DRIFT_PLAYBOOKS)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(len(plan), 1)) as pool:
        futures = [pool.submit(run_playbook, book, inventory=inv_dir, dc=site.dc, verb=f"drift-{phase_of[book]}",
                               limit=limit, check=True, diff=True, forks=min(max(len(limit), 1), 50),
                               on_event=progress, cancel=cancel, runs_dir=runs_dir)
                   for book, limit in plan.items()]
        try:
            runs = [f.result() for f in futures]
        except KeyboardInterrupt:
            cancel.set()
            raise
    run = merge_runs(runs, run_dir) if runs else None
    if say:
        say(f"{elapsed()} drift {site.dc}: NetBox against the hosts' facts ({', '.join(NETBOX_CHECKS)})")
    smoke = run_smoke(site.inventory, site.plan, smoke_settings(site.dc), ssh=ssh,
                      concurrency=32, timeout=10.0, checks=select_checks(["ssh", *NETBOX_CHECKS]))
    found = from_results(site.inventory, wanted, run, smoke)
    if verdicts is not None:
        add_record_findings(found, verdicts)
    checked = {h for limit in plan.values() for h in limit}
    report = DriftReport(dc=site.dc, started=started_at, seconds=time.monotonic() - started, hosts=found,
                         run_dir=str(run_dir), ansible_run_dirs=[str(r.run_dir) for r in runs],
                         digest=inputs.value,
                         by_record=sorted(h for h in wanted if h not in checked and roles_by_host[h]),
                         check_mode=sorted(checked & set(wanted)),
                         records={h: verdicts[h].to_dict() for h in wanted} if verdicts is not None else {})
    if run is not None and run.canceled:
        raise KeyboardInterrupt
    doc = report.to_dict()
    write_json(run_dir / "drift.json", doc)
    (run_dir / "drift.html").write_text(render_html(report), encoding="utf-8")
    write_json((runs_dir or runs_root()) / site.dc / "last-drift.json", doc)
    return report
