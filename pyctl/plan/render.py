"""The plan as people read it (render_text) and as the roles read it (group_vars)."""

from __future__ import annotations

from typing import Any

from pyctl.plan.model import Plan


def group_vars(plan: Plan) -> dict[str, dict[str, Any]]:
    """Per cluster group (``cluster_<name>``, as the inventory names it), the variables the roles read."""
    out: dict[str, dict[str, Any]] = {}
    for c in plan.clusters:
        vars_: dict[str, Any] = {}
        for section in c.sections.values():
            for v in section.values():
                if v.var is not None:
                    vars_[v.var] = v.value
        out[c.group] = dict(sorted(vars_.items()))
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()) or "—"
    if isinstance(value, list):
        if value and all(isinstance(v, dict) and "name" in v for v in value):
            return ", ".join(str(v["name"]) for v in value)
        return ", ".join(_fmt(v) for v in value) or "—"
    return str(value)


def render_text(plan: Plan) -> str:
    """A readable plan: each cluster's sections, each value with its one-line reason and source,
    then every violation, warning and finding."""
    counts = f"{len(plan.violations)} violation(s), {len(plan.warnings)} warning(s), {len(plan.findings)} finding(s)"
    lines = [f"Plan for {plan.site}: {len(plan.clusters)} cluster(s); {counts}"]
    for c in plan.clusters:
        lines.append("")
        lines.append(f"cluster {c.name} ({c.kind}, {c.hosts} hosts; Ansible group {c.group})")
        for name, section in c.sections.items():
            lines.append(f"  {name}")
            width = max((len(k) for k in section), default=0)
            for key, v in section.items():
                lines.append(f"    {key:<{width}}  {_fmt(v.value)}")
                lines.append(f"    {'':<{width}}    {v.reason}  [{v.source}]")
    for title, items in (("Violations (pyctl plan exits 3)", plan.violations), ("Warnings", plan.warnings),
                         ("Findings", plan.findings)):
        if items:
            lines.append("")
            lines.append(f"{title}:")
            lines.extend(f"  {i}. {item}" for i, item in enumerate(items, 1))
    lines.append("")
    lines.append("Plan OK." if plan.ok else f"Plan has {len(plan.violations)} violation(s).")
    return "\n".join(lines) + "\n"
