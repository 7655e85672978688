"""`pyctl artifacts DC [--check]`: what a data center's mirrors must hold, and whether they do.

The result goes to stdout (a table, or one JSON document with ``--json``);
progress, warnings and the missing items go to stderr.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from pyctl import artifacts, config
from pyctl.cli import common
from pyctl.cli.common import add_netbox_flags, eprint
from pyctl.errors import ConfigError, ExitCode, PyctlError
from pyctl.inventory import Inventory
from pyctl.plan import compute_plan, group_vars, load_settings

EPILOG = """\
examples:
  pyctl artifacts dc2                  what dc2's mirrors must hold, as a table
  pyctl artifacts dc2 --json           the same as one JSON document
  pyctl artifacts lab --check          ask the mirrors; exit 2 naming each missing item
  pyctl artifacts lab --check --vars my-mirror.yml   with other mirror URLs or pins

Versions and names come from the roles (defaults, vars) and inventories/<dc>/group_vars/all (mirror
URLs: gpu_driver_mirror_url, control_plane_artifact_mirror_url, pyctl_os_mirror_url; kernels the GPU
hosts boot: pyctl_kernel_releases), and what is needed from the inventory in NetBox and its plan.

exit codes: 0 ok (with --check: everything is there), 2 something is missing, 3 bad inventory,
variables or options
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``artifacts`` to the pyctl subcommands."""
    p = subparsers.add_parser(
        "artifacts", help="what a data center's mirrors must hold for a rollout (--check: whether they do)",
        description="From the inventory in NetBox, its plan and the roles' pinned versions: every apt package "
        "(with its version), binary (with its sha256) and container image the data center's mirrors must hold "
        "before a rollout, and the roles and clusters that need each. With --check, ask the mirrors (apt "
        "Packages index; HTTP HEAD and SHA256SUMS) and name on stderr each item missing.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dc", help="data center: the NetBox site slug, e.g. lab")
    p.add_argument("--check", action="store_true", help="verify that the mirrors hold each item; exit 2 if not")
    p.add_argument("--json", action="store_true", help="print the list (and the check's result) as one JSON document")
    p.add_argument("--vars", action="append", default=[], metavar="FILE",
                   help="YAML overlaid on the DC's group_vars/all (repeatable), e.g. other mirror URLs")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="per-request timeout in seconds")
    add_netbox_flags(p)


def run(args: argparse.Namespace, load_inventory: Callable[[argparse.Namespace], Inventory] = common.load_inventory,
        fetch: artifacts.Fetch | None = None) -> int:
    """Run ``pyctl artifacts``; returns the exit code. Bad input raises a PyctlError (pyctl's main
    reports it)."""
    return _run(args, load_inventory, fetch)


def _extra_vars(paths: list[str]) -> list[dict[str, Any]]:
    docs = []
    for name in paths:
        path = Path(name)
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ConfigError(f"--vars {name}: cannot read: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"--vars {name}: not valid YAML: {exc}") from exc
        if not isinstance(doc, dict):
            raise ConfigError(f"--vars {name}: expected a mapping at the top level")
        docs.append(doc)
    return docs


def plan_vars(inventory: Inventory, role_vars: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The plan's per-cluster group_vars (what the roles read besides their defaults); empty, with a
    warning, when the plan cannot be computed (its rules are `pyctl plan`'s business, not this list's)."""
    try:
        plan = compute_plan(inventory, load_settings({"pyctl_plan": role_vars.get("pyctl_plan")}))
    except PyctlError as exc:
        eprint(f"pyctl: warning: no plan ({exc.message}); the roles' defaults apply")
        return {}
    if plan.violations:
        eprint(f"pyctl: warning: the plan of {inventory.site} breaks {len(plan.violations)} rule(s) "
                "(see `pyctl plan`); listing the artifacts anyway")
    return group_vars(plan)


def _run(args: argparse.Namespace, load_inventory: Callable[[argparse.Namespace], Inventory],
         fetch: artifacts.Fetch | None) -> int:
    if args.timeout <= 0:
        raise ConfigError(f"--timeout must be positive, got {args.timeout}")
    role_vars = config.load_role_vars(args.dc, extra=_extra_vars(args.vars))
    inventory = load_inventory(args)
    items = artifacts.bill_of_materials(inventory, role_vars, plan_vars(inventory, role_vars))
    missing: list[str] | None = None
    if args.check:
        sources = {a.mirror.rsplit("/", 1)[0] if a.kind == "binary" else a.mirror for a in items}
        eprint(f"checking {len(items)} artifacts in {len(sources)} mirror location(s) of {args.dc}")
        missing = artifacts.check(items, fetch or artifacts.http_fetch(args.timeout))
    if args.json:
        doc: dict[str, Any] = {"dc": args.dc, "artifacts": [a.to_dict() for a in items]}
        if missing is not None:
            doc.update({"ok": not missing, "missing": missing})
        print(json.dumps(doc, indent=2))
    else:
        print(render(args.dc, items))
    unset = sorted({a.mirror.removeprefix(artifacts.UNSET_PREFIX) for a in items
                    if a.mirror.startswith(artifacts.UNSET_PREFIX)})
    if unset and missing is None:
        eprint(f"pyctl: warning: {args.dc} names no mirror for: {', '.join(unset)}")
    if missing:
        eprint(f"pyctl: {len(missing)} of {len(items)} artifacts missing from the mirrors of {args.dc}:")
        for line in missing:
            eprint(f"  - {line}")
        return ExitCode.FAILED
    if missing is not None:
        eprint(f"all {len(items)} artifacts are on the mirrors of {args.dc}")
    return ExitCode.OK


def render(dc: str, items: list[artifacts.Artifact]) -> str:
    headers = ("kind", "name", "version / sha256", "mirror", "needed by")
    rows = [headers]
    for a in items:
        pin = a.version or "any"
        if a.sha256:
            pin = f"{pin} sha256:{a.sha256}"
        rows.append((a.kind, a.name, pin, a.mirror, ", ".join(a.needed_by)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(headers))]
    lines = [f"artifacts of {dc}: {len(items)}"]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)
