"""`pyctl reapply`'s work: the drifted roles on the drifted hosts, in the rollout's batches and under its
lock (:func:`pyctl.rollout.run_batches`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from pyctl import rollout
from pyctl import site as site_mod
from pyctl.drift.report import DriftReport
from pyctl.errors import ConfigError
from pyctl.phases import PHASES
from pyctl.rundir import runs_root


def last_report(dc: str, *, say: Callable[[str], None]) -> DriftReport:
    """The last `pyctl drift DC` report (runs/<dc>/last-drift.json)."""
    path = runs_root() / dc / "last-drift.json"
    if not path.exists():
        raise ConfigError(f"no drift report for {dc} ({path}): run `pyctl drift {dc}` first, or pass --fresh")
    try:
        report = DriftReport.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a drift report ({exc}); run `pyctl drift {dc}` again") from exc
    age = datetime.now(UTC) - datetime.fromisoformat(report.started)
    say(f"reapply {dc}: the drift report of {report.started} ({age.total_seconds() / 60:.0f} min ago)")
    return report


def reapply_state(site: site_mod.Site, targets: dict[str, list[str]], sizes: list[str]) -> rollout.RolloutState:
    """Phases (rollout order) × the hosts whose roles drifted. An etcd phase takes the members' whole
    etcd cluster: a member's settings are rendered from its peers' facts."""
    by_phase: dict[str, list[str]] = {}
    for host, phases in targets.items():
        for phase in phases:
            by_phase.setdefault(phase, []).append(host)
    if "etcd" in by_phase:
        members = set(site.group_hosts("role_etcd"))
        clusters = {h.cluster for h in site.inventory.hosts if h.name in by_phase["etcd"]}
        by_phase["etcd"] = sorted(h.name for h in site.inventory.hosts if h.cluster in clusters and h.name in members)
    phase_hosts = [(ph, sorted(by_phase[ph.name])) for ph in PHASES if ph.name in by_phase]
    return rollout.new_state(site.dc, phase_hosts, sizes)
