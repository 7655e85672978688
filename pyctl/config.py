"""The one reader of a site's configuration in the checkout: ``inventories/<dc>/group_vars`` and the
roles' variables.

What is read here comes back as plain mappings or small value types; each owner turns its part into its
own settings (the plan policy into :class:`pyctl.plan.PlanSettings`, the smoke policy into
:class:`pyctl.smoke.checks.SmokeSettings`). Keys, by file of ``group_vars/all``:

- ``pyctl.yml``: ``pyctl_plan`` (the plan policy) and ``pyctl_smoke`` (where the smoke checks look);
- ``connection.yml``: ``pyctl_ssh_user``, ``pyctl_ssh_key_file``, ``pyctl_known_hosts_file``;
- any file: the roles' variables (``gpu_driver_version`` and the others the artifacts list reads).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pyctl.errors import ConfigError
from pyctl.paths import REPO, group_vars_dir

ROLES = ("preflight", "gpu_driver", "etcd", "control_plane", "calico")
SSH_KEYS = ("pyctl_ssh_user", "pyctl_ssh_key_file", "pyctl_known_hosts_file")


def read_mapping(path: Path) -> dict[str, Any]:
    """A YAML file holding a mapping (empty: ``{}``); ConfigError naming the file otherwise."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return doc


def site_files(dc: str, repo: Path = REPO) -> list[Path]:
    """The YAML files of ``inventories/<dc>/group_vars/all``, in the order Ansible reads them."""
    base = group_vars_dir(dc, repo) / "all"
    return sorted([*base.glob("*.yml"), *base.glob("*.yaml")]) if base.is_dir() else []


def plan_policy(dc: str, given: str | None = None, repo: Path = REPO) -> dict[str, Any]:
    """The site policy document (key ``pyctl_plan``): ``given`` (a file that must exist) or the DC's
    ``group_vars/all/pyctl.yml`` when there is one; ``{}`` otherwise."""
    path = Path(given) if given else group_vars_dir(dc, repo) / "all" / "pyctl.yml"
    if not path.exists():
        if given:
            raise ConfigError(f"settings file not found: {path}")
        return {}
    return read_mapping(path)


# Role variables the smoke checks take as their own when ``pyctl_smoke`` does not name them: the same
# pin, the same limits, whichever of the role and the smoke check reads them.
SMOKE_FROM_ROLE_VARS = {
    "gpu_driver_version": "gpu_driver_version",
    "etcd_perf_wal_fsync_p99_max_ms": "etcd_wal_fsync_p99_max_ms",
    "etcd_perf_backend_commit_p99_max_ms": "etcd_backend_commit_p99_max_ms",
}


def smoke_policy(dc: str, repo: Path = REPO) -> dict[str, Any]:
    """Key ``pyctl_smoke`` of the DC's group_vars/all, merged in file order, with the roles' variables of
    :data:`SMOKE_FROM_ROLE_VARS` (the driver pin, the etcd disk limits) where the key does not name its own."""
    merged: dict[str, Any] = {}
    from_roles: dict[str, Any] = {}
    for path in site_files(dc, repo):
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if isinstance(doc, dict):
            merged.update(doc.get("pyctl_smoke") or {})
            from_roles.update({smoke_key: doc[role_key] for role_key, smoke_key in SMOKE_FROM_ROLE_VARS.items()
                               if role_key in doc})
    for key, value in from_roles.items():
        if key not in merged and value not in ("", None):
            merged[key] = str(value) if key == "gpu_driver_version" else value
    return merged


def smoke_policy_source(dc: str, repo: Path = REPO) -> Path:
    """Where :func:`smoke_policy` reads from, for error messages."""
    return group_vars_dir(dc, repo) / "all"


def load_role_vars(dc: str, *, repo: Path = REPO, extra: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The roles' defaults, overlaid by the DC's ``group_vars/all/*.yml`` (file name order), by ``extra``
    (e.g. ``pyctl artifacts --vars FILE``), then by the roles' own ``vars/main.yml`` (Ansible: role vars
    beat inventory vars)."""
    merged: dict[str, Any] = {}
    for role in ROLES:
        path = repo / "roles" / role / "defaults" / "main.yml"
        if path.is_file():
            merged.update(read_mapping(path))
    for path in site_files(dc, repo):
        merged.update(read_mapping(path))
    for doc in extra:
        merged.update(doc)
    for role in ROLES:
        path = repo / "roles" / role / "vars" / "main.yml"
        if path.is_file():
            merged.update(read_mapping(path))
    return merged


@dataclass(frozen=True)
class SSHSettings:
    user: str
    key_file: Path
    known_hosts: Path
    port: int = 22
    connect_timeout: float = 10.0  # seconds for TCP connect + SSH handshake + auth, per host
    command_timeout: float = 30.0  # seconds one command may run


def load_ssh_settings(dc: str, repo: Path = REPO, *, connect_timeout: float = 10.0,
                      command_timeout: float = 30.0) -> SSHSettings:
    """The SSH settings of ``dc`` from its group_vars (ConfigError naming the file when incomplete)."""
    path = group_vars_dir(dc, repo) / "all" / "connection.yml"
    if not path.exists():
        raise ConfigError(f"no SSH settings for {dc}: {path} is missing (keys: {', '.join(SSH_KEYS)})")
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    missing = [k for k in SSH_KEYS if not isinstance(doc.get(k), str) or not doc.get(k)]
    if missing:
        raise ConfigError(f"{path}: missing {', '.join(missing)} (pyctl smoke reads {', '.join(SSH_KEYS)})")
    key_file, known_hosts = (Path(doc[k]) if Path(doc[k]).is_absolute() else repo / doc[k]
                             for k in ("pyctl_ssh_key_file", "pyctl_known_hosts_file"))
    for what, p in (("pyctl_ssh_key_file", key_file), ("pyctl_known_hosts_file", known_hosts)):
        if not p.is_file():
            raise ConfigError(f"{path}: {what} {p} does not exist")
    return SSHSettings(user=doc["pyctl_ssh_user"], key_file=key_file, known_hosts=known_hosts,
                       port=int(doc.get("pyctl_ssh_port", 22)), connect_timeout=connect_timeout,
                       command_timeout=command_timeout)
