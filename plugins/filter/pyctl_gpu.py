"""Ansible filters over pyctl.gpu: the MIG rules pyctl's inventory validation runs, for the gpu_driver role.

Each filter's DOCUMENTATION / EXAMPLES / RETURN is in plugins/filter/<filter name>.yml, which
ansible-doc -t filter <filter name> shows. Bad input raises AnsibleFilterError with the rule's message.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

try:
    from pyctl import gpu
    from pyctl.ansible_filters import as_filter
except ImportError:  # run from a checkout without pyctl installed: the package sits two levels up
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from pyctl import gpu
    from pyctl.ansible_filters import as_filter


def pyctl_mig_layout_problems(model: str, layout: Mapping[str, int] | None = None) -> list[str]:
    if layout is not None and not isinstance(layout, Mapping):
        return [f"MIG layout must map MIG profiles to counts, e.g. {{\"1g.10gb\": 7}}; got {layout!r}"]
    return gpu.mig_layout_problems(str(model), dict(layout or {}))


def pyctl_mig_parted_config(layout: Mapping[str, int] | None, name: str = "pyctl") -> dict[str, Any]:
    entry: dict[str, Any] = {"devices": "all", "mig-enabled": bool(layout)}
    if layout:
        entry["mig-devices"] = {str(profile): int(count) for profile, count in layout.items()}
    configs: dict[str, Any] = {name: [entry]}
    if name != "all-disabled":
        configs["all-disabled"] = [{"devices": "all", "mig-enabled": False}]
    return {"version": "v1", "mig-configs": configs}


def pyctl_apt_packages(index: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for stanza in str(index).split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines()
                      if ": " in line and not line.startswith((" ", "\t")))
        if "Package" in fields and "Version" in fields:
            found.setdefault(fields["Package"], []).append(fields["Version"])
    return found


FILTERS: dict[str, Callable[..., Any]] = {
    f.__name__: f for f in (pyctl_mig_layout_problems, pyctl_mig_parted_config, pyctl_apt_packages)
}


class FilterModule:
    """pyctl GPU rules as Jinja2 filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {name: as_filter(f) for name, f in FILTERS.items()}
