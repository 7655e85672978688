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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from pyctl.errors import ExitCode
from pyctl.rollout import ROLE_PHASES

# The playbooks drift runs in check mode: (phase, playbook), as a rollout runs them (rollout.PHASES).
DRIFT_PLAYBOOKS = tuple((p.name, str(p.playbook)) for p in ROLE_PHASES)
# The role a changed task belongs to -> the rollout phase (and playbook) that owns it.
ROLE_PHASE = {str(p.role): p.name for p in ROLE_PHASES}
# The smoke checks that compare a host's facts with NetBox.
NETBOX_CHECKS = ("gpu-count", "gpu-model", "gpu-mig", "nic-mtu", "etcd-members")

KIND_BY_ACTION = {
    "config": ("template", "copy", "lineinfile", "blockinfile", "ini_file", "replace", "sysctl", "file",
               "openssl_privatekey", "x509_certificate", "openssl_csr", "get_url", "unarchive"),
    "service": ("service", "systemd", "systemd_service"),
    "package": ("apt", "package", "dpkg_selections", "apt_key", "apt_repository", "deb822_repository"),
}
# not-managed: an entry no role manages appeared in a directory a role owns (found by the record only).
KINDS = ("config", "service", "package", "other", "not-managed", "netbox")


def kind_of(action: str | None) -> str:
    """``config`` / ``service`` / ``package`` / ``other`` from a task's module (FQCN or short)."""
    short = (action or "").rsplit(".", 1)[-1]
    for kind, actions in KIND_BY_ACTION.items():
        if short in actions:
            return kind
    return "other"


@dataclass(frozen=True)
class RoleDrift:
    phase: str
    role: str
    task: str
    kind: str
    diff: str

    def to_dict(self) -> dict[str, Any]:
        return {"phase": self.phase, "role": self.role, "task": self.task, "kind": self.kind, "diff": self.diff}


@dataclass(frozen=True)
class NetBoxDrift:
    check: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "detail": self.detail, "kind": "netbox"}


@dataclass
class HostDrift:
    name: str
    cluster: str
    rack: str | None
    role: str
    changes: list[RoleDrift] = field(default_factory=list)
    netbox: list[NetBoxDrift] = field(default_factory=list)
    unreachable: str | None = None  # why
    failed: str | None = None  # the task that failed in check mode, and why

    @property
    def status(self) -> str:
        if self.unreachable:
            return "unreachable"
        if self.failed:
            return "failed"
        return "drifted" if self.changes or self.netbox else "in-sync"

    @property
    def phases(self) -> list[str]:
        """The rollout phases whose roles drifted on this host, in rollout order."""
        order = list(ROLE_PHASE.values())
        return sorted({c.phase for c in self.changes if c.kind != "not-managed"}, key=order.index)

    @property
    def kinds(self) -> list[str]:
        found = {c.kind for c in self.changes} | ({"netbox"} if self.netbox else set())
        return [k for k in KINDS if k in found]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "cluster": self.cluster, "rack": self.rack, "role": self.role,
                "status": self.status, "phases": self.phases, "kinds": self.kinds,
                "changes": [c.to_dict() for c in self.changes], "netbox": [n.to_dict() for n in self.netbox],
                "unreachable": self.unreachable, "failed": self.failed}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> HostDrift:
        return cls(name=doc["name"], cluster=doc["cluster"], rack=doc.get("rack"), role=doc["role"],
                   changes=[RoleDrift(**{k: c[k] for k in ("phase", "role", "task", "kind", "diff")})
                            for c in doc.get("changes", [])],
                   netbox=[NetBoxDrift(n["check"], n["detail"]) for n in doc.get("netbox", [])],
                   unreachable=doc.get("unreachable"), failed=doc.get("failed"))


@dataclass
class DriftReport:
    dc: str
    started: str
    seconds: float
    hosts: list[HostDrift]
    run_dir: str | None = None
    ansible_run_dirs: list[str] = field(default_factory=list)
    digest: str | None = None  # the input digest (pyctl.digest) the records were compared under
    by_record: list[str] = field(default_factory=list)  # hosts whose every role matched its record
    check_mode: list[str] = field(default_factory=list)  # hosts some role ran on in check + diff mode
    records: dict[str, Any] = field(default_factory=dict)  # host -> its records' verdict (desired_state.Verdict)

    def with_status(self, status: str) -> list[HostDrift]:
        return [h for h in self.hosts if h.status == status]

    @property
    def drifted(self) -> list[str]:
        return [h.name for h in self.with_status("drifted")]

    def exit_code(self) -> ExitCode:
        if any(h.status in ("drifted", "failed") for h in self.hosts):
            return ExitCode.FAILED
        return ExitCode.UNREACHABLE if self.with_status("unreachable") else ExitCode.OK

    def by_kind(self) -> dict[str, list[str]]:
        """Kind of drift -> the hosts that have it (kinds in a fixed order, hosts sorted)."""
        out: dict[str, list[str]] = {}
        for kind in KINDS:
            hosts = sorted(h.name for h in self.hosts if kind in h.kinds)
            if hosts:
                out[kind] = hosts
        return out

    def counts(self) -> dict[str, int]:
        return {s: len(self.with_status(s)) for s in ("in-sync", "drifted", "failed", "unreachable")}

    def to_dict(self) -> dict[str, Any]:
        return {"dc": self.dc, "started": self.started, "seconds": round(self.seconds, 1),
                "exit_code": int(self.exit_code()), "counts": self.counts(), "by_kind": self.by_kind(),
                "run_dir": self.run_dir, "ansible_run_dirs": self.ansible_run_dirs,
                "digest": self.digest, "by_record": self.by_record, "check_mode": self.check_mode,
                "records": self.records, "hosts": [h.to_dict() for h in self.hosts]}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> DriftReport:
        return cls(dc=doc["dc"], started=doc["started"], seconds=float(doc.get("seconds", 0)),
                   hosts=[HostDrift.from_dict(h) for h in doc["hosts"]], run_dir=doc.get("run_dir"),
                   ansible_run_dirs=list(doc.get("ansible_run_dirs", [])), digest=doc.get("digest"),
                   by_record=list(doc.get("by_record", [])), check_mode=list(doc.get("check_mode", [])),
                   records=dict(doc.get("records", {})))


# --- collecting ---------------------------------------------------------------------------------------

def merge_runs(runs: Sequence[Any], run_dir: Path) -> Any:
    """One RunResult of several runs on (possibly) overlapping hosts: changes and failures added up."""
    from pyctl.runner import HostResult, RunResult  # noqa: PLC0415

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


def from_results(inventory: Any, wanted: Iterable[str], run: Any, smoke: Any | None) -> list[HostDrift]:
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


def roles_of(site: Any, hosts: Iterable[str]) -> dict[str, list[str]]:
    """Host -> the roles drift covers on it (rollout order): the role phases whose group has the host."""
    groups = {p.role: set(site.group_hosts(p.hosts)) for p in ROLE_PHASES}
    return {h: [str(role) for role, members in groups.items() if h in members] for h in hosts}


def check_plan(site: Any, roles_by_host: Mapping[str, Sequence[str]], verdicts: Mapping[str, Any] | None
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


def add_record_findings(hosts: Sequence[HostDrift], verdicts: Mapping[str, Any]) -> None:
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


def collect(site: Any, *, hosts: Sequence[str] | None = None, runs_dir: Path | None = None,
            say: Callable[[str], None] | None = None, full: bool = False) -> DriftReport:
    """Drift of ``hosts`` (default: every host); writes ``drift.json`` and ``drift.html`` into
    ``runs/<dc>/<time>-drift/`` and ``runs/<dc>/last-drift.json``.

    First every host's state is compared with its record over the SSH pool (:mod:`pyctl.desired_state`);
    then the roles run in check + diff mode only where a record differs or cannot vouch for the host
    (none, stale, or ``full``: everywhere). Then the NetBox checks."""
    from pyctl import desired_state  # noqa: PLC0415
    from pyctl import digest as digest_mod  # noqa: PLC0415
    from pyctl import site as site_mod  # noqa: PLC0415
    from pyctl.rundir import new_run_dir, runs_root, write_json  # noqa: PLC0415
    from pyctl.runner import Progress, run_playbook  # noqa: PLC0415
    from pyctl.smoke.checks import select_checks  # noqa: PLC0415
    from pyctl.smoke.pool import load_ssh_settings  # noqa: PLC0415
    from pyctl.smoke.runner import run_smoke  # noqa: PLC0415
    from pyctl.smoke_cli import smoke_settings  # noqa: PLC0415

    wanted = list(hosts) if hosts is not None else site.hosts
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.monotonic()
    run_dir = new_run_dir(site.dc, "drift", runs_dir)
    inputs = digest_mod.of_site(site)
    roles_by_host = roles_of(site, wanted)
    ssh = load_ssh_settings(site.dc)

    def elapsed() -> str:
        return f"[{time.monotonic() - started:6.1f}s]"

    verdicts: dict[str, Any] | None = None
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
    runs: list[Any] = []
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


# --- reports ------------------------------------------------------------------------------------------

def render_terminal(report: DriftReport, *, diffs: bool = True) -> str:
    c = report.counts()
    lines = [f"drift {report.dc}: {len(report.hosts)} hosts in {report.seconds:.1f} s — {c['in-sync']} in sync, "
             f"{c['drifted']} drifted, {c['failed']} failed, {c['unreachable']} unreachable",
             f"  checked: {len(report.by_record)} by their records, {len(report.check_mode)} in check + diff mode"]
    for kind, hosts in report.by_kind().items():
        lines.append(f"  {kind:<8} {len(hosts)} host{'s' if len(hosts) != 1 else ''}: {', '.join(hosts)}")
    for h in report.hosts:
        if h.status == "in-sync":
            continue
        lines.append("")
        lines.append(f"{h.name} ({h.role}, {h.cluster}): {h.status}"
                     + (f" — roles to reapply: {', '.join(h.phases)}" if h.phases else ""))
        if h.unreachable:
            lines.append(f"  unreachable: {h.unreachable}")
        if h.failed:
            lines.append(f"  check mode failed: {h.failed}")
        for ch in h.changes:
            lines.append(f"  [{ch.kind}] {ch.role}: {ch.task}"
                         + ("  (not removed by reapply: no role manages it; remove it or make a role own it)"
                            if ch.kind == "not-managed" else ""))
            if diffs and ch.diff:
                lines.extend(f"      {line}" for line in ch.diff.splitlines()[:40])
        for n in h.netbox:
            lines.append(f"  [netbox] {n.check}: {n.detail}  (not fixed by reapply: correct NetBox or the host)")
    return "\n".join(lines)


CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2430;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}.summary{color:#4a5568}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600;color:#fff}
.ok{background:#2f855a}.bad{background:#c53030}.warn{background:#b7791f}
table{border-collapse:collapse}td,th{border:1px solid #d8dee8;padding:4px 8px;vertical-align:top}
th{background:#f1f4f8;text-align:left}tr.rack th{background:#e2e8f0}
td.in-sync{background:#c6f6d5;color:#22543d}td.drifted{background:#fed7d7;color:#9b2c2c}
td.failed{background:#feebc8;color:#7b341e}td.unreachable{background:#e2e8f0;color:#4a5568}
pre{background:#f7fafc;border:1px solid #e2e8f0;padding:6px;margin:4px 0;max-width:900px;overflow:auto}
.kind{font-weight:600;color:#2c5282}
"""


def render_html(report: DriftReport) -> str:
    code = report.exit_code()
    c = report.counts()
    verdict = {0: "in sync", 2: "drift found", 4: "hosts unreachable"}.get(int(code), "")
    badge = "ok" if code == 0 else "bad" if code == 2 else "warn"
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>pyctl drift {escape(report.dc)}</title>", f"<style>{CSS}</style></head><body>",
           f'<h1>pyctl drift — {escape(report.dc)} <span class="badge {badge}">{escape(verdict)}</span></h1>',
           f'<p class="summary">{len(report.hosts)} hosts, started {escape(report.started)}, '
           f"{report.seconds:.1f} s — {c['in-sync']} in sync, {c['drifted']} drifted, {c['failed']} failed, "
           f"{c['unreachable']} unreachable; exit code {int(code)}</p>",
           f'<p class="summary">checked: {len(report.by_record)} hosts by the state their roles recorded, '
           f"{len(report.check_mode)} in check + diff mode</p>"]
    kinds = report.by_kind()
    if kinds:
        out.append("<ul>" + "".join(f'<li><span class="kind">{escape(k)}</span>: {escape(", ".join(v))}</li>'
                                    for k, v in kinds.items()) + "</ul>")
    bad = [h for h in report.hosts if h.status != "in-sync"]
    out.append(f"<h2>Drifted, failed or unreachable hosts ({len(bad)})</h2>")
    if not bad:
        out.append("<p>None.</p>")
    for h in bad:
        out.append(f"<h3>{escape(h.name)} — {escape(h.status)}"
                   + (f" (reapply: {escape(', '.join(h.phases))})" if h.phases else "") + "</h3>")
        if h.unreachable:
            out.append(f"<p>unreachable: {escape(h.unreachable)}</p>")
        if h.failed:
            out.append(f"<p>check mode failed: {escape(h.failed)}</p>")
        for ch in h.changes:
            out.append(f'<p><span class="kind">[{escape(ch.kind)}]</span> {escape(ch.role)}: {escape(ch.task)}</p>')
            if ch.diff:
                out.append(f"<pre>{escape(ch.diff)}</pre>")
        for n in h.netbox:
            out.append(f'<p><span class="kind">[netbox]</span> {escape(n.check)}: {escape(n.detail)} — not fixed by '
                       "reapply: correct NetBox or the host</p>")
    out.append("<h2>Racks × hosts</h2><table><thead><tr><th>host</th><th>role</th><th>cluster</th><th>status</th>"
               "<th>kinds</th></tr></thead><tbody>")
    racks: dict[str, list[HostDrift]] = {}
    for h in report.hosts:
        racks.setdefault(h.rack or "(no rack)", []).append(h)
    for rack in sorted(racks, key=lambda r: (all(h.status == "in-sync" for h in racks[r]), r)):
        out.append(f'<tr class="rack"><th colspan="5">rack {escape(rack)}</th></tr>')
        for h in sorted(racks[rack], key=lambda h: (h.status == "in-sync", h.name)):
            out.append(f"<tr><td>{escape(h.name)}</td><td>{escape(h.role)}</td><td>{escape(h.cluster)}</td>"
                       f'<td class="{h.status}">{escape(h.status)}</td><td>{escape(", ".join(h.kinds))}</td></tr>')
    out.append("</tbody></table></body></html>")
    return "\n".join(out) + "\n"
