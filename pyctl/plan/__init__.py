"""pyctl.plan: what must be computed before a rollout — overlay MTU, CIDRs and IPAM, etcd, control planes.

Pure: no I/O. :func:`compute_plan` applies the rules to an :class:`~pyctl.inventory.Inventory` and a
:class:`PlanSettings` (read by :func:`load_settings` from ``inventories/<dc>/group_vars/all/pyctl.yml``,
key ``pyctl_plan``). Every value in the :class:`Plan` carries a one-line reason and the document it
rests on; ``Plan.violations`` lists every rule broken (``pyctl plan`` exits 3 when there is one).

NetBox prefixes the plan reads (``ipam.prefix`` role slug, and the ``cluster`` it belongs to):
  ``pod-network``     the cluster's Calico IP pool, one per IP family
  ``service-network`` the cluster's service range (kube-apiserver --service-cluster-ip-range), one per family
  ``node-network``    the cluster's underlay subnets (hosts outside them are findings)
  ``datacenter``      the DC's supernet; missing pod/service prefixes are proposed as free ranges from it
Prefixes with role ``datacenter`` or ``aggregate``, or status ``container``, are supernets: they may
contain pod and service ranges. Any other overlap of a pod or service range with a prefix of the same
VRF, of this site or any other (``Inventory.prefixes`` holds all sites'), is a violation. A cluster
takes its prefixes only from those scoped to this site or to no site.

The rule functions (``mtu``, ``ipam``, ``etcd``, ``control_plane``) take plain values; the Ansible
filter plugin ``plugins/filter/pyctl_plan.py`` exposes the same functions.
"""

from pyctl.plan.compute import compute_plan
from pyctl.plan.control_plane import apiserver_sizing, place_control_planes
from pyctl.plan.etcd import etcd_quota, etcd_timing, events_etcd_needed, member_problems, ram_problems
from pyctl.plan.ipam import (
    NamedPrefix,
    block_addresses,
    block_change_problems,
    blocks_per_node,
    ipam_capacity,
    overlaps,
    pool_blocks,
    propose_free,
)
from pyctl.plan.model import ClusterPlan, Plan, Value
from pyctl.plan.mtu import encapsulation_overhead, felix_encapsulation, plan_mtu, underlay_mtu, veth_mtu
from pyctl.plan.render import group_vars, render_text
from pyctl.plan.settings import PlanSettings, load_settings

__all__ = [
    "ClusterPlan",
    "NamedPrefix",
    "Plan",
    "PlanSettings",
    "Value",
    "apiserver_sizing",
    "block_addresses",
    "block_change_problems",
    "blocks_per_node",
    "compute_plan",
    "encapsulation_overhead",
    "etcd_quota",
    "etcd_timing",
    "events_etcd_needed",
    "felix_encapsulation",
    "group_vars",
    "ipam_capacity",
    "load_settings",
    "member_problems",
    "overlaps",
    "place_control_planes",
    "plan_mtu",
    "pool_blocks",
    "propose_free",
    "ram_problems",
    "render_text",
    "underlay_mtu",
    "veth_mtu",
]
