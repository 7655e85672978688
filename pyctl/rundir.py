"""Run directories: ``runs/<dc>/<UTC timestamp>-<verb>/`` (DESIGN.md, "Contracts").

Each pyctl run writes its inputs, computed plan, artifacts, state and report there. Secrets (the
NetBox token, keys) are never written into it.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from pyctl.errors import ConfigError
from pyctl.paths import REPO

# NetBox slugs and verbs: lower case, no path separators, short enough for a file name.
_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


def runs_root() -> Path:
    return Path(os.environ.get("PYCTL_RUNS_DIR", str(REPO / "runs")))


def secrets_root() -> Path:
    """The controller's secret store (``$PYCTL_SECRETS_DIR``, else ``secrets/`` in the checkout), apart from
    the run directories, which stay free of secrets and may travel."""
    return Path(os.environ.get("PYCTL_SECRETS_DIR", str(REPO / "secrets")))


def ca_backup_dir(dc: str) -> Path:
    """Where the roles keep the backups of ``dc``'s CAs (roles/pki/tasks/ca.yml: one 0700 directory per CA,
    ca.key and ca.crt 0600), passed to every playbook pyctl runs as ``pyctl_ca_backup_dir``; created
    here, it and every directory above it up to the store 0700."""
    if not _SAFE_NAME.match(dc):
        raise ConfigError(f"bad data center for the secret store: {dc!r}")
    root = secrets_root()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in (root / dc, root / dc / "pki"):
        path.mkdir(mode=0o700, exist_ok=True)
    return root / dc / "pki"


def new_run_dir(dc: str, verb: str, runs_dir: Path | None = None) -> Path:
    """A fresh, private (0700) run directory; never reuses one that exists."""
    for name, value in (("data center", dc), ("verb", verb)):
        if not _SAFE_NAME.match(value):
            raise ConfigError(f"bad {name} for a run directory: {value!r}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    parent = (runs_dir or runs_root()) / dc
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(100):
        path = parent / (f"{stamp}-{verb}" if attempt == 0 else f"{stamp}-{verb}-{attempt}")
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return path
    raise ConfigError(f"cannot create a run directory under {parent}")


def write_json(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")


def write_yaml(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False))
