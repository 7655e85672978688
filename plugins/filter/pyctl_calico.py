"""Ansible filters over pyctl.plan.calico: the Calico resources pyctl renders and validates, for the calico role.

Each filter has its own DOCUMENTATION / EXAMPLES / RETURN in ``FILTER_DOCS``; the module-level strings
describe the file. Bad input raises AnsibleFilterError with pyctl's message.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

try:
    from pyctl.ansible_filters import as_filter
    from pyctl.plan import calico, mtu
except ImportError:  # run from a checkout without pyctl installed: the package sits two levels up
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from pyctl.ansible_filters import as_filter
    from pyctl.plan import calico, mtu

DOCUMENTATION = r"""
name: pyctl_calico
short_description: Calico resources from the pyctl plan (render, validate against the CRD schemas, block size)
version_added: "0.1.0"
author: pyctl maintainers
description:
  - Exposes C(pyctl.plan.calico) as Jinja2 filters. Each filter is documented in C(FILTER_DOCS) of this file.
requirements:
  - the pyctl Python package (importable, or this file inside a pyctl checkout)
  - jsonschema >= 4, PyYAML, netaddr
"""

EXAMPLES = r"""
- name: Render and validate the cluster's Calico resources
  ansible.builtin.assert:
    that: (calico_plan | pyctl_calico_resources | pyctl_calico_validate) == []
"""

RETURN = r"""
_value:
  description: Depends on the filter; see FILTER_DOCS.
  type: raw
"""

FILTER_DOCS: dict[str, dict[str, str]] = {
    "pyctl_calico_resources": {
        "DOCUMENTATION": r"""
name: pyctl_calico_resources
short_description: the Calico resources of a cluster from its plan variables
description:
  - Operator installs get an Installation (calicoNetwork.mtu and the IP pools); manifest installs the
    calico-config ConfigMap's veth_mtu and an IPPool per family. Both get a FelixConfiguration with every
    encapsulation switch written (unused ones false) and an IPAMConfig.
positional: _input, install_method, nat_outgoing, node_selector
options:
  _input:
    description: The cluster's plan variables (calico_veth_mtu, calico_ipv4pool_cidr, calico_block_size, ...).
    type: dict
    required: true
  install_method:
    description: How Calico is installed.
    type: str
    choices: [operator, manifest]
    default: operator
  nat_outgoing:
    description: natOutgoing of every pool.
    type: bool
    default: true
  node_selector:
    description: nodeSelector of every pool.
    type: str
    default: all()
""",
        "EXAMPLES": r"""
- ansible.builtin.debug:
    msg: "{{ {'calico_veth_mtu': 8950, 'calico_ipv4pool_cidr': '10.20.64.0/18', 'calico_block_size': 26,
             'calico_vxlan_mode': 'Always', 'calico_ipip_mode': 'Never',
             'calico_felix_encapsulation': {'vxlanEnabled': true}} | pyctl_calico_resources }}"
""",
        "RETURN": r"""
_value:
  description: Kubernetes resources (apiVersion, kind, metadata, spec or data), in the order to apply them.
  type: list
  elements: dict
""",
    },
    "pyctl_calico_validate": {
        "DOCUMENTATION": r"""
name: pyctl_calico_validate
short_description: validates Calico resources against the upstream CRD schemas
description:
  - Each resource against the openAPIV3Schema of its CRD (unknown fields refused, as strict field
    validation does), plus the IPPool CEL rules for the fields pyctl sets.
positional: _input, crd_dir
options:
  _input:
    description: Resources.
    type: list
    elements: dict
    required: true
  crd_dir:
    description: Directory of CRD files; empty for $PYCTL_CALICO_CRD_DIR, else the CRDs pyctl carries
      (pyctl/data/calico-crds).
    type: str
    default: ""
""",
        "EXAMPLES": r"""
- ansible.builtin.assert:
    that: (__calico_resources | pyctl_calico_validate) == []
""",
        "RETURN": r"""
_value:
  description: >-
    One message per problem, "<Kind>/<name>: <field path>: <error>"; empty when all are valid.
  type: list
  elements: str
""",
    },
    "pyctl_calico_block_size_problems": {
        "DOCUMENTATION": r"""
name: pyctl_calico_block_size_problems
short_description: refuses a block size change against a deployed pool
description:
  - A wanted pool whose CIDR is deployed with another block size is an error; Calico cannot change a
    pool's block size in place (Calico docs, networking/ipam/change-block-size).
positional: _input, wanted
options:
  _input:
    description: Deployed resources (IPPool or Installation), from the API or the manifests written before.
    type: list
    elements: dict
    required: true
  wanted:
    description: The resources about to be applied.
    type: list
    elements: dict
    required: true
""",
        "EXAMPLES": r"""
- ansible.builtin.assert:
    that: (__calico_deployed | pyctl_calico_block_size_problems(__calico_resources)) == []
""",
        "RETURN": r"""
_value:
  description: One message per pool whose block size would change.
  type: list
  elements: str
""",
    },
    "pyctl_calico_lab_overlay_addresses": {
        "DOCUMENTATION": r"""
name: pyctl_calico_lab_overlay_addresses
short_description: lab overlay address per host, from the node's block of the pod pool
description:
  - Host i of the sorted names gets the first host address of block i of the pool, with the pool's prefix,
    as Calico takes a tunnel address from the node's own block.
positional: _input, pool_cidr, block_size
options:
  _input:
    description: Host names.
    type: list
    elements: str
    required: true
  pool_cidr:
    description: The pod pool.
    type: str
    required: true
  block_size:
    description: Block prefix length.
    type: int
    required: true
""",
        "EXAMPLES": r"""
- ansible.builtin.debug:
    # a: 10.100.0.1/16, b: 10.100.0.65/16
    msg: "{{ ['a', 'b'] | pyctl_calico_lab_overlay_addresses('10.100.0.0/16', 26) }}"
""",
        "RETURN": r"""
_value:
  description: Host name to address/prefix.
  type: dict
""",
    },
    "pyctl_calico_probe_peers": {
        "DOCUMENTATION": r"""
name: pyctl_calico_probe_peers
short_description: the peers a host sends full-size don't-fragment probes to
description:
  - Every other host up to full_mesh_max hosts; above, the hosts 1, 2, 4, ... places after it in the sorted
    ring (log2 N peers, each host probed as often as it probes).
positional: _input, host, full_mesh_max
options:
  _input:
    description: Host names of the cluster.
    type: list
    elements: str
    required: true
  host:
    description: The probing host.
    type: str
    required: true
  full_mesh_max:
    description: Largest cluster probed as a full mesh.
    type: int
    default: 32
""",
        "EXAMPLES": r"""
- ansible.builtin.debug:
    msg: "{{ groups['cluster_gpu_a'] | pyctl_calico_probe_peers(inventory_hostname) }}"
""",
        "RETURN": r"""
_value:
  description: Peer host names.
  type: list
  elements: str
""",
    },
}


def _plain(value: Any) -> Any:
    """Ansible's tagged strings, ints and lazy containers as plain Python (for jsonschema and to_nice_yaml)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def pyctl_calico_resources(cluster_vars: Mapping[str, Any], install_method: str = "operator",
                           nat_outgoing: bool = True, node_selector: str = "all()") -> list[dict[str, Any]]:
    return calico.render_resources(_plain(cluster_vars), install_method=str(install_method),
                                   nat_outgoing=bool(nat_outgoing), node_selector=str(node_selector))


def pyctl_calico_validate(resources: Sequence[Mapping[str, Any]], crd_dir: str = "") -> list[str]:
    return calico.validate(_plain(resources), str(crd_dir) or None)


def pyctl_calico_block_size_problems(deployed: Sequence[Mapping[str, Any]],
                                     wanted: Sequence[Mapping[str, Any]]) -> list[str]:
    return calico.block_size_change_problems(_plain(deployed), _plain(wanted))


def pyctl_calico_lab_overlay_addresses(hosts: Sequence[str], pool_cidr: str, block_size: int) -> dict[str, str]:
    return calico.lab_overlay_addresses([str(h) for h in hosts], str(pool_cidr), int(block_size))


def pyctl_calico_probe_peers(hosts: Sequence[str], host: str,
                             full_mesh_max: int = mtu.FULL_MESH_MAX_HOSTS) -> list[str]:
    return mtu.probe_peers([str(h) for h in hosts], str(host), int(full_mesh_max))


FILTERS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (pyctl_calico_resources, pyctl_calico_validate, pyctl_calico_block_size_problems,
              pyctl_calico_lab_overlay_addresses, pyctl_calico_probe_peers)
}


class FilterModule:
    """pyctl.plan.calico as Jinja2 filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {name: as_filter(f) for name, f in FILTERS.items()}
