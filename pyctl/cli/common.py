"""What every verb of the command line shares: the site flags, how a data center is read, and how a
plain result, a batch table and a count print."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pyctl import rollout
from pyctl import site as site_mod
from pyctl.bundle import inputs as bundle_inputs
from pyctl.errors import ConfigError
from pyctl.inventory import Inventory
from pyctl.phases import BY_NAME


def eprint(*parts: object) -> None:
    """Progress, warnings and errors: stderr (the result alone goes to stdout)."""
    print(*parts, file=sys.stderr, flush=True)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 host``, ``2 hosts``; ``plural`` where adding an s is wrong (``batch`` → ``batches``)."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def add_netbox_flags(parser: argparse.ArgumentParser) -> None:
    """``--netbox-url`` and ``--token-file`` (read by pyctl.netbox.settings_from_env), and which of the
    site's devices the run takes (read by pyctl.inventory.build)."""
    parser.add_argument("--netbox-url", metavar="URL", help="NetBox base URL (default: $NETBOX_URL)")
    parser.add_argument("--token-file", metavar="PATH",
                        help="file holding the NetBox API token (default: $NETBOX_TOKEN, then $NETBOX_TOKEN_FILE)")
    parser.add_argument("--include-planned", action="store_true",
                        help="also take the devices NetBox marks planned or staged (nodes being brought up); "
                        "offline, failed, decommissioning and inventory devices are never touched")
    parser.add_argument("--exclude-invalid", action="store_true",
                        help="go on without the hosts whose NetBox records break a rule (and without every host of "
                        "a cluster whose cluster rules break), listing each with its reasons; default: exit 3")


def add_site_flags(parser: argparse.ArgumentParser) -> None:
    """``--settings`` and ``--rtt`` (what the plan reads besides NetBox) and the NetBox flags: every command
    that plans takes the same, so each computes the same plan."""
    parser.add_argument("--settings", metavar="FILE",
                        help="site policy YAML (default: inventories/<dc>/group_vars/all/pyctl.yml if present)")
    parser.add_argument("--rtt", action="append", default=[], metavar="A,B=MS",
                        help="measured round-trip time between two etcd members in ms (repeatable)")
    add_netbox_flags(parser)


def parse_rtts(values: list[str]) -> dict[tuple[str, str], float]:
    """``--rtt A,B=MS`` values as the plan reads them."""
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


def site_flags(args: argparse.Namespace) -> site_mod.SiteFlags:
    """The :class:`pyctl.site.SiteFlags` of a parsed command line (flags a verb lacks keep their defaults)."""
    return site_mod.SiteFlags(netbox_url=getattr(args, "netbox_url", None),
                              token_file=getattr(args, "token_file", None),
                              include_planned=getattr(args, "include_planned", False),
                              exclude_invalid=getattr(args, "exclude_invalid", False),
                              settings=getattr(args, "settings", None),
                              rtts=parse_rtts(getattr(args, "rtt", None) or []) or None)


def load_inventory(args: argparse.Namespace, *, mtu_mismatch: str = "problem") -> Inventory:
    """The inventory of ``args.dc``, saying on stderr which devices the run leaves alone."""
    inventory = site_mod.load_inventory(args.dc, site_flags(args), mtu_mismatch=mtu_mismatch)
    say_not_touched(inventory)
    return inventory


def add_bundle_flags(parser: argparse.ArgumentParser) -> None:
    """``--bundle`` and ``--allowed-signers``: read the data center from a checked bundle, not NetBox."""
    parser.add_argument("--bundle", metavar="BUNDLE",
                        help="take the inventory and plan from this signed bundle (`pyctl bundle build`), checked "
                        "first; refused if this checkout's site policy, group_vars or roles differ from it")
    parser.add_argument("--allowed-signers", metavar="FILE", help="the keys that may sign the bundle (with --bundle)")


def load_site(args: argparse.Namespace, *, require_plan: bool = True) -> site_mod.Site:
    """:func:`pyctl.site.load_site` for ``args.dc`` (or, with ``--bundle``, the checked bundle's site),
    saying on stderr which devices the run leaves alone."""
    if getattr(args, "bundle", None):
        if not args.allowed_signers:
            raise ConfigError("--bundle needs --allowed-signers FILE: a bundle is used only once its signature is "
                              "checked")
        return bundle_inputs.load_site(args.dc, Path(args.bundle), Path(args.allowed_signers), site_flags(args),
                                       require_plan=require_plan, on_inventory=say_not_touched)
    if getattr(args, "allowed_signers", None):
        raise ConfigError("--allowed-signers is for --bundle: name the bundle too")
    return site_mod.load_site(args.dc, site_flags(args), require_plan=require_plan, on_inventory=say_not_touched)


def not_touched(inventory: Inventory) -> list[dict[str, Any]]:
    """The site's devices this run leaves alone (by status, or excluded as invalid), for ``--json``."""
    return [asdict(s) for s in inventory.not_touched()]


def say_not_touched(inventory: Inventory) -> None:
    """One stderr line per device of the site this run leaves alone, and why: never a silent skip."""
    for s in inventory.not_touched():
        print(f"pyctl: not touched: {s.name} ({s.role or 'no role'}, {s.status}): {s.reason}", file=sys.stderr)
    for c in inventory.clusters:
        if c.down_etcd:
            print(f"pyctl: cluster {c.name}: etcd member(s) {', '.join(c.down_etcd)} down in NetBox: still members, "
                  "counted for quorum", file=sys.stderr)


def print_result(result: Mapping[str, Any], *, as_json: bool) -> None:
    """A flat result (the test beds' status): one JSON document, or ``key  value`` lines."""
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:12} {value}")


def add_batch_flags(p: argparse.ArgumentParser) -> None:
    """``--batches``, ``--max-fail`` and ``--max-racks``: `pyctl rollout` and `pyctl reapply` run the same
    batches."""
    p.add_argument("--batches", default=rollout.DEFAULT_BATCHES, metavar="SIZES",
                   help="batch sizes, counts or percentages; the last repeats (default: %(default)s)")
    p.add_argument("--max-fail", type=int, default=0, metavar="N",
                   help="failed or unreachable hosts a batch may have before the run stops (default 0)")
    p.add_argument("--max-racks", type=int, default=rollout.DEFAULT_MAX_RACKS, metavar="N",
                   help="racks (NetBox's) a batch may take hosts from; a batch never mixes clusters, and the "
                   "canary is the first host of the first rack (default %(default)s)")


def batch_options(args: argparse.Namespace) -> list[str]:
    """The checked ``--batches`` sizes (and ``--max-fail``, ``--max-racks``)."""
    sizes = rollout.parse_batch_sizes(args.batches)
    if args.max_fail < 0:
        raise ConfigError(f"--max-fail must be 0 or more, got {args.max_fail}")
    if args.max_racks < 1:
        raise ConfigError(f"--max-racks must be 1 or more, got {args.max_racks}")
    return sizes


def render_batches(state: rollout.RolloutState) -> list[str]:
    """One line per phase: its batches' sizes, ✓ on those done; then the health gate after each batch."""
    lines = []
    for ps in state.phases:
        todo = [b for b in ps.batches if not b.done]
        lines.append(f"  {ps.name:<14} {count(len(ps.batches), 'batch', 'batches')}: "
                     + " → ".join(str(len(b.hosts)) + ("✓" if b.done else "") for b in ps.batches)
                     + ("" if todo else "  (done)"))
        phase = BY_NAME[ps.name]
        if phase.gate and todo:
            where = "every etcd member of the batch's clusters" if phase.gate_hosts else "the batch's hosts"
            lines.append(f"  {'':<14} gate after each batch, on {where}: {', '.join(phase.gate)}")
    return lines


def print_batches(state: rollout.RolloutState) -> None:
    for line in render_batches(state):
        eprint(line)


def confirm(yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigError("not a terminal: pass --yes to go on after the plan")
    return input("go on? [y/N] ").strip().lower() in ("y", "yes")
