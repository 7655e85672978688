"""Drift reports for people: the terminal listing and one self-contained HTML page."""

from __future__ import annotations

from html import escape

from pyctl import html_page
from pyctl.drift.report import DriftReport, HostDrift


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
    out = [*html_page.head(f"pyctl drift {report.dc}", CSS),
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
    out.append("</tbody></table>" + html_page.END)
    return "\n".join(out) + "\n"
