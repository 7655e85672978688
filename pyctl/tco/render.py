"""The TCO for people: the terminal table with its formulas, and the cumulative-cost chart as SVG."""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape

from pyctl.tco.assumptions import HOURS_PER_MONTH
from pyctl.tco.model import TcoResult

# --- rendering ---------------------------------------------------------------------------------

def usd(v: float | None, digits: int = 0) -> str:
    if v is None or math.isinf(v):
        return "—"
    return f"${v:,.{digits}f}"


def tokens(n: float) -> str:
    """1.5e9 -> '1.5 B'."""
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.3g} {suffix}"
    return f"{n:.3g}"


def _pct(f: float) -> str:
    return f"{f * 100:g}%"


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def render_text(result: TcoResult) -> str:
    """The result as people read it: every number with the formula and inputs behind it."""
    r, a = result, result.assumptions
    lines = [f"TCO of the GPU fleet in {', '.join(r.fleet.dcs)}: {tokens(a.tokens_per_day)} tokens/day, "
             "self-hosted against the cloud API", "", "fleet (GPU workers in NetBox)"]
    rows: list[tuple[str, ...]] = [("dc", "gpu model", "servers", "gpus", "racks")]
    rows += [(e.dc, e.gpu_model, str(e.servers), str(e.gpus), str(r.racks[(e.dc, e.gpu_model)]))
             for e in r.fleet.entries]
    rows.append(("total", "", str(r.fleet.servers), str(r.fleet.gpus), str(sum(r.racks.values()))))
    lines += _table(rows)

    cpm, cpv = r.cost_per_million_usd, r.cost_per_million_at_volume_usd
    util = _pct(a.utilisation)
    staff = f"{a.staff_fte:g} FTE × {usd(a.staff_usd_per_fte_year)} / 12"
    lines += ["", "self-hosted"]
    lines += _table([
        ("capex", usd(r.capex_usd), f"{r.fleet.servers} servers × server price"),
        ("depreciation / month", usd(r.depreciation_usd_per_month), f"capex / ({a.depreciation_years:g} years × 12)"),
        ("power / month", usd(r.power_usd_per_month),
         f"{r.it_power_kw:g} kW × PUE {a.pue:g} × {HOURS_PER_MONTH:g} h × ${a.electricity_usd_per_kwh:g}/kWh"),
        ("colo / month", usd(r.colo_usd_per_month),
         f"{sum(r.racks.values())} racks × {usd(a.colo_usd_per_rack_month)} ({a.rack_power_kw:g} kW racks)"),
        ("network / month", usd(r.network_usd_per_month),
         f"{r.fleet.servers} servers × {usd(a.network_usd_per_server_month)}"),
        ("staff / month", usd(r.staff_usd_per_month), staff),
        ("opex / month", usd(r.opex_usd_per_month), "power + colo + network + staff"),
        ("total / month", usd(r.self_hosted_usd_per_month), "depreciation + opex"),
        ("capacity", f"{tokens(r.capacity_tokens_per_s)} tokens/s",
         f"at {util} utilisation = {tokens(r.capacity_tokens_per_month)} tokens/month"),
        ("cost per 1M tokens", usd(cpm, 3), "total / month over the capacity per month"),
        ("cost per 1M at volume", usd(cpv, 3),
         f"total / month over the {tokens(r.served_tokens_per_month)} tokens/month served"),
    ])
    small = _pct(a.small_model_token_share)
    large = _pct(round(1 - a.small_model_token_share, 10))
    lines += ["", "cloud API, same volume"]
    lines += _table([
        ("price per 1M tokens", usd(r.cloud_usd_per_million, 3),
         f"{small} small (${a.cloud_small_input_usd_per_million:g} in / ${a.cloud_small_output_usd_per_million:g} "
         f"out), {large} large (${a.cloud_large_input_usd_per_million:g} in / "
         f"${a.cloud_large_output_usd_per_million:g} out), {_pct(a.input_token_share)} input"),
        ("cost / month", usd(r.cloud_usd_per_month), f"{tokens(r.volume_tokens_per_month)} tokens/month"),
    ])
    be = r.break_even_months
    lines.append("")
    if be is None:
        lines.append(f"break-even: never — self-hosted opex {usd(r.opex_usd_per_month)}/month is not below the "
                     f"cloud's {usd(r.cloud_usd_per_month)}/month")
    else:
        lines.append(f"break-even: {be:.1f} months — capex {usd(r.capex_usd)} / (cloud "
                     f"{usd(r.cloud_usd_per_month)} − opex {usd(r.opex_usd_per_month)} per month)")

    fleet_gpus = r.fleet.gpus_by_model()
    lines += ["", f"GPUs needed for {tokens(a.tokens_per_day)} tokens/day: peak {tokens(r.peak_tokens_per_s)} "
              f"tokens/s (×{a.peak_factor:g}) at {util} utilisation; the fleet carries "
              f"{r.peak_coverage:.2f}× the peak"]
    rows = [("gpu model", "needed", "servers", "in fleet", "capex", "per 1M at volume", "break-even")]
    sized = {s.gpu_model: s for s in r.right_sized}
    for model, n in r.gpus_needed.items():
        s = sized.get(model)
        rows.append((model, str(n), str(s.servers) if s else "", str(fleet_gpus.get(model, 0)),
                     usd(s.capex_usd) if s else "", usd(s.cost_per_million_at_volume_usd, 3) if s else "",
                     (f"{s.break_even_months:.1f} months" if s.break_even_months is not None else "never")
                     if s else ""))
    lines += _table(rows)
    if r.sensitivity:
        lines += ["", "sensitivity of cost per 1M tokens (each assumption alone moved)"]
        rows = [("assumption", "low", "high", "cost low", "cost high", "swing")]
        rows += [(s.key, f"×{s.low_factor:.3g}", f"×{s.high_factor:.3g}", usd(s.cost_per_million_low, 3),
                  usd(s.cost_per_million_high, 3), f"{s.swing_percent:.0f}%") for s in r.sensitivity]
        lines += _table(rows)
    if r.warnings:
        lines += ["", "warnings"]
        lines += [f"  - {w}" for w in r.warnings]
    lines += ["", "every assumption with its unit and source: pyctl tco --json (key assumptions); defaults in "
              "inventories/tco-assumptions.yml"]
    return "\n".join(lines)


def _nice_step(span: float, ticks: int = 5) -> float:
    if span <= 0:
        return 1.0
    raw = span / ticks
    mag = 10.0 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)


def _money_label(v: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= size:
            return f"${v / size:g}{suffix}"
    return f"${v:g}"


def render_svg(cumulative: Sequence[tuple[int, float, float]], title: str = "Cumulative cost") -> str:
    """A self-contained SVG line chart of cumulative cost over time: self-hosted against the cloud API,
    with axes, their labels, a legend and (when they cross) the break-even month."""
    if not cumulative:
        raise ValueError("nothing to plot: no months")
    width, height = 760, 420
    left, right, top, bottom = 90, 30, 50, 60
    pw, ph = width - left - right, height - top - bottom
    last = max(m for m, _, _ in cumulative) or 1
    ymax = max(max(s, c) for _, s, c in cumulative) or 1.0
    ystep = _nice_step(ymax)
    ytop = math.ceil(ymax / ystep) * ystep
    xstep = 12 if last > 24 else 6 if last > 12 else 1
    if last > 120:
        xstep = int(_nice_step(last / 12)) * 12 or 12

    def x(m: float) -> float:
        return left + pw * m / last

    def y(v: float) -> float:
        return top + ph * (1 - v / ytop)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f"<title>{escape(title)}</title>",
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2:.1f}" y="24" text-anchor="middle" font-size="16">{escape(title)}</text>']
    v = 0.0
    while v <= ytop + 1e-9:
        out.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + pw}" y2="{y(v):.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{escape(_money_label(v))}</text>')
        v += ystep
    for m in range(0, last + 1, xstep):
        out.append(f'<line x1="{x(m):.1f}" y1="{top + ph}" x2="{x(m):.1f}" y2="{top + ph + 5}" stroke="black"/>')
        out.append(f'<text x="{x(m):.1f}" y="{top + ph + 20}" text-anchor="middle">{m}</text>')
    out.append(f'<line x1="{left}" y1="{top + ph}" x2="{left + pw}" y2="{top + ph}" stroke="black"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + ph}" stroke="black"/>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 15}" text-anchor="middle">months</text>')
    out.append(f'<text x="20" y="{top + ph / 2:.1f}" text-anchor="middle" '
               f'transform="rotate(-90 20 {top + ph / 2:.1f})">cumulative cost (USD)</text>')
    crossing = next((m for m, s, c in cumulative if m > 0 and c >= s), None)
    if crossing is not None:
        out.append(f'<line id="break-even" x1="{x(crossing):.1f}" y1="{top}" x2="{x(crossing):.1f}" '
                   f'y2="{top + ph}" stroke="#555" stroke-dasharray="4 4"/>')
        out.append(f'<text x="{x(crossing) + 4:.1f}" y="{top + 14}" fill="#555">break-even: month {crossing}</text>')
    for sid, idx, colour, label in (("self-hosted", 1, "#1f77b4", "self-hosted"),
                                    ("cloud", 2, "#d62728", "cloud API")):
        points = " ".join(f"{x(row[0]):.1f},{y(row[idx]):.1f}" for row in cumulative)
        out.append(f'<polyline id="{sid}" fill="none" stroke="{colour}" stroke-width="2.5" points="{points}">'
                   f"<title>{escape(label)}</title></polyline>")
    lx, ly = left + 15, top + 12
    out.append(f'<g id="legend"><rect x="{lx - 8}" y="{ly - 14}" width="150" height="48" fill="white" '
               f'stroke="#ccc"/>')
    for i, (colour, label) in enumerate((("#1f77b4", "self-hosted"), ("#d62728", "cloud API"))):
        yy = ly + i * 20
        out.append(f'<line x1="{lx}" y1="{yy}" x2="{lx + 24}" y2="{yy}" stroke="{colour}" stroke-width="2.5"/>')
        out.append(f'<text x="{lx + 32}" y="{yy + 4}">{escape(label)}</text>')
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"
