"""`pyctl plan DC`: the network, etcd and control-plane rules applied to a data center, with reasons."""

from __future__ import annotations

import argparse
import json

from pyctl import site
from pyctl.cli.common import add_site_flags, eprint, load_inventory, not_touched, site_flags
from pyctl.errors import ExitCode
from pyctl.plan import compute_plan, group_vars, render_text
from pyctl.rundir import new_run_dir, write_json, write_yaml


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
    add_site_flags(p_plan)


def run(args: argparse.Namespace) -> int:
    settings = site.plan_settings(args.dc, site_flags(args))
    inventory = load_inventory(args, mtu_mismatch="finding")
    plan = compute_plan(inventory, settings, site_flags(args).rtts)
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
    eprint(f"plan written to {run_dir}")
    if violations:
        eprint(f"pyctl: error: the plan for {args.dc} breaks {len(violations)} rule(s)")
        for v in violations:
            eprint(f"  - {v}")
        return ExitCode.BAD_CONFIG
    return ExitCode.OK
