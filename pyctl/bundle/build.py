"""`pyctl bundle build DC`: a data center's desired state and artifact closure as one signed bundle.

Written to ``<out>/<dc>-<input digest, 12 hex>/`` and the same as ``….tar`` beside it (default out:
``bundles/<dc>`` of the checkout, or ``$PYCTL_BUNDLES_DIR/<dc>``), each built under a temporary name and
moved into place only when complete. ``<out>/LATEST`` names the last bundle built; the next build's
summary compares against it (:mod:`pyctl.bundle.diff`). The summary is not part of the bundle, so the
same inputs give the same bytes whatever was built before.

The bundle's hosts must share one platform, and the DC's ``pyctl_bundle_resolver_images`` must name the
image of that platform's hosts (:mod:`pyctl.bundle.closure`); any other platform is refused by name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyctl import artifacts, config, digest
from pyctl import inventory as inv_mod
from pyctl import site as site_mod
from pyctl.bundle import closure, diff, manifest, sign
from pyctl.errors import ConfigError
from pyctl.paths import REPO, group_vars_dir
from pyctl.plan import group_vars

RESOLVER_IMAGES_VAR = "pyctl_bundle_resolver_images"
IMAGES_NOTE = "no role pulls a container image yet: nothing to carry"


def bundles_root(dc: str) -> Path:
    base = os.environ.get("PYCTL_BUNDLES_DIR")
    return Path(base) / dc if base else REPO / "bundles" / dc


@dataclass(frozen=True)
class Built:
    directory: Path
    tarball: Path
    manifest: dict[str, Any]
    previous: Path | None  # the bundle LATEST named before this build (this one's own name when rebuilt)
    changes: diff.Difference | None  # against ``previous``
    seconds: float

    @property
    def size(self) -> int:
        return self.tarball.stat().st_size


def _json(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def _copy_tree(files: list[Path], root: Path, dest: Path) -> None:
    for path in files:
        target = dest / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        target.chmod(0o755 if path.stat().st_mode & 0o111 else 0o644)


def platform_of(inventory: inv_mod.Inventory) -> str:
    """The one platform of the hosts a rollout manages (ConfigError naming each when they differ or
    one has none)."""
    by: dict[str, list[str]] = {}
    for host in inventory.hosts:
        by.setdefault(host.platform or "(none)", []).append(host.name)
    if not by:
        raise ConfigError(f"{inventory.site} has no host pyctl manages: nothing to bundle")
    if len(by) > 1 or "(none)" in by:
        raise ConfigError(f"the hosts of {inventory.site} must share one platform for a bundle's package closure",
                          problems=[f"{p}: {', '.join(sorted(h)[:5])}{' …' if len(h) > 5 else ''}"
                                    for p, h in sorted(by.items())])
    return next(iter(by))


def resolver_image(role_vars: Mapping[str, Any], platform: str, dc: str) -> str:
    images = role_vars.get(RESOLVER_IMAGES_VAR) or {}
    image = images.get(platform) if isinstance(images, dict) else None
    if platform not in closure.DISTRIBUTIONS:
        raise ConfigError(f"platform {platform} of {dc}: its package closure cannot be resolved here (only "
                          f"{', '.join(closure.DISTRIBUTIONS)} hosts can be run); the bundle refuses it")
    if not image:
        raise ConfigError(f"{dc} names no image of its {platform} hosts to resolve packages on: set "
                          f"{RESOLVER_IMAGES_VAR}.{platform} in inventories/{dc}/group_vars/all")
    return str(image)


def _image_id(image: str) -> str:
    proc = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", image], capture_output=True,
                          text=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise ConfigError(f"resolver image {image}: {proc.stderr.strip() or 'not found'}")
    return proc.stdout.strip()


def build(dc: str, flags: site_mod.SiteFlags, key: Path, *, out: Path | None = None,
          fetch: artifacts.Fetch | None = None, say: Callable[[str], None] = lambda _m: None,
          clock: Callable[[], float] | None = None) -> Built:
    """Read NetBox, plan, resolve and fetch the closure, write and sign the bundle (module docstring)."""
    now = clock or time.monotonic
    start = now()
    fetch = fetch or artifacts.http_fetch()
    if not key.is_file():
        raise ConfigError(f"--key {key}: no such file")
    say(f"reading {dc} from NetBox")
    records = site_mod.load_records(dc, flags)
    inventory = site_mod.build_inventory(records, flags)
    site = site_mod.load(dc, inventory, site_mod.plan_settings(dc, flags), rtts=flags.rtts)
    plan = site.require_plan()
    role_vars = config.load_role_vars(dc)
    platform = platform_of(inventory)
    image = resolver_image(role_vars, platform, dc)
    bom = artifacts.bill_of_materials(inventory, role_vars, group_vars(plan))
    apt = [a for a in bom if a.kind == "apt"]
    unset = sorted({a.mirror for a in bom if a.mirror.startswith(artifacts.UNSET_PREFIX)})
    if unset:
        raise ConfigError(f"{dc} names no mirror for some artifacts", problems=[m.removeprefix(artifacts.UNSET_PREFIX)
                                                                              for m in unset])
    say(f"resolving {len(apt)} apt packages on {image} ({platform})")
    keys = {str(role_vars["gpu_driver_mirror_url"]).rstrip("/"): str(role_vars["gpu_driver_mirror_key"])} \
        if role_vars.get("gpu_driver_mirror_key") and role_vars.get("gpu_driver_mirror_url") else {}
    resolution = closure.resolve(apt, image, platform, keys, fetch)
    say(f"fetching {sum(1 for a in bom if a.kind == 'binary')} binaries")
    bins = closure.binaries([a for a in bom if a.kind == "binary"], fetch)
    files = [*resolution.files, *bins]

    input_digest = digest.compute(site.listing, plan, dc)
    root = out or bundles_root(dc)
    name = f"{dc}-{input_digest.value[:12]}"
    root.mkdir(parents=True, exist_ok=True)
    staging = root / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir()
        _json(staging / "inputs" / "netbox-records.json", inv_mod.records_to_dict(records))
        _json(staging / "inputs" / "inventory.json", site.listing)
        _json(staging / "inputs" / "plan.json", plan.to_dict())
        _json(staging / "inputs" / "cluster-vars.json", group_vars(plan))
        site_vars = group_vars_dir(dc)
        if site_vars.is_dir():
            _copy_tree(sorted(p for p in site_vars.rglob("*") if p.is_file()), site_vars,
                       staging / "inputs" / "group_vars")
        _copy_tree(digest.tree_files(REPO, digest.ROLE_TREES), REPO, staging / "project")
        _json(staging / "artifacts.json", {
            "bill_of_materials": [a.to_dict() for a in bom],
            "files": [f.to_dict() for f in sorted(files, key=lambda f: f.path)],
            "images": [], "images_note": IMAGES_NOTE,
            "resolver": {"platform": platform, "image": image, "image_id": _image_id(image),
                         "base_packages": dict(sorted(resolution.base_packages.items()))},
        })
        closure.place(files, staging / "mirror")
        entries = manifest.scan(staging)
        doc = manifest.document(dc, input_digest.to_dict(), entries, platform=platform,
                                mirrors=sorted({f.path.split("/", 1)[0] for f in files}))
        raw = manifest.render(doc)
        (staging / manifest.MANIFEST).write_bytes(raw)
        (staging / manifest.SIGNATURE).write_bytes(sign.sign(raw, key))
        tar_partial = root / f".{name}.tar.partial-build"
        manifest.write_tar(staging, tar_partial)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    directory, tarball = root / name, root / f"{name}.tar"
    latest = root / "LATEST"
    previous_name = latest.read_text().strip() if latest.is_file() else ""
    previous = root / previous_name if previous_name and (root / previous_name).is_dir() else None
    changes = diff.compare(previous, staging) if previous is not None else None
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)
    tar_partial.replace(tarball)
    latest.write_text(name + "\n")
    return Built(directory, tarball, doc, previous, changes, now() - start)
