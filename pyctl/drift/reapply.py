"""`pyctl reapply`'s work: the drifted roles on the drifted hosts, in the rollout's batches and under its
lock (:func:`pyctl.rollout.run_batches`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyctl import rollout
from pyctl import site as site_mod
from pyctl.drift.collect import collect
from pyctl.drift.report import DriftReport
from pyctl.errors import ConfigError, ExitCode
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


def reapply_state(site: site_mod.Site, targets: dict[str, list[str]], sizes: list[str], *,
                  max_racks: int = rollout.DEFAULT_MAX_RACKS) -> rollout.RolloutState:
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
    return rollout.new_state(site.dc, phase_hosts, sizes, rollout.failure_domains(site), max_racks=max_racks)


def drift_report(site: site_mod.Site, hosts: Sequence[str], *, fresh: bool, say: Callable[[str], None]
                 ) -> DriftReport:
    """What to reapply from: a fresh drift of ``hosts`` (every host when none is named and ``fresh``),
    else the last drift report."""
    if hosts or fresh:
        return collect(site, hosts=sorted(hosts) or None, say=say)
    return last_report(site.dc, say=say)


@dataclass(frozen=True)
class Targets:
    """From a drift report: the hosts whose roles drifted (host -> phases), and those left as they are."""

    roles: dict[str, list[str]]
    only_netbox: list[str]  # drifted from NetBox only, or entries no role manages: a person decides
    skipped: dict[str, str]  # host -> its status in the report (failed, unreachable)


def targets_of(report: DriftReport, hosts: Sequence[str] = ()) -> Targets:
    """The reapply targets of ``report`` (only ``hosts`` when named)."""
    pool = [h for h in report.hosts if h.name in set(hosts)] if hosts else list(report.hosts)
    return Targets(roles={h.name: h.phases for h in pool if h.status == "drifted" and h.phases},
                   only_netbox=sorted(h.name for h in pool if h.status == "drifted" and not h.phases),
                   skipped={h.name: h.status for h in sorted(pool, key=lambda h: h.name)
                            if h.status in ("failed", "unreachable")})


@dataclass
class Outcome:
    """A reapply's end: the batches' exit code, and (when they all passed) the hosts checked again."""

    code: ExitCode
    state_path: Path
    run_dir: Path
    after: DriftReport | None = None
    fixed: list[str] = field(default_factory=list)
    still_drifted: list[str] = field(default_factory=list)


def reapply(site: site_mod.Site, targets: Targets, state: rollout.RolloutState, *, max_fail: int,
            say: Callable[[str], None]) -> Outcome:
    """Run ``state``'s batches (the rollout's engine, under its lock), then check the hosts again: each is
    fixed (in sync, or drifted from NetBox only) or still drifted."""
    state_path = runs_root() / site.dc / "reapply-state.json"
    code, run_dir = rollout.run_batches(site, state, state_path, "reapply", max_fail=max_fail, say=say)
    if code != ExitCode.OK:
        return Outcome(code, state_path, run_dir)
    say(f"reapply {site.dc}: checking the {len(targets.roles)} host{'s' if len(targets.roles) != 1 else ''} again")
    after = collect(site, hosts=sorted(targets.roles), say=say)
    fixed = sorted(h.name for h in after.hosts if h.status == "in-sync" or (h.status == "drifted" and not h.phases))
    still = sorted(h.name for h in after.hosts if h.name not in fixed)
    return Outcome(ExitCode.FAILED if still else ExitCode.OK, state_path, run_dir, after, fixed, still)
