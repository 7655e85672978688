"""`pyctl bundle diff A B`: every difference between two bundles, named as an operator reads it.

Three kinds, in this order: the input digest's parts that differ (:mod:`pyctl.digest`); the plan's values
that differ, each by its path in the plan (``clusters.lab-gpu.calico.mtu: 1450 → 8950``); the artifacts
(packages added, removed or at another version; binaries and indexes with another sha256); then every
other file that differs, by path (``inputs/group_vars/…``, ``project/roles/…``). Both bundles are read in
place (directories or tarballs) and must be checked first (``pyctl bundle verify``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyctl.bundle.manifest import MANIFEST, read_json


@dataclass
class Difference:
    inputs: list[str] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not (self.inputs or self.plan or self.artifacts or self.files)

    def lines(self) -> list[str]:
        out = []
        for title, items in (("inputs", self.inputs), ("plan", self.plan), ("artifacts", self.artifacts),
                             ("files", self.files)):
            out += [f"{title}: {item}" for item in items]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"same": self.same, "inputs": self.inputs, "plan": self.plan, "artifacts": self.artifacts,
                "files": self.files}


def _leaves(doc: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(doc, dict):
        out: dict[str, Any] = {}
        for key, value in doc.items():
            out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(doc, list) and doc and all(isinstance(v, dict) and "name" in v for v in doc):
        out = {}
        for item in doc:
            out.update(_leaves({k: v for k, v in item.items() if k != "name"}, f"{prefix}[{item['name']}]"))
        return out
    return {prefix: doc}


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    lines = []
    for key in sorted(set(old) | set(new)):
        if key not in new:
            lines.append(f"{key}: {old[key]!r} → (none)")
        elif key not in old:
            lines.append(f"{key}: (none) → {new[key]!r}")
        elif old[key] != new[key]:
            lines.append(f"{key}: {old[key]!r} → {new[key]!r}")
    return lines


def _artifact_lines(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    def by_key(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        out = {}
        for f in doc.get("files", []):
            key = f"{f['kind']} {f['package']}" if f.get("package") else f"{f['kind']} {f['path']}"
            out[key] = f
        return out

    a, b = by_key(old), by_key(new)
    lines = []
    for key in sorted(set(a) | set(b)):
        if key not in b or key not in a:
            item = a.get(key) or b[key]
            label = " ".join(filter(None, (key, item.get("version"))))
            lines.append(f"{label}: {'removed' if key not in b else 'added'}")
        elif a[key].get("version") != b[key].get("version"):
            lines.append(f"{key}: {a[key].get('version')} → {b[key].get('version')}")
        elif a[key]["sha256"] != b[key]["sha256"]:
            lines.append(f"{key}: sha256 {a[key]['sha256'][:12]}… → {b[key]['sha256'][:12]}…")
    ra, rb = old.get("resolver", {}), new.get("resolver", {})
    for what in ("platform", "image", "image_id"):
        if ra.get(what) != rb.get(what):
            lines.append(f"resolver {what}: {ra.get(what)} → {rb.get(what)}")
    return lines


def compare(a: Path, b: Path) -> Difference:
    """What differs from bundle ``a`` to bundle ``b``."""
    ma, mb = read_json(a, MANIFEST), read_json(b, MANIFEST)
    diff = Difference()
    if ma.get("dc") != mb.get("dc"):
        diff.inputs.append(f"data center: {ma.get('dc')} → {mb.get('dc')}")
    pa, pb = ma["input_digest"].get("parts", {}), mb["input_digest"].get("parts", {})
    diff.inputs += [f"{part}: {pa.get(part, '')[:12]}… → {pb.get(part, '')[:12]}…"
                    for part in sorted(set(pa) | set(pb)) if pa.get(part) != pb.get(part)]
    if ma.get("platform") != mb.get("platform"):
        diff.inputs.append(f"platform: {ma.get('platform')} → {mb.get('platform')}")
    diff.plan = _changed(_leaves(read_json(a, "inputs/plan.json")), _leaves(read_json(b, "inputs/plan.json")))
    diff.artifacts = _artifact_lines(read_json(a, "artifacts.json"), read_json(b, "artifacts.json"))
    fa = {f["path"]: f["sha256"] for f in ma["files"]}
    fb = {f["path"]: f["sha256"] for f in mb["files"]}
    skip = ("mirror/", "artifacts.json", "inputs/plan.json")  # said above, by what they mean
    for path in sorted(set(fa) | set(fb)):
        if path.startswith(skip) or fa.get(path) == fb.get(path):
            continue
        diff.files.append(f"{path}: {'added' if path not in fa else 'removed' if path not in fb else 'changed'}")
    return diff
