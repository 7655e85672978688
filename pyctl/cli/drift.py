"""`pyctl drift DC`: the options and the report as it prints; the drift itself is :mod:`pyctl.drift`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pyctl.cli.common import add_bundle_flags, add_site_flags, eprint, load_site, not_touched
from pyctl.drift.collect import collect
from pyctl.drift.render import render_terminal

DRIFT_EPILOG = """\
examples:
  pyctl drift dc2                      every host: in sync, drifted (with diffs), unreachable
  pyctl drift dc2 --limit cluster_dc2-inference-01 --json
  pyctl reapply dc2 --drifted          then fix what the last drift found
  pyctl drift dc2 --bundle B.tar --allowed-signers F
                                       each host against the signed bundle it was rolled out from: the
                                       records must be of the bundle's inputs, every item as recorded

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


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    add_bundle_flags(p)
    add_site_flags(p)


def run(args: argparse.Namespace) -> int:
    site = load_site(args)
    wanted = site.resolve_limit(args.limit)
    hosts = sorted(wanted) if wanted is not None else None
    report = collect(site, hosts=hosts, say=eprint, full=args.full)
    if args.json:
        print(json.dumps({**report.to_dict(), "not_touched": not_touched(site.inventory)}, indent=2))
    else:
        print(render_terminal(report, diffs=not args.no_diff))
    eprint(f"HTML report: {Path(str(report.run_dir)) / 'drift.html'}")
    return int(report.exit_code())
