"""What every pyctl subcommand module shares: the NetBox connection flags and how a plain result prints."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any


def add_netbox_flags(parser: argparse.ArgumentParser) -> None:
    """``--netbox-url`` and ``--token-file`` (read by pyctl.netbox.settings_from_env)."""
    parser.add_argument("--netbox-url", metavar="URL", help="NetBox base URL (default: $NETBOX_URL)")
    parser.add_argument("--token-file", metavar="PATH",
                        help="file holding the NetBox API token (default: $NETBOX_TOKEN, then $NETBOX_TOKEN_FILE)")


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
