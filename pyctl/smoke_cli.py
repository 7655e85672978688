"""`pyctl smoke DC`: prove a rolled-out data center works, host by host, over SSH.

pyctl.cli adds the subcommand with :func:`add_parser` and runs it with the callable :func:`handler`
returns, handing in its ``load_inventory(args)`` and ``_plan_settings(args)`` (only pyctl.netbox talks
to NetBox). Writes ``report.json`` and ``report.html`` into ``runs/<dc>/<time>-smoke/``; the summary
goes to stdout (or one JSON document with ``--json``), the HTML path and progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyctl.cli_common import add_netbox_flags
from pyctl.errors import ConfigError, ExitCode

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


def _eprint(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``smoke`` to the pyctl subcommands."""
    from pyctl.smoke.checks import CHECK_NAMES  # noqa: PLC0415

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
    p.add_argument("--settings", metavar="FILE",
                   help="site policy YAML for the plan (default: inventories/<dc>/group_vars/all/pyctl.yml)")
    add_netbox_flags(p)


def smoke_settings(dc: str, repo: Path | None = None) -> Any:
    """SmokeSettings from key ``pyctl_smoke`` (and the roles' ``gpu_driver_version`` pin) in the DC's group_vars/all."""
    import yaml  # noqa: PLC0415

    from pyctl.paths import REPO  # noqa: PLC0415
    from pyctl.smoke.checks import SmokeSettings  # noqa: PLC0415

    base = (repo or REPO) / "inventories" / dc / "group_vars" / "all"
    merged: dict[str, Any] = {}
    driver = ""
    for path in sorted(base.glob("*.y*ml")) if base.is_dir() else []:
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if isinstance(doc, dict):
            merged.update(doc.get("pyctl_smoke") or {})
            driver = str(doc.get("gpu_driver_version", driver))
    if driver and "gpu_driver_version" not in merged:
        merged["gpu_driver_version"] = driver
    try:
        return SmokeSettings.from_mapping(merged)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{base}: {exc}") from exc


def handler(load_inventory: Callable[[argparse.Namespace], Any],
            plan_settings: Callable[[argparse.Namespace], Any]) -> Callable[[argparse.Namespace], int]:
    """The ``smoke`` command bound to pyctl.cli's ``load_inventory(args)`` and ``_plan_settings(args)``."""

    def command(args: argparse.Namespace) -> int:
        return run(args, load_inventory, plan_settings)

    return command


def run(args: argparse.Namespace, load_inventory: Callable[[argparse.Namespace], Any],
        plan_settings: Callable[[argparse.Namespace], Any]) -> int:
    from pyctl.plan import compute_plan  # noqa: PLC0415
    from pyctl.report import render_terminal  # noqa: PLC0415
    from pyctl.smoke.checks import select_checks  # noqa: PLC0415

    if args.concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {args.concurrency}")
    if args.timeout <= 0:
        raise ConfigError(f"--timeout must be positive, got {args.timeout}")
    try:
        checks = select_checks(args.check)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    inventory = load_inventory(args)
    plan = compute_plan(inventory, plan_settings(args))
    _eprint(f"smoke {args.dc}: {len(inventory.hosts)} hosts, {len(checks)} checks, {args.concurrency} at a time")
    report, html = smoke(args.dc, inventory, plan, checks=checks, concurrency=args.concurrency,
                         timeout=args.timeout)
    if args.json:
        from pyctl.cli_common import not_touched  # noqa: PLC0415

        print(json.dumps({**report.to_dict(), "not_touched": not_touched(inventory)}, indent=2))
    else:
        print(render_terminal(report))
    _eprint(f"HTML report: {html}")
    code = report.exit_code()
    if code == ExitCode.UNREACHABLE:
        _eprint(f"pyctl: unreachable: {', '.join(report.unreachable)}")
    return int(code)


def smoke(dc: str, inventory: Any, plan: Any, *, checks: Any = None, concurrency: int = 32,
          timeout: float = 10.0) -> tuple[Any, Path]:
    """Run the checks on every host of ``inventory``; write ``report.json`` and ``report.html`` into
    ``runs/<dc>/<time>-smoke/``. Returns the SmokeReport and the HTML path (`pyctl smoke`, and the
    rollout's last phase)."""
    from pyctl.report import render_html  # noqa: PLC0415
    from pyctl.rundir import new_run_dir, write_json  # noqa: PLC0415
    from pyctl.smoke.checks import ALL_CHECKS  # noqa: PLC0415
    from pyctl.smoke.pool import load_ssh_settings  # noqa: PLC0415
    from pyctl.smoke.runner import run_smoke  # noqa: PLC0415

    ssh = load_ssh_settings(dc)
    settings = smoke_settings(dc)
    report = run_smoke(inventory, plan, settings, ssh=ssh, concurrency=concurrency, timeout=timeout,
                       checks=checks if checks is not None else ALL_CHECKS)
    run_dir = new_run_dir(dc, "smoke")
    report.run_dir = str(run_dir)
    write_json(run_dir / "report.json", report.to_dict())
    html = run_dir / "report.html"
    html.write_text(render_html(report), encoding="utf-8")
    return report, html
