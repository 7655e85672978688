"""`pyctl reapply DC`: the options and what a reapply prints; the work is :mod:`pyctl.drift.reapply`."""

from __future__ import annotations

import argparse
import json
from typing import Any

from pyctl.cli.common import (
    add_batch_flags,
    add_site_flags,
    batch_options,
    confirm,
    count,
    eprint,
    load_site,
    not_touched,
    print_batches,
)
from pyctl.drift import reapply
from pyctl.errors import ConfigError, ExitCode

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


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = subparsers.add_parser(
        "reapply", help="fix drift: run only the drifted roles on only the drifted hosts, then check them again",
        description="Reapply the roles that drifted, on the hosts where they drifted (from the last `pyctl "
        "drift`, or a fresh one), in the rollout's batches, behind its health gates and under its lock; then run "
        "the drift check on those hosts again and report each as fixed or still drifted.",
        epilog=REAPPLY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("dc", help="data center: the NetBox site slug")
    r.add_argument("--drifted", action="store_true", help="reapply the drifted hosts of the drift report")
    r.add_argument("--host", action="append", default=[], metavar="HOST",
                   help="reapply this host (repeatable); a fresh drift of the named hosts decides the roles")
    r.add_argument("--fresh", action="store_true", help="run a drift first instead of reading the last report")
    r.add_argument("--yes", action="store_true", help="go on without asking")
    r.add_argument("--dry-run", action="store_true", help="show what would be reapplied, change nothing")
    r.add_argument("--json", action="store_true", help="print the result as one JSON document")
    add_batch_flags(r)
    add_site_flags(r)


def run(args: argparse.Namespace) -> int:
    if not args.drifted and not args.host:
        raise ConfigError("say what to reapply: --drifted (the drifted hosts of the last drift) or --host HOST")
    sizes = batch_options(args)
    site = load_site(args)
    site.require_hosts("reapply")
    unknown = sorted(set(args.host) - set(site.hosts))
    if unknown:
        raise ConfigError(f"--host: not a host of {args.dc}: {', '.join(unknown)}")
    report = reapply.drift_report(site, args.host, fresh=args.fresh, say=eprint)
    found = reapply.targets_of(report, args.host)
    targets = found.roles
    for name in found.only_netbox:
        eprint(f"pyctl: {name}: only NetBox drift or entries no role manages (not reapplied: correct NetBox "
               "or the host)")
    for name, status in found.skipped.items():
        eprint(f"pyctl: {name}: {status} in the drift report, not reapplied")
    if not targets:
        eprint(f"reapply {args.dc}: no role drift to reapply")
        if args.json:
            print(json.dumps({"dc": args.dc, "reapplied": {}, "fixed": [], "still_drifted": [],
                              "not_touched": not_touched(site.inventory)}, indent=2))
        return ExitCode.OK
    state = reapply.reapply_state(site, targets, sizes, max_racks=args.max_racks)
    eprint(f"reapply {args.dc}: {count(len(targets), 'drifted host')}: "
           + "; ".join(f"{h}: {', '.join(p)}" for h, p in sorted(targets.items())))
    print_batches(state)
    if args.dry_run:
        if args.json:
            print(json.dumps({"dry_run": True, "targets": targets, **state.to_dict(),
                              "not_touched": not_touched(site.inventory)}, indent=2))
        return ExitCode.OK
    if not confirm(args.yes):
        eprint("nothing changed")
        return ExitCode.OK
    out = reapply.reapply(site, found, state, max_fail=args.max_fail, say=eprint)
    result: dict[str, Any] = {"dc": args.dc, "reapplied": targets, "run_dir": str(out.run_dir), "state": state.status,
                              "not_touched": not_touched(site.inventory)}
    if out.after is None:
        eprint(f"reapply {state.status}: state {out.state_path}; run {out.run_dir}")
        if args.json:
            print(json.dumps({**result, "exit_code": int(out.code)}, indent=2))
        return int(out.code)
    result.update({"fixed": out.fixed, "still_drifted": out.still_drifted, "drift_run_dir": out.after.run_dir})
    if args.json:
        print(json.dumps({**result, "exit_code": int(out.code)}, indent=2))
    else:
        for name in out.fixed:
            print(f"{name}: fixed")
        for h in out.after.hosts:
            if h.name in out.still_drifted:
                why = [f"{c.role}: {c.task}" for c in h.changes] + [w for w in (h.failed, h.unreachable) if w]
                print(f"{h.name}: still drifted ({h.status}): {'; '.join(why)}")
    return int(out.code)
