"""pyctl: bare-metal GPU inference clusters from NetBox, through Ansible.

Conventions (DESIGN.md, "Contracts"): the result goes to stdout — a table for people or, with
``--json``, exactly one JSON document; progress, warnings and errors go to stderr. Exit codes are
:class:`pyctl.errors.ExitCode`.

Each verb is a module of :mod:`pyctl.cli` with ``add_parser(subparsers)`` and ``run(args) -> int``.
They are imported by name when needed: a command line that names a verb imports only that verb's
module (and what it uses), so `pyctl VERB --help` and shell completion stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from pyctl.errors import ExitCode, PyctlError, report

# The verbs in the order `pyctl --help` lists them.
VERBS = ("inventory", "plan", "run", "rollout", "drift", "reapply", "dev", "smoke", "artifacts", "bundle", "mirror",
         "tco")

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


def verb_module(name: str) -> ModuleType:
    """The module of verb ``name`` (``pyctl.cli.<name>``)."""
    return importlib.import_module(f"pyctl.cli.{name}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: every verb, or ``only`` that one (the others are not imported)."""
    parser = argparse.ArgumentParser(
        prog="pyctl", description="Provision and check bare-metal GPU inference clusters, from NetBox.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in (only,) if only else VERBS:
        verb_module(name).add_parser(sub)
    return parser


def _named_verb(argv: Sequence[str]) -> str | None:
    """The verb the command line names, when its first word is one."""
    return argv[0] if argv and argv[0] in VERBS else None


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_named_verb(words)).parse_args(words)
    command: Callable[[argparse.Namespace], int] = verb_module(args.command).run
    try:
        return int(command(args))
    except PyctlError as exc:
        report(exc, as_json=getattr(args, "json", False))
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("pyctl: interrupted", file=sys.stderr, flush=True)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`pyctl … | head`): not an error of ours; keep Python quiet at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
