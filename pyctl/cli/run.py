"""`pyctl run DC PLAYBOOK`: one playbook on a data center's hosts, from the NetBox inventory."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from pyctl.cli.common import add_site_flags, count, eprint, load_site
from pyctl.errors import ConfigError
from pyctl.runner import Progress, run_playbook
from pyctl.site import write_inventory_dir


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p_run = sub.add_parser(
        "run", help="run a playbook on a data center's hosts, from the NetBox inventory",
        description="Read the data center from NetBox (validated: bad data stops here, exit 3), then run "
        "playbooks/PLAYBOOK.yml on its hosts through ansible-runner, with the site's group_vars. Progress on "
        "stderr; a per-host report on stdout; artifacts in runs/<dc>/<time>-run-<playbook>/.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  pyctl run lab ping\n  pyctl run lab preflight --limit role_gpu_worker\n"
        "  pyctl run dc2 calico --check --diff --json\n\nexit codes: 0 all hosts ok, 2 a host failed, "
        "4 a host unreachable (and none failed), 3 bad inventory or options, 130 interrupted")
    p_run.add_argument("dc", help="data center: the NetBox site slug, e.g. lab")
    p_run.add_argument("playbook", help="a playbook in playbooks/ (name without .yml) or a path")
    p_run.add_argument("--limit", metavar="PATTERN", help="Ansible host pattern, e.g. role_etcd or a host name")
    p_run.add_argument("--tags", metavar="TAGS", help="comma-separated tags to run")
    p_run.add_argument("--check", action="store_true", help="check mode: report what would change")
    p_run.add_argument("--diff", action="store_true", help="show file differences")
    p_run.add_argument("-e", "--extra-var", action="append", default=[], metavar="KEY=VALUE",
                       help="extra variable (repeatable); VALUE is parsed as YAML")
    p_run.add_argument("--forks", type=int, metavar="N", help="parallel hosts (default: all hosts, at most 50)")
    p_run.add_argument("--json", action="store_true", help="print the per-host report as one JSON document")
    add_site_flags(p_run)


def _extra_vars(values: list[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for value in values:
        key, sep, raw = value.partition("=")
        if not sep or not key.isidentifier():
            raise ConfigError(f"-e takes KEY=VALUE with KEY a variable name, got {value!r}")
        try:
            extra[key] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ConfigError(f"-e {key}: value is not valid YAML: {exc}") from exc
    return extra


def _progress_printer(started: float) -> Callable[[Progress], None]:
    done: dict[str, int] = {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0}

    def show(p: Progress) -> None:
        elapsed = time.monotonic() - started
        if p.kind == "task":
            eprint(f"[{elapsed:6.1f}s] task: {p.task}")
        elif p.kind in ("failed", "unreachable"):
            done[p.kind] += 1
            eprint(f"[{elapsed:6.1f}s]   {p.kind.upper()}: {p.host}: {p.message or ''}".rstrip())
        elif p.kind in done:
            done[p.kind] += 1

    return show


def run(args: argparse.Namespace) -> int:
    extra = _extra_vars(args.extra_var)
    if args.forks is not None and args.forks < 1:
        raise ConfigError(f"--forks must be at least 1, got {args.forks}")
    site = load_site(args, require_plan=False)
    if site.plan is None:
        eprint(f"pyctl: warning: the plan of {args.dc} breaks a rule (see `pyctl plan {args.dc}`); "
                "the run gets the site's group_vars without the plan's")
    hosts = len(site.hosts)
    # The site's and the plan's group_vars travel with the inventory, as in a rollout.
    tmp = Path(tempfile.mkdtemp(prefix="pyctl-inv-"))
    inv_dir = write_inventory_dir(site, tmp / "inventory")
    started = time.monotonic()
    eprint(f"running {args.playbook} on {count(hosts, 'host')} of {args.dc}{' (check mode)' if args.check else ''}")
    try:
        result = run_playbook(
            args.playbook if args.playbook.endswith((".yml", ".yaml")) else f"{args.playbook}.yml",
            inventory=inv_dir, dc=args.dc, verb=f"run-{_slug(args.playbook)}", limit=args.limit, tags=args.tags,
            check=args.check, diff=args.diff, extravars=extra or None, forks=args.forks or min(max(hosts, 1), 50),
            on_event=_progress_printer(started))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report = {"dc": args.dc, "playbook": args.playbook, "run_dir": str(result.run_dir), "status": result.status,
              "exit_code": int(result.exit_code()), "seconds": round(time.monotonic() - started, 1),
              "hosts": {h: r.as_dict() for h, r in sorted(result.hosts.items())}}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(render_run(report))
    if result.output_tail and not result.hosts:
        eprint(result.output_tail)
    eprint(f"{count(len(result.hosts), 'host')} in {report['seconds']} s; artifacts in {result.run_dir}")
    return int(result.exit_code())


def _slug(playbook: str) -> str:
    return Path(playbook).name.removesuffix(".yml").removesuffix(".yaml")


def render_run(report: dict[str, Any]) -> str:
    lines = [f"{report['playbook']} on {report['dc']}: {report['status']}"]
    width = max((len(h) for h in report["hosts"]), default=4)
    lines.append(f"  {'host'.ljust(width)}  status       ok  changed  failed  unreachable")
    for host, r in report["hosts"].items():
        lines.append(f"  {host.ljust(width)}  {r['status']:<11} {r['ok']:>3}  {r['changed']:>7}  {r['failed']:>6}  "
                     f"{r['unreachable']:>11}")
        for failure in r.get("failures", []):
            lines.append(f"  {''.ljust(width)}    {failure['task']}: {failure['message']}")
    return "\n".join(lines)
