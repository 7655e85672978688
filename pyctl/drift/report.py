"""What drift found: per host, per role and per NetBox fact (JSON for machines: :meth:`DriftReport.to_dict`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyctl.errors import ExitCode
from pyctl.phases import ROLE_PHASE

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
