"""A data center as a checked bundle holds it: the site every verb sees, read from the bundle's NetBox
snapshot instead of NetBox, and refused unless it is the bundle's in every input.

``pyctl rollout DC --bundle B`` rolls out what the bundle says, not a live recomputation: the inventory
is built from ``inputs/netbox-records.json``, its plan computed with the site policy, and the input
digest of that site and of this checkout's group_vars and roles must equal the digest the signed
manifest is keyed by — part by part, each differing part named (exit 3).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pyctl import digest
from pyctl import inventory as inv_mod
from pyctl import site as site_mod
from pyctl.bundle import manifest, sign
from pyctl.bundle.manifest import BundleError

MISMATCH = "bundle mismatch"
_WHAT = {
    "netbox": "the inventory built from the bundle's NetBox snapshot",
    "plan": "the plan computed from it with this checkout's site policy",
    "group_vars": "this checkout's inventories/<dc>/group_vars",
    "roles": "this checkout's roles, playbooks, plugins and ansible.cfg",
}


def load_site(dc: str, bundle: Path, allowed_signers: Path, flags: site_mod.SiteFlags, *, require_plan: bool = True,
              on_inventory: Callable[[inv_mod.Inventory], None] | None = None) -> site_mod.Site:
    """The site of ``dc`` as the checked bundle holds it (BundleError naming what differs)."""
    verified = manifest.verify(bundle, sign.verifier(allowed_signers))
    if verified.dc != dc:
        raise BundleError(MISMATCH, f"{bundle} is a bundle of {verified.dc}, not of {dc}")
    records = inv_mod.records_from_dict(manifest.read_json(bundle, "inputs/netbox-records.json"))
    inventory = site_mod.build_inventory(records, flags)
    if on_inventory is not None:
        on_inventory(inventory)
    site = site_mod.load(dc, inventory, site_mod.plan_settings(dc, flags), require_plan=require_plan, rtts=flags.rtts)
    want = verified.manifest["input_digest"]["parts"]
    changed = digest.of_site(site).changed(want)
    if changed:
        raise BundleError(MISMATCH, f"{bundle} was built from other inputs than this rollout would use: "
                          f"{', '.join(changed)}",
                          problems=[f"{part}: {_WHAT[part].replace('<dc>', dc)} differs from the bundle's"
                                    for part in changed])
    return site
