"""`pyctl tco`: what the GPU fleet in NetBox costs per million tokens, against the cloud API.

:func:`run` takes ``load_inventory(dc) -> Inventory`` (default: NetBox, through :mod:`pyctl.site`);
:func:`handler` makes that loader from a ``load_inventory(args)``. The result goes to
stdout (a table, or one JSON document with ``--json``), progress to stderr; the chart of cumulative
cost goes to ``runs/<dc or all>/<time>-tco/cumulative.svg`` (with ``tco.json``) or to ``--svg FILE``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import yaml

from pyctl.cli import common
from pyctl.cli.common import add_netbox_flags, eprint
from pyctl.errors import ConfigError, ExitCode, PyctlError, report
from pyctl.inventory import Inventory
from pyctl.rundir import new_run_dir, write_json
from pyctl.tco import (
    Assumptions,
    compute_tco,
    cumulative_costs,
    fleet_from_inventories,
    load_assumptions,
    render_svg,
    render_text,
)

DEFAULT_DCS = ("dc1", "dc2", "dc3")

EPILOG = """\
examples:
  pyctl tco                              the whole fleet (dc1 dc2 dc3) at 1.5 B tokens/day
  pyctl tco dc2 --tokens-per-day 5e9     dc2 alone, at 5 B tokens/day
  pyctl tco --assumptions my-tco.yml     your prices (copy inventories/tco-assumptions.yml)
  pyctl tco --json | jq .break_even_months
  pyctl tco --svg cost.svg --months 72   the chart of cumulative cost, 6 years

Every assumption carries its unit and its source (a public document, or "assumption"):
see inventories/tco-assumptions.yml, or `pyctl tco --json | jq .assumptions`.

exit codes: 0 ok, 3 bad assumptions or options, bad inventory data, or NetBox unreadable
"""


def _tokens_per_day(value: str) -> int:
    """An integer token count; accepts 1500000000, 1_500_000_000 and 1.5e9."""
    try:
        n = float(value.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of tokens: {value!r}") from None
    if not n.is_integer() or n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number of tokens, got {value!r}")
    return int(n)


def _months(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of months: {value!r}") from None
    if not 1 <= n <= 600:
        raise argparse.ArgumentTypeError(f"must be from 1 to 600 months, got {value!r}")
    return n


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tco`` to the pyctl subcommands."""
    p = subparsers.add_parser(
        "tco", help="cost per million tokens of the GPU fleet against the cloud API, and the break-even",
        description="Count the GPU servers of the data centers in NetBox, price them with the assumptions "
        "(hardware, depreciation, power and PUE, colo, network, staff, utilisation, throughput per model "
        "class, cloud prices) and print: the self-hosted cost per million tokens, the cloud cost of the "
        "same daily volume, the break-even in months, the GPUs the volume needs at its peak, and the three "
        "assumptions that move the result most. The chart of cumulative cost goes to "
        "runs/<dc or all>/<time>-tco/cumulative.svg.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dc", nargs="*", default=list(DEFAULT_DCS),
                   help=f"data centers to include: NetBox site slugs (default: {' '.join(DEFAULT_DCS)})")
    p.add_argument("--assumptions", metavar="FILE",
                   help="YAML of assumptions; keys left out keep the defaults (inventories/tco-assumptions.yml)")
    p.add_argument("--tokens-per-day", type=_tokens_per_day, metavar="N",
                   help="daily token volume, input + output (default: 1.5e9, or the assumptions file's)")
    p.add_argument("--months", type=_months, metavar="N",
                   help="months the chart covers (default: the depreciation period)")
    p.add_argument("--svg", metavar="FILE", help="write the chart here instead of into a run directory")
    p.add_argument("--json", action="store_true", help="print the result as one JSON document")
    add_netbox_flags(p)


def read_assumptions(path: str | None) -> Assumptions:
    """The assumptions in the YAML file at ``path`` (None: the defaults); ConfigError names the file."""
    if path is None:
        return Assumptions()
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"assumptions file not found: {file}")
    try:
        doc = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {exc}") from exc
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{file}: expected a mapping of assumptions at the top level")
    try:
        return load_assumptions(doc)
    except ConfigError as exc:
        raise ConfigError(f"bad TCO assumptions in {file}", problems=exc.problems or [exc.message]) from exc


def handler(load_inventory_args: Callable[[argparse.Namespace], Inventory]) -> Callable[[argparse.Namespace], int]:
    """:func:`run` bound to a loader that reads ``args.dc`` (pyctl.cli's ``load_inventory(args)``): each data
    center is read with the same NetBox flags and ``dc`` set to it."""

    def command(args: argparse.Namespace) -> int:
        return run(args, lambda dc: load_inventory_args(argparse.Namespace(**{**vars(args), "dc": dc})))

    return command


def run(args: argparse.Namespace, load_inventory: Callable[[str], Inventory] | None = None) -> int:
    """Run ``pyctl tco``; returns the exit code (errors are printed here, as pyctl's main prints them).
    ``load_inventory(dc)``: default, NetBox with the command line's flags."""
    if load_inventory is None:
        return handler(common.load_inventory)(args)
    try:
        return _run(args, load_inventory)
    except PyctlError as exc:
        report(exc, as_json=getattr(args, "json", False))
        return int(exc.exit_code)


def _run(args: argparse.Namespace, load_inventory: Callable[[str], Inventory]) -> int:

    # Everything that can be wrong with the options is found before NetBox is read.
    assumptions = read_assumptions(args.assumptions)
    if args.tokens_per_day is not None:
        assumptions = dataclasses.replace(assumptions, tokens_per_day=args.tokens_per_day)
    dcs: Sequence[str] = list(dict.fromkeys(args.dc or DEFAULT_DCS))
    months = args.months or max(1, round(assumptions.depreciation_years * 12))

    started = time.monotonic()
    inventories = []
    for dc in dcs:
        eprint(f"reading {dc} from NetBox")
        inventories.append(load_inventory(dc))
    fleet = fleet_from_inventories(inventories)
    empty = [dc for dc in dcs if dc not in fleet.dcs]
    if not fleet.entries:
        raise ConfigError(f"no GPU workers in {', '.join(dcs)}: nothing to cost")
    for dc in empty:
        eprint(f"warning: {dc} has no GPU workers")
    result = compute_tco(fleet, assumptions)
    svg = render_svg(cumulative_costs(result, months),
                     title=f"Cumulative cost: {', '.join(fleet.dcs)} at {assumptions.tokens_per_day:,} tokens/day")

    doc = {"ok": True, **result.to_dict(), "months": months}
    if args.svg:
        svg_path = Path(args.svg)
        svg_path.parent.mkdir(parents=True, exist_ok=True)
        svg_path.write_text(svg)
        doc["svg"] = str(svg_path)
    else:
        run_dir = new_run_dir(dcs[0] if len(dcs) == 1 else "all", "tco")
        svg_path = run_dir / "cumulative.svg"
        svg_path.write_text(svg)
        doc["svg"] = str(svg_path)
        doc["run_dir"] = str(run_dir)
        write_json(run_dir / "tco.json", doc)

    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(render_text(result))
    eprint(f"{fleet.gpus} GPUs in {fleet.servers} servers of {', '.join(fleet.dcs)}, costed in "
            f"{time.monotonic() - started:.2f} s; chart: {svg_path}")
    return ExitCode.OK
