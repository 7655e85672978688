"""A smoke run's results: per check, per host, per data center (JSON for machines: :meth:`SmokeReport.to_dict`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyctl.errors import ExitCode

STATUS_ORDER = {"fail": 0, "error": 1, "pass": 2, "skip": 3}


@dataclass(frozen=True)
class Outcome:
    check: str
    severity: str
    status: str
    detail: str
    remedy: str
    seconds: float
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status in ("fail", "error")

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "severity": self.severity, "status": self.status, "detail": self.detail,
                "remedy": self.remedy if self.failed else "", "seconds": round(self.seconds, 3),
                **({"data": self.data} if self.data else {})}


@dataclass
class HostReport:
    name: str
    cluster: str
    rack: str | None
    role: str
    address: str
    reachable: bool = True
    connect_error: str | None = None  # ConnectError.kind
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(o.failed for o in self.outcomes)

    def outcome(self, check: str) -> Outcome | None:
        return next((o for o in self.outcomes if o.check == check), None)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "cluster": self.cluster, "rack": self.rack, "role": self.role,
                "address": self.address, "reachable": self.reachable, "connect_error": self.connect_error,
                "failed": self.failed, "checks": [o.to_dict() for o in self.outcomes]}


@dataclass
class SmokeReport:
    dc: str
    started: str
    seconds: float
    checks: list[str]
    hosts: list[HostReport]
    run_dir: str | None = None

    def failures(self) -> list[tuple[HostReport, Outcome]]:
        """Failed and errored checks, critical first, then by host."""
        out = [(h, o) for h in self.hosts for o in h.outcomes if o.failed]
        return sorted(out, key=lambda ho: (ho[1].severity != "critical", ho[0].rack or "", ho[0].name, ho[1].check))

    @property
    def unreachable(self) -> list[str]:
        return [h.name for h in self.hosts if not h.reachable]

    def exit_code(self) -> ExitCode:
        """2 when a check fails on a host we reached (or a host key is wrong), 4 when only hosts are
        unreachable, else 0 (DESIGN.md "Contracts")."""
        if any(o.failed for h in self.hosts if h.reachable for o in h.outcomes):
            return ExitCode.FAILED
        return ExitCode.UNREACHABLE if self.unreachable else ExitCode.OK

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUS_ORDER, 0)
        for h in self.hosts:
            for o in h.outcomes:
                counts[o.status] += 1
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"dc": self.dc, "started": self.started, "seconds": round(self.seconds, 2),
                "exit_code": int(self.exit_code()), "ok": self.exit_code() == ExitCode.OK,
                "counts": self.counts(), "unreachable": self.unreachable, "checks": self.checks,
                "failures": [{"host": h.name, "rack": h.rack, **o.to_dict()} for h, o in self.failures()],
                "hosts": [h.to_dict() for h in self.hosts], "run_dir": self.run_dir}
