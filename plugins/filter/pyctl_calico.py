"""Ansible filters over pyctl.plan.calico: the Calico resources pyctl renders and validates, for the calico role.

Each filter's DOCUMENTATION / EXAMPLES / RETURN is in plugins/filter/<filter name>.yml, which
ansible-doc -t filter <filter name> shows. Bad input raises AnsibleFilterError with pyctl's message.
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
                           nat_outgoing: bool = True, node_selector: str = "all()",
                           node_interfaces: Sequence[str] = ()) -> list[dict[str, Any]]:
    return calico.render_resources(_plain(cluster_vars), install_method=str(install_method),
                                   nat_outgoing=bool(nat_outgoing), node_selector=str(node_selector),
                                   node_interfaces=[str(n) for n in node_interfaces])


def pyctl_calico_validate(resources: Sequence[Mapping[str, Any]], crd_dir: str = "") -> list[str]:
    return calico.validate(_plain(resources), str(crd_dir) or None)


def pyctl_calico_block_size_problems(deployed: Sequence[Mapping[str, Any]],
                                     wanted: Sequence[Mapping[str, Any]]) -> list[str]:
    return calico.block_size_change_problems(_plain(deployed), _plain(wanted))


def pyctl_calico_probe_peers(hosts: Sequence[str], host: str,
                             full_mesh_max: int = mtu.FULL_MESH_MAX_HOSTS) -> list[str]:
    return mtu.probe_peers([str(h) for h in hosts], str(host), int(full_mesh_max))


FILTERS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (pyctl_calico_resources, pyctl_calico_validate, pyctl_calico_block_size_problems,
              pyctl_calico_probe_peers)
}


class FilterModule:
    """pyctl.plan.calico as Jinja2 filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {name: as_filter(f) for name, f in FILTERS.items()}
