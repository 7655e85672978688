"""The recorded desired state of each host: what its roles manage, as it was right after they converged it.

When a role converges a host it writes a manifest of what it manages there
(``/var/lib/pyctl/managed/<role>.json``). Right after a batch converges, pyctl runs one program on each
of the batch's hosts over the SSH pool (:mod:`pyctl.probes.host_state`: one connection per host, all
hosts at once) and keeps its answer as that host's record, keyed on the one input digest
(:mod:`pyctl.digest`): ``runs/<dc>/desired-state/<host>.json``.

``pyctl drift`` asks the same program again and compares (:func:`assess`). Per host and role the record is

- **verified**: fresh (digest equal, no certificate inside its renewal window) and every item equal;
- **different**: fresh, and some items differ (each a :class:`Difference`); the drift check then runs
  that role in check + diff mode on that host for the exact diffs;
- **unusable**: no record, another digest, a certificate due for renewal, or the role's manifest missing
  on the host: the role takes the full check on that host.

A file that appears in a directory the role owns, and that the record did not have, is a difference
of kind ``not-managed``: no role put it there, so check mode cannot see it and reapply does not remove it.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyctl.config import SSHSettings
from pyctl.digest import InputDigest
from pyctl.rundir import runs_root
from pyctl.smoke.pool import ConnectError, Session, SSHPool, connect

PROBE_SOURCE = Path(__file__).resolve().parent / "probes" / "host_state.py"
MANIFEST_DIR = "/var/lib/pyctl/managed"
PROBE_TIMEOUT_S = 120.0
# Item families of a role's state -> the kind of drift a difference in it is (pyctl.drift.KINDS).
KIND_OF_FAMILY = {"files": "config", "dirs": "config", "packages": "package", "units": "service",
                  "sysctl": "config", "modules": "config", "mtu": "other", "mig": "other"}
FAMILIES = tuple(KIND_OF_FAMILY)


def probe_command() -> str:
    return "python3 -c " + shlex.quote(PROBE_SOURCE.read_text(encoding="utf-8"))


# --- probing ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Probe:
    """One host's answer: ``state`` (the program's document), or why there is none."""

    host: str
    state: dict[str, Any] | None = None
    error: str | None = None
    unreachable: bool = False


def probe(hosts: Mapping[str, str], ssh: SSHSettings, *, concurrency: int = 32,
          connector: Callable[[str, SSHSettings], Session] | None = None) -> dict[str, Probe]:
    """Run the state program on ``hosts`` (name -> SSH address), all at once, one connection each."""
    command = probe_command()

    def one(item: tuple[str, str]) -> Probe:
        name, address = item
        try:
            session = pool.session(address)
        except ConnectError as exc:
            return Probe(name, error=exc.message, unreachable=exc.kind == "unreachable")
        try:
            res = session.run(command, timeout=PROBE_TIMEOUT_S)
        except Exception as exc:  # a timeout or a dropped channel: no state from this host
            return Probe(name, error=f"the state program did not answer: {exc}")
        if res.rc != 0:
            return Probe(name, error=f"the state program exited {res.rc}: {(res.stderr or res.stdout).strip()[-300:]}")
        try:
            doc = json.loads(res.stdout)
        except ValueError as exc:
            return Probe(name, error=f"the state program printed no JSON: {exc}")
        return Probe(name, state=doc)

    with SSHPool(ssh, concurrency=concurrency, connector=connector or connect) as pool:
        return {p.host: p for p in pool.map(one, sorted(hosts.items()))}


# --- the records --------------------------------------------------------------------------------------

def records_dir(dc: str, runs_dir: Path | None = None) -> Path:
    return (runs_dir or runs_root()) / dc / "desired-state"


def load(dc: str, host: str, runs_dir: Path | None = None) -> dict[str, Any]:
    """The host's record (``{"host", "roles": {role: entry}}``); empty roles when there is none or it is unreadable."""
    path = records_dir(dc, runs_dir) / f"{host}.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"host": host, "roles": {}}
    if not isinstance(doc, dict) or not isinstance(doc.get("roles"), dict):
        return {"host": host, "roles": {}}
    return doc


def _save(dc: str, host: str, doc: Mapping[str, Any], runs_dir: Path | None) -> None:
    folder = records_dir(dc, runs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{host}.json.tmp"
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, folder / f"{host}.json")


def record(dc: str, probes: Mapping[str, Probe], roles: Sequence[str], digest: InputDigest, *,
           runs_dir: Path | None = None) -> list[str]:
    """Keep each probed host's state of ``roles`` as its record under ``digest``. Returns one warning per
    host or role that could not be recorded (its record of that role is removed: it takes the full check)."""
    warnings: list[str] = []
    recorded = datetime.now(UTC).isoformat(timespec="seconds")
    for host, p in sorted(probes.items()):
        doc = load(dc, host, runs_dir)
        for role in roles:
            state = (p.state or {}).get("roles", {}).get(role)
            if state is None:
                doc["roles"].pop(role, None)
                why = p.error or f"the role wrote no manifest ({MANIFEST_DIR}/{role}.json)"
                warnings.append(f"{host}: {role}: not recorded ({why}); the next drift checks it in full")
                continue
            doc["roles"][role] = {"digest": digest.to_dict(), "recorded": recorded,
                                  "manifest": (p.state or {}).get("manifests", {}).get(role), "state": state}
        _save(dc, host, doc, runs_dir)
    return warnings


# --- comparing ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Difference:
    role: str
    family: str  # files, dirs, packages, units, sysctl, modules, mtu, mig
    item: str  # the path, package, unit, key, interface
    recorded: Any
    now: Any
    kind: str  # config, package, service, other, not-managed

    def describe(self) -> str:
        if self.kind == "not-managed":
            return f"{self.item}: not managed by any role (appeared in a directory {self.role} owns)"
        return f"{self.item}: recorded {_show(self.recorded)}, now {_show(self.now)}"

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "family": self.family, "item": self.item, "kind": self.kind,
                "recorded": self.recorded, "now": self.now, "detail": self.describe()}


def _show(value: Any) -> str:
    if value is None:
        return "absent"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items()) if k != "type" or v != "file")
    return str(value)


def _entry_changes(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> tuple[Any, Any] | None:
    """The differing attributes of two file entries (both sides), None when equal."""
    if a == b:
        return None
    if a is None or b is None:
        return a, b
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return {k: a.get(k) for k in keys}, {k: b.get(k) for k in keys}


def compare_role(role: str, recorded: Mapping[str, Any], now: Mapping[str, Any]) -> list[Difference]:
    """Every item of ``role`` whose state differs between the record and now, in a fixed order."""
    out: list[Difference] = []
    for family in FAMILIES:
        rec, cur = recorded.get(family) or {}, now.get(family) or {}
        if family == "dirs":
            for top in sorted(set(rec) | set(cur)):
                r_top, c_top = rec.get(top) or {}, cur.get(top) or {}
                r_root = {k: v for k, v in r_top.items() if k != "entries"} or None
                c_root = {k: v for k, v in c_top.items() if k != "entries"} or None
                if (changed := _entry_changes(r_root, c_root)) is not None:
                    out.append(Difference(role, family, top, *changed, kind="config"))
                r_entries, c_entries = r_top.get("entries") or {}, c_top.get("entries") or {}
                for rel in sorted(set(r_entries) | set(c_entries)):
                    path = f"{top.rstrip('/')}/{rel}"
                    if rel not in r_entries:
                        out.append(Difference(role, family, path, None, c_entries[rel], kind="not-managed"))
                    elif (changed := _entry_changes(r_entries[rel], c_entries.get(rel))) is not None:
                        out.append(Difference(role, family, path, *changed, kind="config"))
            continue
        if family == "mig":
            if rec != cur:
                keys = sorted(k for k in set(rec) | set(cur) if rec.get(k) != cur.get(k))
                out.append(Difference(role, family, "MIG layout", {k: rec.get(k) for k in keys},
                                      {k: cur.get(k) for k in keys}, kind="other"))
            continue
        for item in sorted(set(rec) | set(cur)):
            a, b = rec.get(item), cur.get(item)
            if family == "files" and (changed := _entry_changes(a, b)) is not None:
                out.append(Difference(role, family, item, *changed, kind="config"))
            elif family != "files" and a != b:
                out.append(Difference(role, family, item, a, b, kind=KIND_OF_FAMILY[family]))
    return out


@dataclass
class Verdict:
    """One host, per role: verified, different (with the differences) or unusable (with why)."""

    host: str
    verified: list[str] = field(default_factory=list)
    differs: dict[str, list[Difference]] = field(default_factory=dict)
    unusable: dict[str, str] = field(default_factory=dict)
    unreachable: str | None = None
    probe_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"verified": self.verified, "unusable": self.unusable,
                "differs": {r: [d.to_dict() for d in ds] for r, ds in self.differs.items()}}


def staleness(entry: Mapping[str, Any], digest: InputDigest, now: float) -> str | None:
    """Why a role's record cannot vouch for the host today (None: it can): other inputs, or a certificate
    the role would renew now (inside the manifest's ``cert_renew_days``, or expired)."""
    parts = (entry.get("digest") or {}).get("parts") or {}
    changed = digest.changed(parts)
    if changed:
        return f"recorded from other inputs ({', '.join(changed)} changed since {entry.get('recorded', '?')})"
    state = entry.get("state") or {}
    days = int(state.get("cert_renew_days") or 0)
    for path, not_after in sorted((state.get("certs") or {}).items()):
        if not_after is None:
            return f"the expiry of certificate {path} could not be read"
        if not_after - days * 86400 <= now:
            when = datetime.fromtimestamp(not_after, UTC).isoformat(timespec="seconds")
            return f"certificate {path} expires {when}, inside its {days}-day renewal window"
    return None


def assess(dc: str, roles_by_host: Mapping[str, Sequence[str]], addresses: Mapping[str, str], digest: InputDigest,
           ssh: SSHSettings, *, runs_dir: Path | None = None, now: float | None = None,
           connector: Callable[[str, SSHSettings], Session] | None = None) -> dict[str, Verdict]:
    """Compare every host's state with its record. Hosts without one fresh record are not probed: each
    of their roles is unusable. ``now``: epoch seconds (tests)."""
    clock = time.time() if now is None else now
    verdicts = {h: Verdict(h) for h in roles_by_host}
    fresh: dict[str, dict[str, Mapping[str, Any]]] = {}
    for host, roles in roles_by_host.items():
        doc = load(dc, host, runs_dir)
        for role in roles:
            entry = doc["roles"].get(role)
            why = "no record (never converged by pyctl since records were kept)" if entry is None else \
                staleness(entry, digest, clock)
            if why:
                verdicts[host].unusable[role] = why
            else:
                fresh.setdefault(host, {})[role] = entry
    probes = probe({h: addresses[h] for h in fresh}, ssh, connector=connector) if fresh else {}
    for host, entries in fresh.items():
        p, v = probes[host], verdicts[host]
        if p.state is None:
            if p.unreachable:
                v.unreachable = p.error
            else:
                v.probe_error = p.error
                v.unusable.update(dict.fromkeys(entries, f"no state from the host: {p.error}"))
            continue
        for role, entry in sorted(entries.items()):
            current = p.state.get("roles", {}).get(role)
            if current is None:
                v.unusable[role] = f"the role's manifest is gone from the host ({MANIFEST_DIR}/{role}.json)"
                continue
            diffs = compare_role(role, entry.get("state") or {}, current)
            if entry.get("manifest") and p.state.get("manifests", {}).get(role) not in (None, entry["manifest"]):
                diffs.insert(0, Difference(role, "files", f"{MANIFEST_DIR}/{role}.json", entry["manifest"],
                                           p.state["manifests"][role], kind="config"))
            if diffs:
                v.differs[role] = diffs
            else:
                v.verified.append(role)
    return verdicts
