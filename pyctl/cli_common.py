"""What every pyctl subcommand module shares: the NetBox connection flags and how a plain result prints."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyctl.inventory import Inventory


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


def add_site_flags(parser: argparse.ArgumentParser) -> None:
    """``--settings`` (the site policy the plan reads) and the NetBox flags: every command that plans."""
    parser.add_argument("--settings", metavar="FILE",
                        help="site policy YAML (default: inventories/<dc>/group_vars/all/pyctl.yml if present)")
    add_netbox_flags(parser)


def print_result(result: Mapping[str, Any], *, as_json: bool) -> None:
    """A flat result (the test beds' status): one JSON document, or ``key  value`` lines."""
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:12} {value}")
