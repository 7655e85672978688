"""`pyctl smoke DC`: prove a rolled-out data center works, host by host, over SSH.

The options and what prints; the run is :func:`pyctl.smoke.run.smoke`. Writes ``report.json`` and
``report.html`` into ``runs/<dc>/<time>-smoke/``; the summary goes to stdout (or one JSON document with
``--json``), the HTML path and progress to stderr.
"""

from __future__ import annotations

import argparse
import json

from pyctl import site
from pyctl.cli.common import add_site_flags, count, eprint, load_inventory, not_touched, site_flags
from pyctl.errors import ConfigError, ExitCode
from pyctl.plan import compute_plan
from pyctl.smoke.checks import CHECK_NAMES, select_checks
from pyctl.smoke.render import render_terminal
from pyctl.smoke.run import smoke

EPILOG = """\
examples:
  pyctl smoke lab                                  every check that applies, on every host
  pyctl smoke lab --check nic-mtu --check path-mtu only these (ssh always runs)
  pyctl smoke dc2 --concurrency 64 --timeout 5 --json | jq .failures

checks: {checks}

SSH: inventories/<dc>/group_vars/all/connection.yml (pyctl_ssh_user, pyctl_ssh_key_file,
pyctl_known_hosts_file); host keys only from that known_hosts, never added. Where the checks look
(etcd and apiserver certificates, overlay devices, the pinned GPU driver): key pyctl_smoke in the DC's
group_vars (see pyctl.smoke.checks.SmokeSettings).

exit codes: 0 all pass, 2 a check failed (or a host key is wrong), 4 only unreachable hosts,
3 bad inventory or options
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``smoke`` to the pyctl subcommands."""
    p = subparsers.add_parser(
        "smoke", help="check a data center's hosts over SSH: GPUs, etcd, control plane, MTU paths, time",
        description="Read the data center from NetBox, compute its plan, then check every host over one SSH "
        "connection each (host keys verified): SSH, time sync, NIC MTU, full-size don't-fragment paths between "
        "nodes, GPUs against NetBox, Fabric Manager, etcd health/leader/DB size/disk latency, apiserver /readyz. "
        "Reports (JSON, HTML) go to runs/<dc>/<time>-smoke/.",
        epilog=EPILOG.format(checks=", ".join(CHECK_NAMES)), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dc", help="data center: the NetBox site slug, e.g. lab")
    p.add_argument("--json", action="store_true", help="print the report as one JSON document")
    p.add_argument("--concurrency", type=int, default=32, metavar="N", help="hosts checked at once (default 32)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="per-host SSH connect timeout in seconds (default 10)")
    p.add_argument("--check", action="append", default=[], metavar="NAME", choices=CHECK_NAMES,
                   help="run only this check (repeatable; ssh always runs)")
    add_site_flags(p)


def run(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {args.concurrency}")
    if args.timeout <= 0:
        raise ConfigError(f"--timeout must be positive, got {args.timeout}")
    try:
        checks = select_checks(args.check)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    inventory = load_inventory(args)
    flags = site_flags(args)
    plan = compute_plan(inventory, site.plan_settings(args.dc, flags), flags.rtts)
    eprint(f"smoke {args.dc}: {count(len(inventory.hosts), 'host')}, {count(len(checks), 'check')}, "
           f"{args.concurrency} at a time")
    report, html = smoke(args.dc, inventory, plan, checks=checks, concurrency=args.concurrency,
                         timeout=args.timeout)
    if args.json:
        print(json.dumps({**report.to_dict(), "not_touched": not_touched(inventory)}, indent=2))
    else:
        print(render_terminal(report))
    eprint(f"HTML report: {html}")
    code = report.exit_code()
    if code == ExitCode.UNREACHABLE:
        eprint(f"pyctl: unreachable: {', '.join(report.unreachable)}")
    return int(code)
