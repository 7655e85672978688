"""`pyctl drift DC` and `pyctl reapply DC --drifted`: find what changed on the hosts, fix only that.

pyctl.cli adds the subcommands with :func:`add_parsers` and runs them with :func:`handlers` (handed its
``load_inventory(args)`` and ``_plan_settings(args)``). The drift itself is :mod:`pyctl.drift`; reapply
runs the drifted roles on the drifted hosts with the rollout's engine (same batches, same lock).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyctl import drift, rollout, rollout_cli
from pyctl import site as site_mod
from pyctl.cli_common import add_site_flags, not_touched
from pyctl.errors import ConfigError, ExitCode

DRIFT_EPILOG = """\
examples:
  pyctl drift dc2                      every host: in sync, drifted (with diffs), unreachable
  pyctl drift dc2 --limit cluster_dc2-inference-01 --json
  pyctl reapply dc2 --drifted          then fix what the last drift found

How: every host's state is first compared with what its roles recorded when they last converged it
(runs/<dc>/desired-state/, one SSH connection per host, all at once); only the roles whose record
differs, is missing or is stale (NetBox, the plan, group_vars or the roles changed since, or a
certificate is due for renewal) run in check + diff mode, on those hosts only. --full checks everything.

kinds of drift: config (a file, sysctl or module setting differs), service (stopped or disabled),
package (version), other (another task would change; MIG layout, NIC MTU), not-managed (an entry no
role manages appeared in a directory a role owns: reapply leaves it), netbox (the host's facts differ
from NetBox: GPU count, model or MIG layout, NIC MTU, etcd membership — never "fixed" by pyctl;
correct NetBox or the host).

Reports: runs/<dc>/<time>-drift/drift.json and drift.html; runs/<dc>/last-drift.json for reapply.
exit codes: 0 in sync, 2 drift found (or a role failed in check mode), 4 unreachable hosts, 3 bad input
"""

REAPPLY_EPILOG = """\
examples:
  pyctl reapply dc2 --drifted --yes            the drifted hosts of the last `pyctl drift dc2`
  pyctl reapply dc2 --drifted --fresh --yes    run a drift first
  pyctl reapply dc2 --host dc2-gpu-0007 --yes  this host: a fresh drift of it, then its drifted roles

Only the roles that drifted run, only on the hosts where they drifted (an etcd member's role runs with
its peers: a member's settings need theirs; the role restarts members one at a time), in the rollout's
batches and under its lock. Afterwards those hosts are checked again: fixed or still drifted.
exit codes: 0 every host fixed (or nothing to do), 2 still drifted or a batch failed, 3 bad input or the
DC is locked, 4 unreachable, 130 interrupted
"""


def _eprint(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "drift", help="what changed on the hosts (roles in check + diff mode) and what differs from NetBox",
        description="Run every role on the data center's hosts in check + diff mode (nothing changes) and compare "
        "the hosts' facts with NetBox. Prints, per host, each task that would change it with its diff, grouped "
        "by kind of drift; writes JSON and HTML reports.",
        epilog=DRIFT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dc", help="data center: the NetBox site slug")
    p.add_argument("--limit", metavar="HOSTS", help="comma-separated hosts or groups to check")
    p.add_argument("--json", action="store_true", help="print the report as one JSON document")
    p.add_argument("--no-diff", action="store_true", help="list the drifted tasks without their diffs")
    p.add_argument("--full", action="store_true",
                   help="run every role in check + diff mode on every host, whatever the records say")
    add_site_flags(p)

    r = subparsers.add_parser(
        "reapply", help="fix drift: run only the drifted roles on only the drifted hosts, then check them again",
        description="Reapply the roles that drifted, on the hosts where they drifted (from the last `pyctl "
        "drift`, or a fresh one), in the rollout's batches and under the rollout's lock; then run the drift "
        "check on those hosts again and report each as fixed or still drifted.",
        epilog=REAPPLY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("dc", help="data center: the NetBox site slug")
    r.add_argument("--drifted", action="store_true", help="reapply the drifted hosts of the drift report")
    r.add_argument("--host", action="append", default=[], metavar="HOST",
                   help="reapply this host (repeatable); a fresh drift of the named hosts decides the roles")
    r.add_argument("--fresh", action="store_true", help="run a drift first instead of reading the last report")
    r.add_argument("--yes", action="store_true", help="go on without asking")
    r.add_argument("--dry-run", action="store_true", help="show what would be reapplied, change nothing")
    r.add_argument("--json", action="store_true", help="print the result as one JSON document")
    rollout_cli.add_batch_flags(r)
    add_site_flags(r)


def handlers(load_inventory: Callable[[argparse.Namespace], Any],
             plan_settings: Callable[[argparse.Namespace], Any]) -> dict[str, Callable[[argparse.Namespace], int]]:
    return {"drift": lambda args: run_drift(args, load_inventory, plan_settings),
            "reapply": lambda args: run_reapply(args, load_inventory, plan_settings)}


def run_drift(args: argparse.Namespace, load_inventory: Callable[[argparse.Namespace], Any],
              plan_settings: Callable[[argparse.Namespace], Any]) -> int:
    site = site_mod.load(args.dc, load_inventory(args), plan_settings(args))
    wanted = site.resolve_limit(args.limit)
    hosts = sorted(wanted) if wanted is not None else None
    report = drift.collect(site, hosts=hosts, say=_eprint, full=args.full)
    if args.json:
        print(json.dumps({**report.to_dict(), "not_touched": not_touched(site.inventory)}, indent=2))
    else:
        print(drift.render_terminal(report, diffs=not args.no_diff))
    _eprint(f"HTML report: {Path(str(report.run_dir)) / 'drift.html'}")
    return int(report.exit_code())


def _last_report(dc: str) -> drift.DriftReport:
    from pyctl.rundir import runs_root  # noqa: PLC0415

    path = runs_root() / dc / "last-drift.json"
    if not path.exists():
        raise ConfigError(f"no drift report for {dc} ({path}): run `pyctl drift {dc}` first, or pass --fresh")
    try:
        report = drift.DriftReport.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a drift report ({exc}); run `pyctl drift {dc}` again") from exc
    age = datetime.now(UTC) - datetime.fromisoformat(report.started)
    _eprint(f"reapply {dc}: the drift report of {report.started} ({age.total_seconds() / 60:.0f} min ago)")
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
    phase_hosts = [(ph, sorted(by_phase[ph.name])) for ph in rollout.PHASES if ph.name in by_phase]
    return rollout.new_state(site.dc, phase_hosts, sizes)


def run_reapply(args: argparse.Namespace, load_inventory: Callable[[argparse.Namespace], Any],
                plan_settings: Callable[[argparse.Namespace], Any]) -> int:
    from pyctl.rundir import runs_root  # noqa: PLC0415

    if not args.drifted and not args.host:
        raise ConfigError("say what to reapply: --drifted (the drifted hosts of the last drift) or --host HOST")
    sizes = rollout.parse_batch_sizes(args.batches)
    if args.max_fail < 0:
        raise ConfigError(f"--max-fail must be 0 or more, got {args.max_fail}")
    site = site_mod.load(args.dc, load_inventory(args), plan_settings(args))
    site.require_hosts("reapply")
    unknown = sorted(set(args.host) - set(site.hosts))
    if unknown:
        raise ConfigError(f"--host: not a host of {args.dc}: {', '.join(unknown)}")
    if args.host or args.fresh:
        report = drift.collect(site, hosts=sorted(args.host) or None, say=_eprint)
    else:
        report = _last_report(args.dc)
    pool = [h for h in report.hosts if h.name in set(args.host)] if args.host else list(report.hosts)
    targets = {h.name: h.phases for h in pool if h.status == "drifted" and h.phases}
    only_netbox = sorted(h.name for h in pool if h.status == "drifted" and not h.phases)
    skipped = sorted(h.name for h in pool if h.status in ("failed", "unreachable"))
    for name in only_netbox:
        _eprint(f"pyctl: {name}: only NetBox drift or entries no role manages (not reapplied: correct NetBox "
                "or the host)")
    for name in skipped:
        _eprint(f"pyctl: {name}: {next(h.status for h in pool if h.name == name)} in the drift report, not reapplied")
    if not targets:
        _eprint(f"reapply {args.dc}: no role drift to reapply")
        if args.json:
            print(json.dumps({"dc": args.dc, "reapplied": {}, "fixed": [], "still_drifted": [],
                              "not_touched": not_touched(site.inventory)}, indent=2))
        return ExitCode.OK
    state = reapply_state(site, targets, sizes)
    _eprint(f"reapply {args.dc}: {len(targets)} drifted host(s): "
            + "; ".join(f"{h}: {', '.join(p)}" for h, p in sorted(targets.items())))
    rollout_cli.print_batches(state)
    if args.dry_run:
        if args.json:
            print(json.dumps({"dry_run": True, "targets": targets, **state.to_dict(),
                              "not_touched": not_touched(site.inventory)}, indent=2))
        return ExitCode.OK
    if not rollout_cli.confirm(args.yes):
        _eprint("nothing changed")
        return ExitCode.OK
    state_path = runs_root() / args.dc / "reapply-state.json"
    code, run_dir = rollout_cli.run_batches(site, state, state_path, "reapply", max_fail=args.max_fail)
    result: dict[str, Any] = {"dc": args.dc, "reapplied": targets, "run_dir": str(run_dir), "state": state.status,
                              "not_touched": not_touched(site.inventory)}
    if code != ExitCode.OK:
        _eprint(f"reapply {state.status}: state {state_path}; run {run_dir}")
        if args.json:
            print(json.dumps({**result, "exit_code": int(code)}, indent=2))
        return int(code)
    _eprint(f"reapply {args.dc}: checking the {len(targets)} host(s) again")
    after = drift.collect(site, hosts=sorted(targets), say=_eprint)
    fixed = sorted(h.name for h in after.hosts if h.status == "in-sync" or (h.status == "drifted" and not h.phases))
    still = sorted(h.name for h in after.hosts if h.name not in fixed)
    result.update({"fixed": fixed, "still_drifted": still, "drift_run_dir": after.run_dir})
    if args.json:
        print(json.dumps({**result, "exit_code": int(ExitCode.FAILED if still else ExitCode.OK)}, indent=2))
    else:
        for name in fixed:
            print(f"{name}: fixed")
        for h in after.hosts:
            if h.name in still:
                why = [f"{c.role}: {c.task}" for c in h.changes] + [w for w in (h.failed, h.unreachable) if w]
                print(f"{h.name}: still drifted ({h.status}): {'; '.join(why)}")
    return int(ExitCode.FAILED if still else ExitCode.OK)
