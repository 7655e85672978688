"""A data center as every verb sees it: NetBox → the validated inventory → the plan, and the Ansible
inventory directory every run gets (hosts, the site's group_vars, the plan's group_vars).

:func:`load_site` is the one way in: every verb that reads a data center reads it here, with the same
flags (:class:`SiteFlags`), so the roles see the same variables whichever command runs them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyctl import config
from pyctl import inventory as inv_mod
from pyctl.errors import ConfigError
from pyctl.netbox import NetBox, settings_from_env
from pyctl.paths import group_vars_dir
from pyctl.plan import Plan, PlanSettings, compute_plan, group_vars, load_settings
from pyctl.rundir import write_json


@dataclass(frozen=True)
class SiteFlags:
    """How a verb reads a data center: the NetBox connection, which devices it takes, the site policy."""

    netbox_url: str | None = None
    token_file: str | None = None
    include_planned: bool = False
    exclude_invalid: bool = False
    settings: str | None = None  # site policy YAML; default inventories/<dc>/group_vars/all/pyctl.yml
    rtts: Mapping[tuple[str, str], float] | None = None  # measured etcd round trips (ms) the plan takes


def plan_settings(dc: str, flags: SiteFlags) -> PlanSettings:
    """The site policy the plan reads (:func:`pyctl.config.plan_policy`)."""
    return load_settings(config.plan_policy(dc, flags.settings))


def load_records(dc: str, flags: SiteFlags) -> inv_mod.SiteRecords:
    """Everything the inventory of ``dc`` is built from, read from NetBox."""
    return NetBox(settings_from_env(url=flags.netbox_url, token_file=flags.token_file)).site_records(dc)


def build_inventory(records: inv_mod.SiteRecords, flags: SiteFlags, *,
                    mtu_mismatch: str = "problem") -> inv_mod.Inventory:
    """The validated inventory of the records (InventoryError naming every problem), as the flags take it."""
    return inv_mod.build(records, mtu_mismatch=mtu_mismatch, include_planned=flags.include_planned,
                         exclude_invalid=flags.exclude_invalid)


def load_inventory(dc: str, flags: SiteFlags, *, mtu_mismatch: str = "problem") -> inv_mod.Inventory:
    """The validated inventory of ``dc`` read from NetBox (InventoryError naming every problem)."""
    return build_inventory(load_records(dc, flags), flags, mtu_mismatch=mtu_mismatch)


@dataclass(frozen=True)
class Site:
    dc: str
    inventory: inv_mod.Inventory
    plan: Plan | None  # None: the plan breaks a rule (a site loaded with require_plan=False)
    listing: dict[str, Any]  # ansible-inventory --list shape

    @property
    def hosts(self) -> list[str]:
        return sorted(self.listing["_meta"]["hostvars"])

    def group_hosts(self, group: str) -> list[str]:
        """The hosts of an inventory group (``all``: every host), sorted."""
        if group == "all":
            return self.hosts
        return sorted(self.listing.get(group, {}).get("hosts", []))

    def require_plan(self) -> Plan:
        """The plan; a site loaded without one (its plan breaks a rule) cannot run a rollout."""
        if self.plan is None:
            raise ConfigError(f"the plan for {self.dc} breaks a rule (see `pyctl plan {self.dc}`)")
        return self.plan

    def require_hosts(self, verb: str) -> None:
        """A verb that changes hosts refuses a site with none to manage: that is never a success."""
        if self.hosts:
            return
        left = self.inventory.not_touched()
        raise ConfigError(f"{verb} {self.dc}: NetBox site {self.dc} has no host pyctl manages"
                          + (f" ({len(left)} device(s) not touched)" if left else " (it has no devices)"),
                          problems=[f"{s.name} ({s.status}): {s.reason}" for s in left])

    def resolve_limit(self, limit: str | None) -> set[str] | None:
        """``--limit a,b,group``: hosts and groups of this DC; None when no limit was given."""
        if not limit:
            return None
        hosts: set[str] = set()
        for item in (i.strip() for i in limit.split(",") if i.strip()):
            if item in self.listing["_meta"]["hostvars"]:
                hosts.add(item)
            elif item in self.listing and item != "_meta":
                hosts.update(self.listing[item].get("hosts", []))
            else:
                raise ConfigError(f"--limit: {item!r} is neither a host nor a group of {self.dc}")
        return hosts


def load_site(dc: str, flags: SiteFlags, *, require_plan: bool = True,
              on_inventory: Callable[[inv_mod.Inventory], None] | None = None) -> Site:
    """Site policy → NetBox → inventory → plan for ``dc``. The policy is read first, so a bad file stops
    before NetBox is asked; ``on_inventory`` sees the inventory as soon as it is read (to say what the run
    leaves alone)."""
    settings = plan_settings(dc, flags)
    inventory = load_inventory(dc, flags)
    if on_inventory is not None:
        on_inventory(inventory)
    return load(dc, inventory, settings, require_plan=require_plan, rtts=flags.rtts)


def load(dc: str, inventory: inv_mod.Inventory, settings: PlanSettings, *, require_plan: bool = True,
         rtts: Mapping[tuple[str, str], float] | None = None) -> Site:
    """The site with its plan; a plan that breaks a rule is refused (exit 3, every violation named)
    unless ``require_plan`` is false (then the plan's group_vars are left out of runs)."""
    plan = compute_plan(inventory, settings, rtts or None)
    if plan.violations and require_plan:
        raise ConfigError(f"the plan for {dc} breaks {len(plan.violations)} rule(s)", problems=plan.violations)
    return Site(dc=dc, inventory=inventory, plan=None if plan.violations else plan,
                listing=inv_mod.ansible_inventory(inventory))


def write_inventory_dir(site: Site, inv_dir: Path) -> Path:
    """``inv_dir``: hosts.json, the site's group_vars (inventories/<dc>/group_vars) and the plan's
    group_vars (``group_vars/cluster_<name>.json``). Returns ``inv_dir``."""
    inv_dir.mkdir(parents=True, exist_ok=False)
    (inv_dir / "hosts.json").write_text(json.dumps(to_inventory_file(site.listing), indent=2))
    site_vars = group_vars_dir(site.dc)
    if site_vars.is_dir():
        shutil.copytree(site_vars, inv_dir / "group_vars")
    if site.plan is not None:
        for group, variables in group_vars(site.plan).items():
            write_json(inv_dir / "group_vars" / f"{group}.json", variables)
    return inv_dir


def to_inventory_file(listing: dict[str, Any]) -> dict[str, Any]:
    """``ansible-inventory --list`` shape to the YAML/JSON inventory file shape Ansible loads from a dir."""
    hostvars = listing["_meta"]["hostvars"]
    children: dict[str, Any] = {}
    for group, body in listing.items():
        if group in ("_meta", "all"):
            continue
        children[group] = {"hosts": dict.fromkeys(body.get("hosts", []))}
    return {"all": {"hosts": hostvars, "children": children}}
