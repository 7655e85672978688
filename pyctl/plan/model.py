"""The computed plan: values with their reason and source, grouped by cluster and section."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyctl.plan.settings import PlanSettings


@dataclass(frozen=True)
class Value:
    """One computed value, the one-line reason for it, the document it rests on, and the variable
    name the roles read it as (None: shown in the plan, not handed to the roles)."""

    value: Any
    reason: str
    source: str
    var: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "reason": self.reason, "source": self.source, "var": self.var}


@dataclass
class ClusterPlan:
    name: str
    kind: str  # "workload" or "management"
    hosts: int
    # section ("mtu", "ipam_ipv4", "ipam_ipv6", "services", "etcd", "control_plane", ...) -> key -> Value
    sections: dict[str, dict[str, Value]] = field(default_factory=dict)

    def add(self, section: str, key: str, value: Any, reason: str, source: str, *, var: str | None = None) -> None:
        self.sections.setdefault(section, {})[key] = Value(value, reason, source, var)

    def get(self, section: str, key: str) -> Any:
        return self.sections[section][key].value

    @property
    def group(self) -> str:
        return "cluster_" + self.name.replace("-", "_").replace(".", "_")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "hosts": self.hosts,
            "group": self.group,
            "sections": {s: {k: v.to_dict() for k, v in vals.items()} for s, vals in self.sections.items()},
        }


@dataclass
class Plan:
    site: str
    settings: PlanSettings
    clusters: list[ClusterPlan] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)  # a rule is broken: `pyctl plan` exits 3
    warnings: list[str] = field(default_factory=list)  # allowed, but past a suggested limit
    findings: list[str] = field(default_factory=list)  # facts in the data worth a look (odd MTUs, ...)

    @property
    def ok(self) -> bool:
        return not self.violations

    def cluster(self, name: str) -> ClusterPlan:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "ok": self.ok,
            "violations": list(self.violations),
            "warnings": list(self.warnings),
            "findings": list(self.findings),
            "settings": self.settings.to_dict(),
            "clusters": [c.to_dict() for c in self.clusters],
        }
