"""Smoke reports for people: a terminal summary and one self-contained HTML page per data center.

The JSON for machines is :meth:`pyctl.smoke.run.SmokeReport.to_dict`. The HTML page has no scripts,
no external files: inline CSS, the failures first (with the remedy line), then a grid of racks × hosts
× checks to read at a glance.
"""

from __future__ import annotations

from html import escape

from pyctl import html_page
from pyctl.smoke.report import Outcome, SmokeReport

GLYPH = {"pass": "✓", "fail": "✗", "error": "!", "skip": "–"}


def render_terminal(report: SmokeReport) -> str:
    counts = report.counts()
    lines = [f"smoke {report.dc}: {len(report.hosts)} hosts, {len(report.checks)} checks in {report.seconds:.1f} s — "
             f"{counts['pass']} pass, {counts['fail']} fail, {counts['error']} error, {counts['skip']} skip"]
    if report.unreachable:
        lines.append(f"unreachable: {', '.join(report.unreachable)}")
    failures = report.failures()
    if failures:
        lines.append("")
        lines.append("FAILED")
        for host, o in failures:
            lines.append(f"  {GLYPH[o.status]} {host.name:<16} {o.check:<16} [{o.severity}] {o.detail}")
            lines.append(f"    {'':<16} {'':<16} remedy: {o.remedy}")
    lines.append("")
    width = max((len(h.name) for h in report.hosts), default=4)
    lines.append(f"  {'host'.ljust(width)}  " + " ".join(_abbrev(c) for c in report.checks))
    for h in report.hosts:
        cells = []
        for c in report.checks:
            got = h.outcome(c)
            cells.append((GLYPH[got.status] if got else "·").center(len(_abbrev(c))))
        lines.append(f"  {h.name.ljust(width)}  " + " ".join(cells))
    return "\n".join(lines)


def _abbrev(check: str) -> str:
    return check if len(check) <= 10 else check[:10]


CSS = """
table.failures td.detail{max-width:640px}td.remedy{color:#2c5282;max-width:520px}
table.grid th.check{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;font-size:12px}
table.grid td.cell{text-align:center;width:26px;font-weight:700}
.pass{background:#c6f6d5;color:#22543d}.fail{background:#fed7d7;color:#9b2c2c}
.error{background:#feebc8;color:#7b341e}.skip{background:#f7fafc;color:#a0aec0}.none{background:#fff}
.sev-critical{color:#9b2c2c;font-weight:600}.sev-warning{color:#975a16;font-weight:600}
.legend span{display:inline-block;padding:1px 8px;margin-right:6px;border-radius:3px}
"""


def _cell(o: Outcome | None) -> str:
    if o is None:
        return '<td class="cell none" title="does not apply"></td>'
    title = escape(f"{o.check}: {o.status} — {o.detail}" + (f"\nremedy: {o.remedy}" if o.failed else ""))
    return f'<td class="cell {o.status}" title="{title}">{GLYPH[o.status]}</td>'


def render_html(report: SmokeReport) -> str:
    code = report.exit_code()
    counts = report.counts()
    verdict = ("all checks pass" if code == 0 else "checks failed" if code == 2 else "hosts unreachable")
    badge = "ok" if code == 0 else "bad" if code == 2 else "warn"
    out = [*html_page.head(f"pyctl smoke {report.dc}", CSS),
           f"<h1>pyctl smoke — {escape(report.dc)} <span class=\"badge {badge}\">{escape(verdict)}</span></h1>",
           f'<p class="summary">{len(report.hosts)} hosts, {len(report.checks)} checks, started '
           f"{escape(report.started)}, {report.seconds:.1f} s — {counts['pass']} pass, {counts['fail']} fail, "
           f"{counts['error']} error, {counts['skip']} skip; exit code {int(code)}</p>"]
    if report.unreachable:
        out.append(f'<p class="summary"><b>Unreachable:</b> {escape(", ".join(report.unreachable))}</p>')
    failures = report.failures()
    out.append(f'<h2 id="failures">Failures ({len(failures)})</h2>')
    if failures:
        out.append('<table class="failures"><thead><tr><th>host</th><th>rack</th><th>check</th><th>severity</th>'
                   "<th>what is wrong</th><th>remedy</th></tr></thead><tbody>")
        for h, o in failures:
            out.append(f'<tr class="{o.status}"><td>{escape(h.name)}</td><td>{escape(h.rack or "-")}</td>'
                       f"<td>{escape(o.check)}</td><td class=\"sev-{o.severity}\">{escape(o.severity)}</td>"
                       f'<td class="detail">{escape(o.detail)}</td><td class="remedy">{escape(o.remedy)}</td></tr>')
        out.append("</tbody></table>")
    else:
        out.append("<p>None.</p>")
    out.append('<h2 id="grid">Racks × hosts × checks</h2>')
    out.append('<p class="legend"><span class="pass">✓ pass</span><span class="fail">✗ fail</span>'
               '<span class="error">! error</span><span class="skip">– skip</span>'
               '<span class="none">(blank) does not apply</span> — hover a cell for its detail</p>')
    out.append('<table class="grid"><thead><tr><th>host</th><th>role</th><th>address</th>'
               + "".join(f'<th class="check">{escape(c)}</th>' for c in report.checks) + "</tr></thead><tbody>")
    racks: dict[str, list[int]] = {}
    for i, h in enumerate(report.hosts):
        racks.setdefault(h.rack or "(no rack)", []).append(i)
    # Racks with a failing host first, and inside a rack the failing hosts first.
    for rack in sorted(racks, key=lambda r: (not any(report.hosts[i].failed for i in racks[r]), r)):
        hosts = sorted((report.hosts[i] for i in racks[rack]), key=lambda h: (not h.failed, h.name))
        bad = sum(h.failed for h in hosts)
        out.append(f'<tr class="rack"><th colspan="{3 + len(report.checks)}">rack {escape(rack)} — '
                   f"{len(hosts)} hosts{f', {bad} failing' if bad else ''}</th></tr>")
        for h in hosts:
            out.append(f"<tr><td>{escape(h.name)}</td><td>{escape(h.role)}</td><td>{escape(h.address)}</td>"
                       + "".join(_cell(h.outcome(c)) for c in report.checks) + "</tr>")
    out.append("</tbody></table>" + html_page.END)
    return "\n".join(out) + "\n"
