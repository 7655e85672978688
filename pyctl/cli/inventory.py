"""`pyctl inventory DC`: a data center read from NetBox and validated, as a table, JSON or Ansible's listing."""

from __future__ import annotations

import argparse
import json
import time

from pyctl.cli.common import add_netbox_flags, count, eprint, load_inventory
from pyctl.errors import ExitCode
from pyctl.inventory import Inventory, ansible_inventory


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p_inv = sub.add_parser("inventory", help="read and validate a data center's inventory from NetBox",
                           description="Read a data center (a NetBox site) and validate it. Every problem "
                           "is named at once, with the NetBox object it is about; exit 3 if any.")
    p_inv.add_argument("dc", help="data center: the NetBox site slug, e.g. dc2")
    fmt = p_inv.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the inventory model as one JSON document")
    fmt.add_argument("--ansible", action="store_true", help="print it as `ansible-inventory --list` would")
    add_netbox_flags(p_inv)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    inventory = load_inventory(args)
    if args.json:
        print(json.dumps(inventory.to_dict(), indent=2))
    elif args.ansible:
        print(json.dumps(ansible_inventory(inventory), indent=2))
    else:
        print(render_inventory(inventory))
    skipped = len(inventory.not_touched())
    eprint(f"{count(len(inventory.hosts), 'host')} in {count(len(inventory.clusters), 'cluster')}"
            f"{f', {skipped} not touched' if skipped else ''}, read in {time.monotonic() - started:.2f} s")
    return ExitCode.OK


def render_inventory(inventory: Inventory) -> str:
    lines = [f"data center {inventory.site}"]
    headers = ("host", "role", "address", "rack", "underlay", "mtu", "gpus", "mig")
    for cluster in inventory.clusters:
        lines.append("")
        down = f"; etcd down: {', '.join(cluster.down_etcd)}" if cluster.down_etcd else ""
        lines.append(f"cluster {cluster.name} ({cluster.kind}, {count(len(cluster.hosts), 'host')}{down})")
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
