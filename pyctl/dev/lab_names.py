"""Which lab host is whose: a lab's name picks its host names, its block of addresses and MACs on the lab
networks, and the label value that marks its containers. Pure (no podman): :mod:`pyctl.dev.lab` uses it.

Two labs live side by side on one machine without adopting or removing each other's hosts: the demo's
``lab`` (`make demo`, `pyctl dev lab up 6`: ``pyctl-lab-01``…) and a test session's ``test``
(tests/integration/lab/conftest.py sets ``PYCTL_LAB_NAME=test``: ``pyctl-test-01``…). They share the two
podman networks, each in a block of addresses of its own: the hosts reach the lab's artifact mirror at the
networks' gateway, the address the site policy names (inventories/lab/group_vars/all/mirror.yml), so every
lab's hosts must be on the network whose gateway that is. Each container also carries the checkout that
made it: a lab of the same name made by another checkout is refused, never taken over.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pyctl.errors import ExitCode, PyctlError

NAME_ENV = "PYCTL_LAB_NAME"
DEFAULT_NAME = "lab"
LABEL = "io.pyctl.lab"  # on a host: the lab's name; on the shared networks: "1"
OWNER_LABEL = f"{LABEL}.owner"  # the checkout (repository root) whose `up` made the host

# Private ranges that exist only on this machine, as podman bridges the lab creates and removes itself.
SUBNET = ipaddress.IPv4Network("172.31.213.0/24")  # eth0: SSH, Ansible, the mirror (NetBox's primary IP)
POD_SUBNET = ipaddress.IPv4Network("172.31.214.0/24")  # eth1: pod traffic (NetBox's pod-traffic interface)
GATEWAY = SUBNET[1]

# Each lab's block of last octets, the same on both networks; a host's MACs end in its octet. The demo keeps
# the addresses it always had (pyctl-lab-01 is .11); blocks never overlap (tests/unit/test_lab_names.py).
BLOCKS: dict[str, tuple[int, int]] = {"lab": (11, 120), "test": (131, 120)}  # name: (first octet, hosts)
_NAME = re.compile(r"[a-z][a-z0-9]{0,11}")


class LabNameError(PyctlError):
    """A lab name this machine's lab networks have no block of addresses for, or a host index outside it."""

    exit_code = ExitCode.BAD_CONFIG


@dataclass(frozen=True)
class LabHost:
    name: str
    ip: str  # eth0 on the lab network: SSH, Ansible, the mirror (the primary IP in NetBox)
    mac: str
    state: str = "unknown"
    pod_ip: str = ""  # eth1 on the pod network: pod traffic (NetBox's pod-traffic interface)
    pod_mac: str = ""


@dataclass(frozen=True)
class Lab:
    name: str
    first_octet: int
    max_hosts: int

    @property
    def host_prefix(self) -> str:
        return f"pyctl-{self.name}-"

    def host(self, index: int) -> LabHost:
        """Name, IPs and MACs of this lab's host ``index`` (1-based); fixed, so a re-created host keeps them."""
        if not 1 <= index <= self.max_hosts:
            raise LabNameError(f"lab {self.name!r}: host index {index} out of range 1..{self.max_hosts}")
        octet = self.first_octet + index - 1
        # 02: locally administered, never a vendor's; the last byte equals the IP's last octet.
        return LabHost(name=f"{self.host_prefix}{index:02d}", ip=str(SUBNET[octet]), mac=f"02:00:ac:1f:d5:{octet:02x}",
                       pod_ip=str(POD_SUBNET[octet]), pod_mac=f"02:00:ac:1f:d6:{octet:02x}")

    def index_of(self, host_name: str) -> int | None:
        """The index of this lab's host ``host_name``; None for any other name."""
        suffix = host_name.removeprefix(self.host_prefix)
        if suffix == host_name or not suffix.isdigit() or len(suffix) < 2:
            return None
        index = int(suffix)
        return index if 1 <= index <= self.max_hosts and self.host(index).name == host_name else None

    def labels(self, owner: str) -> dict[str, str]:
        """The labels this lab's hosts carry (with the host's image and network generation beside them)."""
        return {LABEL: self.name, OWNER_LABEL: owner}


def lab(name: str | None = None, env: Mapping[str, str] | None = None) -> Lab:
    """The lab called ``name``, else ``$PYCTL_LAB_NAME``, else the demo's ``lab``."""
    chosen = name or (env or {}).get(NAME_ENV) or DEFAULT_NAME
    if not _NAME.fullmatch(chosen) or chosen not in BLOCKS:
        raise LabNameError(f"unknown lab name {chosen!r} ({NAME_ENV}): one of {', '.join(sorted(BLOCKS))} "
                           "(each has its own block of addresses on the lab networks: pyctl.dev.lab_names.BLOCKS)")
    first, size = BLOCKS[chosen]
    return Lab(chosen, first, size)


@dataclass(frozen=True)
class Sorted:
    """A lab's view of the lab containers on this machine."""

    ours: list[dict[str, Any]]  # this lab's, made by this checkout
    foreign: list[dict[str, Any]]  # named as this lab's hosts, but another lab's or checkout's (or unlabelled)


def sort_containers(containers: Iterable[Mapping[str, Any]], which: Lab, owner: str) -> Sorted:
    """Split ``podman ps -a --format json`` entries: this lab's own hosts, and those that only look like them.
    Every other container (another lab's hosts, Molecule's instances) is in neither list: left alone."""
    ours: list[dict[str, Any]] = []
    foreign: list[dict[str, Any]] = []
    for container in containers:
        name = str(container["Names"][0])
        labels = container.get("Labels") or {}
        if labels.get(LABEL) == which.name and labels.get(OWNER_LABEL) == owner:
            ours.append(dict(container))
        elif which.index_of(name) is not None:
            foreign.append(dict(container))
    return Sorted(ours, foreign)


def describe_foreign(containers: Iterable[Mapping[str, Any]], which: Lab, owner: str) -> str:
    """Why ``up`` refuses: whose the hosts with this lab's names are, and how to free the names."""
    parts = []
    for container in containers:
        labels = container.get("Labels") or {}
        lab_label, made_by = labels.get(LABEL), labels.get(OWNER_LABEL)
        if lab_label is None:
            whose = "not a lab host"
        elif made_by is None:
            whose = f"lab label {lab_label!r}, no owner (made by an older pyctl)"
        else:
            whose = f"lab {lab_label!r} of {made_by}" if made_by != owner else f"lab {lab_label!r} of this checkout"
        parts.append(f"{container['Names'][0]} ({whose})")
    names = " ".join(str(c["Names"][0]) for c in containers)
    return (f"lab {which.name!r}: host name(s) taken by containers this checkout's lab did not make: "
            f"{'; '.join(parts)}. Remove them where they were made (`pyctl dev lab down` there), or with "
            f"`podman rm -f {names}`; or pick another lab ({NAME_ENV}).")
