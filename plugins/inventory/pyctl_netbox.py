"""Ansible inventory plugin: pyctl's view of a NetBox site.

Built on the same modules as ``pyctl inventory`` and ``pyctl plan`` (:mod:`pyctl.netbox`,
:mod:`pyctl.inventory`, :mod:`pyctl.site`), so ``ansible-inventory -i inventories/dc2/netbox.yml --list``
gives the same hosts, groups and variables as ``pyctl inventory dc2 --ansible``, the plan's variables on
each ``cluster_<name>`` group as every pyctl run gets them, and the same validation: bad NetBox data or
a plan that breaks a rule fails the parse with every problem named.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: pyctl_netbox
short_description: Hosts, groups and variables of one NetBox site, as pyctl reads them
description:
  - Reads one NetBox site (a data center) with pyctl's NetBox client (two GraphQL queries) and
    validates it with pyctl's inventory rules before any host is touched.
  - "Groups: C(site_<site>), C(role_<role>) (gpu_worker, control_plane, etcd, mgmt) and
    C(cluster_<cluster>); dashes become underscores."
  - "Host variables: C(ansible_host) (primary IPv4, else primary IPv6) and C(pyctl_*): role, cluster,
    cluster kind, rack, primary addresses, the pod-traffic address, underlay NIC, its type and MTU, GPU
    model, count, NVSwitch and MIG layout."
  - "Group variables: the plan's (as C(pyctl plan) computes it from NetBox and the site policy in
    C(group_vars/all/pyctl.yml) beside this file) on each C(cluster_<cluster>) group: etcd flags and
    members, control-plane sizing, Calico CIDRs and MTU. A plan that breaks a rule fails the parse.
    Measured etcd round trips (C(pyctl plan --rtt)) are pyctl's alone; here the plan takes the site
    policy's."
  - "NetBox's device status decides which devices are hosts: C(active) ones, and C(planned) or
    C(staged) ones with O(include_planned). Every other device is left out and named in a warning
    (as C(pyctl inventory) lists it), never silently."
options:
  plugin:
    description: Marks this file as a source for this plugin.
    required: true
    choices: ["pyctl_netbox"]
  site:
    description: The NetBox site slug of the data center.
    required: true
    type: str
  netbox_url:
    description: NetBox base URL.
    type: str
    env:
      - name: NETBOX_URL
  token_file:
    description: >-
      File holding the API token. Without it the token comes from C(NETBOX_TOKEN); it is never
      written into the inventory.
    type: str
    env:
      - name: NETBOX_TOKEN_FILE
  include_planned:
    description: Also take the devices NetBox marks planned or staged (nodes being brought up).
    type: bool
    default: false
  exclude_invalid:
    description: >-
      Go on without the hosts whose NetBox records break a rule (each named in a warning) instead of
      failing the parse.
    type: bool
    default: false
requirements:
  - pyctl (this repository, installed in the controller's Python)
"""

EXAMPLES = r"""
# inventories/dc2/netbox.yml
plugin: pyctl_netbox
site: dc2

# ansible-inventory -i inventories/dc2/netbox.yml --graph
"""

from pathlib import Path
from typing import Any

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible.utils.display import Display

try:
    from pyctl import site as pyctl_site
    from pyctl.errors import PyctlError
    from pyctl.plan import group_vars as plan_group_vars
except ImportError as exc:  # pragma: no cover - import guard for controllers without pyctl
    PYCTL_IMPORT_ERROR: ImportError | None = exc
else:
    PYCTL_IMPORT_ERROR = None


display = Display()


class InventoryModule(BaseInventoryPlugin):
    NAME = "pyctl_netbox"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("netbox.yml", "netbox.yaml"))

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        if PYCTL_IMPORT_ERROR is not None:
            raise AnsibleParserError(f"pyctl_netbox needs pyctl importable: {PYCTL_IMPORT_ERROR}")
        self._read_config_data(path)
        site = self.get_option("site")
        # The site policy beside this file (group_vars/all/pyctl.yml), as pyctl reads inventories/<dc>/.
        policy = Path(path).parent / "group_vars" / "all" / "pyctl.yml"
        flags = pyctl_site.SiteFlags(netbox_url=self.get_option("netbox_url"), token_file=self.get_option("token_file"),
                                     include_planned=self.get_option("include_planned"),
                                     exclude_invalid=self.get_option("exclude_invalid"),
                                     settings=str(policy) if policy.is_file() else None)
        try:
            # pyctl's one way in, as every verb takes it: NetBox → the validated inventory → the plan.
            dc = pyctl_site.load_site(site, flags)
        except PyctlError as exc:
            detail = "".join(f"\n  - {p}" for p in exc.problems)
            raise AnsibleParserError(f"pyctl_netbox: {exc.message}{detail}") from exc
        for skipped in dc.inventory.not_touched():
            display.warning(f"pyctl_netbox: not touched: {skipped.name} ({skipped.role or 'no role'}, "
                                 f"{skipped.status}): {skipped.reason}")
        listing = dict(dc.listing)
        hostvars = listing.pop("_meta")["hostvars"]
        listing.pop("all", None)
        for group, body in listing.items():
            self.inventory.add_group(group)
            for host in body.get("hosts", []):
                self.inventory.add_host(host, group=group)
        for host, variables in hostvars.items():
            for key, value in variables.items():
                self.inventory.set_variable(host, key, value)
        for group, variables in plan_group_vars(dc.require_plan()).items():
            self.inventory.add_group(group)
            for key, value in variables.items():
                self.inventory.set_variable(group, key, value)
