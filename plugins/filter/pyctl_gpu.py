"""Ansible filters over pyctl.gpu: the MIG rules pyctl's inventory validation runs, for the gpu_driver role.

Each filter has its own DOCUMENTATION / EXAMPLES / RETURN in ``FILTER_DOCS``; the module-level
strings describe the file. Bad input raises AnsibleFilterError with the rule's message.
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

DOCUMENTATION = r"""
name: pyctl_gpu
short_description: pyctl GPU rules as filters (MIG layout validation, mig-parted config, apt index)
version_added: "0.1.0"
author: pyctl maintainers
description:
  - Exposes C(pyctl.gpu) as Jinja2 filters, so the gpu_driver role refuses exactly the MIG layouts
    C(pyctl inventory) refuses. Each filter is documented in C(FILTER_DOCS) of this file.
requirements:
  - the pyctl Python package (importable, or this file inside a pyctl checkout)
"""

EXAMPLES = r"""
- name: A layout that does not fit an H100
  ansible.builtin.debug:
    msg: "{{ 'H100-80GB' | pyctl_mig_layout_problems({'3g.40gb': 3}) }}"
"""

RETURN = r"""
_value:
  description: Depends on the filter; see FILTER_DOCS.
  type: raw
"""

FILTER_DOCS: dict[str, dict[str, str]] = {
    "pyctl_mig_layout_problems": {
        "DOCUMENTATION": r"""
name: pyctl_mig_layout_problems
short_description: why a MIG layout does not fit one GPU of a model
description:
  - The rules of C(pyctl.gpu.mig_layout_problems) (NVIDIA MIG user guide, supported profiles) - an
    unknown model, a profile the model lacks, more instances of a profile than one GPU holds, more
    than 7 compute slices or 8 memory slices. An empty or null layout (MIG off) only checks the model.
positional: _input, layout
options:
  _input:
    description: GPU model as NetBox names it (H100-80GB, A100-80GB, H200-141GB, A100-40GB).
    type: str
    required: true
  layout:
    description: MIG profile to instances per GPU; null or empty for MIG off.
    type: dict
""",
        "EXAMPLES": r"""
- ansible.builtin.assert:
    that: "('H100-80GB' | pyctl_mig_layout_problems({'1g.10gb': 7})) == []"
""",
        "RETURN": r"""
_value:
  description: One message per problem; empty when the layout fits.
  type: list
  elements: str
""",
    },
    "pyctl_mig_parted_config": {
        "DOCUMENTATION": r"""
name: pyctl_mig_parted_config
short_description: a MIG layout in the nvidia-mig-parted config format
description:
  - "C(version: v1), C(mig-configs) with the layout under I(name) for all devices, and C(all-disabled)
    (mig-parted's own name for MIG off) to fall back to. A null or empty layout makes I(name) MIG off."
positional: _input, name
options:
  _input:
    description: MIG profile to instances per GPU; null or empty for MIG off.
    type: dict
    required: true
  name:
    description: Name of the mig-config holding the layout.
    type: str
    default: pyctl
""",
        "EXAMPLES": r"""
- ansible.builtin.copy:
    content: "{{ {'1g.10gb': 7} | pyctl_mig_parted_config('pyctl') | to_nice_yaml(indent=2) }}"
    dest: /etc/nvidia-mig-manager/pyctl.yaml
""",
        "RETURN": r"""
_value:
  description: The mig-parted configuration document.
  type: dict
""",
    },
    "pyctl_apt_packages": {
        "DOCUMENTATION": r"""
name: pyctl_apt_packages
short_description: package names and versions from an apt Packages index
description:
  - Reads the stanzas of a Packages file (as served by a flat or dists/ apt repository) into package
    name to the list of versions the repository offers.
positional: _input
options:
  _input:
    description: Content of a Packages file.
    type: str
    required: true
""",
        "EXAMPLES": r"""
- ansible.builtin.debug:
    msg: "{{ (lookup('ansible.builtin.url', mirror ~ '/Packages', split_lines=false) | pyctl_apt_packages).keys() }}"
""",
        "RETURN": r"""
_value:
  description: Package name to its versions, in index order.
  type: dict
""",
    },
}


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
