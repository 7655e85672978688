"""The one digest of every input that decides a data center's hosts: computed here and nowhere else.

Four parts, each a sha256 of a canonical form, and one digest over the four:

- ``netbox``: the NetBox snapshot as the roles get it (every host, its groups and host vars);
- ``plan``: the computed plan (:meth:`pyctl.plan.Plan.to_dict`), ``null`` when it was not computed;
- ``group_vars``: every file under ``inventories/<dc>/group_vars`` (path and content);
- ``roles``: the roles, playbooks and plugins the runs execute, plus ``ansible.cfg`` (Molecule scenarios
  and caches left out: they never run on a data center's hosts).

A record of a host's converged state is only as good as the inputs it was converged from: the drift
fast path (:mod:`pyctl.desired_state`) trusts a record only while its digest equals today's, and names
the parts that changed otherwise. Canonical JSON: sorted keys, no whitespace, UTF-8.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pyctl.paths import REPO

PARTS = ("netbox", "plan", "group_vars", "roles")
# What the runs execute; relative to the checkout.
ROLE_TREES = ("roles", "playbooks", "plugins", "ansible.cfg")
_SKIP_DIRS = frozenset({"molecule", "__pycache__", ".pytest_cache"})


def canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree_files(root: Path, entries: Iterable[str]) -> list[Path]:
    """The files a tree digest covers: every file under ``root/<entry>`` but Molecule's and caches, in
    path order (what a bundle carries as ``project/``)."""
    files: list[Path] = []
    for entry in sorted(entries):
        top = root / entry
        if top.is_file():
            files.append(top)
        elif top.is_dir():
            files += sorted(p for p in top.rglob("*")
                            if p.is_file() and not _SKIP_DIRS.intersection(p.relative_to(root).parts))
    return files


def tree_digest(root: Path, entries: Iterable[str]) -> str:
    """sha256 over every file under ``root/<entry>`` (relative path, mode's executable bit and content),
    in path order; a missing entry counts as missing, so adding it changes the digest."""
    h = hashlib.sha256()
    for entry in sorted(entries):
        if not (root / entry).exists():
            h.update(f"missing {entry}\n".encode())
            continue
        for path in tree_files(root, [entry]):
            rel = path.relative_to(root).as_posix()
            executable = "x" if path.stat().st_mode & 0o111 else "-"
            h.update(f"{rel} {executable} {sha256(path.read_bytes())}\n".encode())
    return h.hexdigest()


@dataclass(frozen=True)
class InputDigest:
    parts: Mapping[str, str]

    @property
    def value(self) -> str:
        return sha256("".join(f"{name}={self.parts[name]}\n" for name in PARTS).encode())

    def changed(self, other: Mapping[str, str]) -> list[str]:
        """The parts whose digest differs from ``other`` (a record's parts), in PARTS order."""
        return [name for name in PARTS if other.get(name) != self.parts.get(name)]

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "parts": dict(self.parts)}


def compute(listing: Mapping[str, Any], plan: Any, dc: str, *, repo: Path = REPO) -> InputDigest:
    """The digest of a site: its ansible-inventory listing, its plan (or None), its group_vars, the roles."""
    plan_doc = plan.to_dict() if plan is not None else None
    return InputDigest({
        "netbox": sha256(canonical(listing)),
        "plan": sha256(canonical(plan_doc)),
        "group_vars": tree_digest(repo / "inventories" / dc, ["group_vars"]),
        "roles": tree_digest(repo, ROLE_TREES),
    })


class SiteInputs(Protocol):
    """What a digest reads of a :class:`pyctl.site.Site`."""

    @property
    def dc(self) -> str: ...

    @property
    def listing(self) -> dict[str, Any]: ...

    @property
    def plan(self) -> Any: ...


def of_site(site: SiteInputs) -> InputDigest:
    """:func:`compute` for a :class:`pyctl.site.Site`."""
    return compute(site.listing, site.plan, site.dc)
