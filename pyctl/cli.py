"""pyctl: bare-metal GPU inference clusters from NetBox, through Ansible.

Conventions (DESIGN.md, "Contracts"): the result goes to stdout — a table for people or, with
``--json``, exactly one JSON document; progress, warnings and errors go to stderr. Exit codes are
:class:`pyctl.errors.ExitCode`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from pyctl import artifacts_cli, drift_cli, rollout_cli, smoke_cli, tco_cli
from pyctl import inventory as inv_mod
from pyctl.cli_common import add_netbox_flags, not_touched, print_result, say_not_touched
from pyctl.errors import ConfigError, ExitCode, PyctlError, report

EPILOG = """\
examples:
  pyctl inventory dc2                 hosts of dc2 by cluster, as a table
  pyctl inventory dc2 --json          the same as one JSON document
  pyctl inventory dc2 --ansible       as `ansible-inventory --list` prints it
  pyctl plan dc2                      MTU, CIDRs, etcd and control-plane settings, with reasons
  pyctl dev netbox up                 start the local NetBox test bed (PostgreSQL, Redis, gunicorn)
  pyctl dev netbox seed               load the demo data centers dc1-dc3 and the lab site

NetBox: NETBOX_URL and NETBOX_TOKEN (or NETBOX_TOKEN_FILE); `eval "$(pyctl dev netbox env)"`
points them at the local test bed.

exit codes: 0 ok, 1 internal error, 2 failed hosts/checks or drift, 3 bad configuration or
inventory data, 4 unreachable hosts, 130 interrupted.
"""


def _eprint(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyctl", description="Provision and check bare-metal GPU inference clusters, from NetBox.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p_inv = sub.add_parser("inventory", help="read and validate a data center's inventory from NetBox",
                           description="Read a data center (a NetBox site) and validate it. Every problem "
                           "is named at once, with the NetBox object it is about; exit 3 if any.")
    p_inv.add_argument("dc", help="data center: the NetBox site slug, e.g. dc2")
    fmt = p_inv.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the inventory model as one JSON document")
    fmt.add_argument("--ansible", action="store_true", help="print it as `ansible-inventory --list` would")
    add_netbox_flags(p_inv)

    p_plan = sub.add_parser(
        "plan", help="compute MTU, CIDRs/IPAM, etcd and control-plane settings for a data center",
        description="Apply the network, etcd and control-plane rules (RULES.md) to a data center read from "
        "NetBox and the site policy in inventories/<dc>/group_vars/all/pyctl.yml (key pyctl_plan). "
        "Prints every derived value with its reason and source, writes inventory.json, plan.json and "
        "group_vars/<cluster>.yml (what the roles read) into runs/<dc>/<time>-plan/, and exits 3 listing "
        "every rule broken.", formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  pyctl plan dc2\n  pyctl plan dc2 --json | jq .clusters[0].sections.mtu\n"
        "  pyctl plan dc2 --settings my-policy.yml --rtt dc2-etcd-01,dc2-etcd-02=0.4")
    p_plan.add_argument("dc", help="data center: the NetBox site slug, e.g. dc2")
    p_plan.add_argument("--json", action="store_true", help="print the plan as one JSON document")
    p_plan.add_argument("--settings", metavar="FILE",
                        help="site policy YAML (default: inventories/<dc>/group_vars/all/pyctl.yml if present)")
    p_plan.add_argument("--rtt", action="append", default=[], metavar="A,B=MS",
                        help="measured round-trip time between two etcd members in ms (repeatable)")
    add_netbox_flags(p_plan)

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
    add_netbox_flags(p_run)

    rollout_cli.add_parser(sub)
    drift_cli.add_parsers(sub)

    p_dev = sub.add_parser("dev", help="local test beds: NetBox (and the lab hosts)",
                           description="Start, stop and seed the local test beds that tests and the demo use.")
    dev_sub = p_dev.add_subparsers(dest="dev_command", metavar="BED", required=True)
    p_nb = dev_sub.add_parser("netbox", help="the real NetBox 4.7 on loopback",
                              description="Manage the local NetBox: `up` starts PostgreSQL, Redis and gunicorn "
                              "(migrating once, then restoring the cached schema); `seed` loads a data set; "
                              "`env` prints the shell exports for NETBOX_URL and NETBOX_TOKEN_FILE; `down` stops "
                              "what `up` started; `prepare` only builds what is slow and shared by every bed "
                              "(NetBox's venv, the migrated schema's cached dump), leaving nothing running.")
    p_nb.add_argument("action", choices=["up", "down", "status", "seed", "env", "prepare"])
    p_nb.add_argument("--large", type=int, metavar="N",
                      help="with seed: the demo world plus N devices in the site `scale` (cached as a dump)")
    p_nb.add_argument("--json", action="store_true", help="machine-readable output")
    p_lab = dev_sub.add_parser("lab", help="lab hosts: podman containers booting systemd, reached over SSH",
                               description="`up N` makes exactly N lab hosts (systemd, sshd, fixed IP and MAC, "
                               "NET_ADMIN) and registers them in NetBox's `lab` site (eth0: the primary IP; eth1, "
                               "on a network of its own: pod traffic, with its real MTU), starting the NetBox test "
                               "bed if needed; `down` removes them; `status` lists them. PYCTL_LAB_NAME (`lab`, "
                               "the default, or `test`, a test session's) picks the lab: its hosts are "
                               "pyctl-NAME-01…, and no verb touches another lab's hosts.")
    p_lab.add_argument("action", choices=["up", "down", "status"])
    p_lab.add_argument("hosts", nargs="?", type=int, default=5, help="with up: how many hosts (default 5)")
    p_lab.add_argument("--json", action="store_true", help="machine-readable output")
    artifacts_cli.add_dev_parser(dev_sub)
    smoke_cli.add_parser(sub)
    artifacts_cli.add_parser(sub)
    tco_cli.add_parser(sub)
    return parser


# --- inventory --------------------------------------------------------------------------------

def load_inventory(args: argparse.Namespace) -> inv_mod.Inventory:
    from pyctl.netbox import NetBox, settings_from_env

    settings = settings_from_env(url=args.netbox_url, token_file=args.token_file)
    records = NetBox(settings).site_records(args.dc)
    inventory = inv_mod.build(records, include_planned=args.include_planned, exclude_invalid=args.exclude_invalid)
    say_not_touched(inventory)
    return inventory


def cmd_inventory(args: argparse.Namespace) -> int:
    started = time.monotonic()
    inventory = load_inventory(args)
    if args.json:
        print(json.dumps(inventory.to_dict(), indent=2))
    elif args.ansible:
        print(json.dumps(inv_mod.ansible_inventory(inventory), indent=2))
    else:
        print(render_inventory(inventory))
    skipped = len(inventory.not_touched())
    _eprint(f"{_count(len(inventory.hosts), 'host')} in {_count(len(inventory.clusters), 'cluster')}"
            f"{f', {skipped} not touched' if skipped else ''}, read in {time.monotonic() - started:.2f} s")
    return ExitCode.OK


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def render_inventory(inventory: inv_mod.Inventory) -> str:
    lines = [f"data center {inventory.site}"]
    headers = ("host", "role", "address", "rack", "underlay", "mtu", "gpus", "mig")
    for cluster in inventory.clusters:
        lines.append("")
        down = f"; etcd down: {', '.join(cluster.down_etcd)}" if cluster.down_etcd else ""
        lines.append(f"cluster {cluster.name} ({cluster.kind}, {_count(len(cluster.hosts), 'host')}{down})")
        rows = [headers]
        for h in cluster.hosts:
            gpus = f"{h.gpu.count}× {h.gpu.model}{' nvswitch' if h.gpu.nvswitch else ''}" if h.gpu else "-"
            mig = ",".join(f"{p}×{n}" for p, n in h.gpu.mig_layout.items()) if h.gpu and h.gpu.mig_layout else "-"
            rows.append((h.name, h.role, h.address, h.rack or "-", h.underlay_nic, str(h.underlay_mtu), gpus, mig))
        widths = [max(len(r[i]) for r in rows) for i in range(len(headers))]
        for r in rows:
            lines.append("  " + "  ".join(col.ljust(w) for col, w in zip(r, widths, strict=True)).rstrip())
    if inventory.not_touched():
        lines += ["", "not touched"]
        lines += [f"  {s.name}  {s.role or '-'}  {s.status}  {s.reason}" for s in inventory.not_touched()]
    return "\n".join(lines)


# --- plan -------------------------------------------------------------------------------------

def _parse_rtts(values: list[str]) -> dict[tuple[str, str], float]:
    rtts: dict[tuple[str, str], float] = {}
    for value in values:
        pair, sep, ms = value.partition("=")
        hosts = pair.split(",")
        try:
            if not sep or len(hosts) != 2 or not all(hosts):
                raise ValueError
            rtt = float(ms)
        except ValueError:
            raise ConfigError(f"--rtt takes HOST_A,HOST_B=MILLISECONDS, got {value!r}") from None
        if rtt <= 0:
            raise ConfigError(f"--rtt must be a positive number of milliseconds, got {value!r}")
        rtts[(hosts[0], hosts[1])] = rtt
    return rtts


def _plan_settings(args: argparse.Namespace) -> Any:
    from pathlib import Path

    import yaml

    from pyctl.paths import REPO
    from pyctl.plan import load_settings

    given = getattr(args, "settings", None)
    path = Path(given) if given else REPO / "inventories" / args.dc / "group_vars" / "all" / "pyctl.yml"
    if not path.exists():
        if given:
            raise ConfigError(f"settings file not found: {path}")
        return load_settings({})
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return load_settings(doc)


def cmd_plan(args: argparse.Namespace) -> int:
    from pyctl.netbox import NetBox, settings_from_env
    from pyctl.plan import compute_plan, group_vars, render_text
    from pyctl.rundir import new_run_dir, write_json, write_yaml

    settings = _plan_settings(args)
    rtts = _parse_rtts(args.rtt)
    records = NetBox(settings_from_env(url=args.netbox_url, token_file=args.token_file)).site_records(args.dc)
    inventory = inv_mod.build(records, mtu_mismatch="finding", include_planned=args.include_planned,
                              exclude_invalid=args.exclude_invalid)
    say_not_touched(inventory)
    plan = compute_plan(inventory, settings, rtts or None)
    # A pod-traffic NIC whose MTU differs from its peers breaks the inventory rule; the plan still
    # computes (from the smallest MTU) so that every other broken rule is named in the same run.
    violations = [*inventory.findings, *plan.violations]
    run_dir = new_run_dir(args.dc, "plan")
    write_json(run_dir / "inventory.json", inventory.to_dict())
    doc = {**plan.to_dict(), "violations": violations, "ok": not violations, "run_dir": str(run_dir),
           "not_touched": not_touched(inventory)}
    write_json(run_dir / "plan.json", doc)
    for group, variables in group_vars(plan).items():
        write_yaml(run_dir / "group_vars" / f"{group}.yml", variables)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        text = render_text(plan)
        if inventory.findings:
            text += "\n\nInventory rules broken (pyctl plan exits 3):\n" + "\n".join(
                f"  - {f}" for f in inventory.findings)
        print(text)
    _eprint(f"plan written to {run_dir}")
    if violations:
        _eprint(f"pyctl: error: the plan for {args.dc} breaks {len(violations)} rule(s)")
        for v in violations:
            _eprint(f"  - {v}")
        return ExitCode.BAD_CONFIG
    return ExitCode.OK


# --- run --------------------------------------------------------------------------------------

def _extra_vars(values: list[str]) -> dict[str, Any]:
    import yaml

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


def _progress_printer(started: float) -> Any:
    from pyctl.runner import Progress

    done: dict[str, int] = {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0}

    def show(p: Progress) -> None:
        elapsed = time.monotonic() - started
        if p.kind == "task":
            _eprint(f"[{elapsed:6.1f}s] task: {p.task}")
        elif p.kind in ("failed", "unreachable"):
            done[p.kind] += 1
            _eprint(f"[{elapsed:6.1f}s]   {p.kind.upper()}: {p.host}: {p.message or ''}".rstrip())
        elif p.kind in done:
            done[p.kind] += 1

    return show


def cmd_run(args: argparse.Namespace) -> int:
    import shutil
    import tempfile
    from pathlib import Path

    from pyctl import site as site_mod
    from pyctl.runner import run_playbook

    extra = _extra_vars(args.extra_var)
    if args.forks is not None and args.forks < 1:
        raise ConfigError(f"--forks must be at least 1, got {args.forks}")
    site = site_mod.load(args.dc, load_inventory(args), _plan_settings(args), require_plan=False)
    if site.plan is None:
        _eprint(f"pyctl: warning: the plan of {args.dc} breaks a rule (see `pyctl plan {args.dc}`); "
                "the run gets the site's group_vars without the plan's")
    hosts = len(site.hosts)
    # The site's and the plan's group_vars travel with the inventory, as in a rollout.
    tmp = Path(tempfile.mkdtemp(prefix="pyctl-inv-"))
    inv_dir = site_mod.write_inventory_dir(site, tmp / "inventory")
    started = time.monotonic()
    _eprint(f"running {args.playbook} on {hosts} hosts of {args.dc}{' (check mode)' if args.check else ''}")
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
        _eprint(result.output_tail)
    _eprint(f"{len(result.hosts)} hosts in {report['seconds']} s; artifacts in {result.run_dir}")
    return int(result.exit_code())


def _slug(playbook: str) -> str:
    from pathlib import Path

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


# --- dev --------------------------------------------------------------------------------------

def cmd_dev(args: argparse.Namespace) -> int:
    from pyctl.dev import netbox as bed_mod
    from pyctl.dev import seed

    if args.dev_command == "mirror":
        return artifacts_cli.dev_handler(args)
    bed = bed_mod.Bed.from_env()
    if args.dev_command == "lab":
        return cmd_dev_lab(args, bed)
    result: dict[str, Any]
    try:
        if args.action == "up":
            bed_mod.up(bed)
            result = bed_mod.status(bed)
        elif args.action == "down":
            bed_mod.down(bed)
            result = bed_mod.status(bed)
        elif args.action == "status":
            result = bed_mod.status(bed)
        elif args.action == "prepare":
            result = {"venv": str(bed.venv), "migrated_dump": str(bed_mod.prepare(bed))}
        elif args.action == "seed":
            bed_mod.up(bed)
            spec = seed.large(args.large) if args.large else seed.demo()
            ds = {"dataset": spec}
            dump_path = bed_mod.seed(bed, ds, cache_key=bed_mod.spec_key(ds))
            result = {**bed_mod.status(bed), "devices": len(spec["devices"]), "dump": str(dump_path)}
        else:  # env
            print(f"export NETBOX_URL={bed.url}\nexport NETBOX_TOKEN_FILE={bed.token_file}")
            return ExitCode.OK
    except bed_mod.DevError as exc:
        raise ConfigError(f"netbox test bed: {exc}") from exc
    print_result(result, as_json=args.json)
    return ExitCode.OK


def cmd_dev_lab(args: argparse.Namespace, bed: Any) -> int:
    from dataclasses import asdict

    from pyctl.dev import lab, mirror, seed
    from pyctl.dev import netbox as bed_mod

    started = time.monotonic()
    if args.action == "up":
        hosts = lab.up(args.hosts)
        records = [(h.name, f"{h.ip}/{lab.SUBNET.prefixlen}", f"{h.pod_ip}/{lab.POD_SUBNET.prefixlen}",
                    lab.nic_mtu(h.name, lab.POD_NIC)) for h in hosts]
        try:
            bed_mod.up(bed)
            spec = seed.lab(records)
            bed_mod.load(bed, {"dataset": spec})
        except bed_mod.DevError as exc:
            raise ConfigError(f"lab hosts are up, but registering them in NetBox failed: {exc}") from exc
        for device in spec["devices"]:  # the hardware boundary: emulated GPUs as NetBox has them
            cf = device["custom_fields"]
            lab.emulate_gpus(device["name"], cf if cf.get("gpu_count") else None)
        try:  # the lab's artifact mirror, where the hosts reach it (inventories/lab/group_vars/all/mirror.yml)
            mirror_state = mirror.up("lab")
        except mirror.MirrorError as exc:
            raise ConfigError(f"lab hosts are up, but the lab's artifact mirror did not start: {exc}") from exc
        registered = [{**asdict(h), "mtu": mtu} for h, (_, _, _, mtu) in zip(hosts, records, strict=True)]
        result: dict[str, Any] = {"hosts": registered, "netbox_site": "lab", "mirror": mirror_state["urls"],
                                  "seconds": round(time.monotonic() - started, 1)}
    elif args.action == "down":
        result = {"removed": lab.down()}
        if not lab.hosts_left():  # the mirror serves every lab on this machine: it stops with the last host
            mirror.down("lab")
    else:
        result = {"hosts": [asdict(h) for h in lab.status()]}
    if args.json:
        print(json.dumps(result, indent=2))
    elif "hosts" in result:
        for h in result["hosts"]:
            mtu = f"  mtu {h['mtu']}" if "mtu" in h else ""
            print(f"{h['name']:<14} {h['ip']:<15} {h['mac']}  {h['state']}{mtu}")
        if args.action == "up":
            _eprint(f"{len(result['hosts'])} lab hosts up and registered in NetBox site lab in {result['seconds']} s")
    else:
        _eprint(f"removed {len(result['removed'])} lab host(s)")
    return ExitCode.OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"inventory": cmd_inventory, "plan": cmd_plan, "run": cmd_run,
                "rollout": rollout_cli.handler(load_inventory, _plan_settings),
                **drift_cli.handlers(load_inventory, _plan_settings),
                "smoke": smoke_cli.handler(load_inventory, _plan_settings), "tco": tco_cli.handler(load_inventory),
                "artifacts": artifacts_cli.handler(load_inventory),
                "dev": cmd_dev}
    try:
        return int(handlers[args.command](args))
    except PyctlError as exc:
        report(exc, as_json=getattr(args, "json", False))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        _eprint("pyctl: interrupted")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`pyctl … | head`): not an error of ours; keep Python quiet at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
