"""The one phase table: rollout order, playbooks, batching, which phases must finish before a phase
starts, and which role (what drift and the records cover) each phase converges. `pyctl rollout`, `pyctl
drift` and `pyctl reapply` read it.

The order is a graph, not a line: a phase starts when every phase it comes ``after`` (and what those
come after) has finished, so phases on hosts of their own run side by side. preflight checks every host
first; the GPU workers' driver stack and the management hosts' etcd → control plane then go together
(no NetBox role is in both groups, and neither needs the other); Calico applies its resources to the
control plane's API and runs on the GPU workers, so it waits for both; smoke checks the finished whole.
The table's order is one order the graph allows, the one ``playbooks/site.yml`` runs in.

Each phase that converges a role names its health gate: the smoke checks (:mod:`pyctl.smoke.checks`, by
name) that must pass on a batch's hosts before the phase's next batch, or a later phase, starts; the etcd
gate checks every member of the batch's clusters, since a change to one member shows in its peers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Phase:
    name: str
    playbook: str | None  # None: not a playbook (smoke runs pyctl's checks)
    hosts: str  # an inventory group
    one_batch: bool = False  # every host of the phase in one batch
    role: str | None = None  # the role that converges the hosts: its state is recorded, drift checks it
    after: tuple[str, ...] = ()  # the phases that finish before this one starts
    gate: tuple[str, ...] = ()  # the smoke checks that pass on a batch's hosts before the next batch starts
    gate_hosts: str | None = None  # an inventory group the gate checks instead (within the batch's clusters)


GPU_GATE = ("gpu-count", "gpu-model", "gpu-driver", "gpu-persistence", "gpu-ecc", "gpu-mig", "fabric-manager")
# etcd-disk included: a member on a disk over the limits (RULES.md) gates, it does not only report.
ETCD_GATE = ("etcd-health", "etcd-leader", "etcd-members", "etcd-db-size", "etcd-disk", "cert-expiry")

PHASES: tuple[Phase, ...] = (
    Phase("preflight", "preflight.yml", "all"),
    Phase("gpu", "gpu.yml", "role_gpu_worker", role="gpu_driver", after=("preflight",), gate=GPU_GATE),
    # One batch: the role changes one member at a time itself (rolling restarts behind a health gate).
    Phase("etcd", "etcd.yml", "role_etcd", one_batch=True, role="etcd", after=("preflight",), gate=ETCD_GATE,
          gate_hosts="role_etcd"),
    Phase("control_plane", "control_plane.yml", "role_control_plane", role="control_plane", after=("etcd",),
          gate=("apiserver-readyz", "cert-expiry")),
    Phase("calico", "calico.yml", "role_gpu_worker", role="calico", after=("gpu", "control_plane"),
          gate=("nic-mtu", "path-mtu")),
    Phase("smoke", None, "all", one_batch=True, after=("calico",)),
)
ROLE_PHASES: tuple[Phase, ...] = tuple(p for p in PHASES if p.role)
BY_NAME = {p.name: p for p in PHASES}
# The playbooks drift runs in check mode: (phase, playbook), as a rollout runs them.
DRIFT_PLAYBOOKS = tuple((p.name, str(p.playbook)) for p in ROLE_PHASES)
# The role a changed task belongs to -> the rollout phase (and playbook) that owns it.
ROLE_PHASE = {str(p.role): p.name for p in ROLE_PHASES}


def _before(name: str) -> frozenset[str]:
    """Every phase that finishes before ``name`` starts: its ``after`` phases and theirs."""
    out: set[str] = set()
    todo = list(BY_NAME[name].after)
    while todo:
        first = todo.pop()
        if first not in out:
            out.add(first)
            todo.extend(BY_NAME[first].after)
    return frozenset(out)


# Phase -> every phase that finishes before it starts (so `--phase etcd --phase calico` still waits).
BEFORE: dict[str, frozenset[str]] = {p.name: _before(p.name) for p in PHASES}


class Groups(Protocol):
    """What the table is applied to: a site's inventory groups."""

    def group_hosts(self, group: str) -> list[str]: ...


def roles_of(site: Groups, hosts: Iterable[str]) -> dict[str, list[str]]:
    """The roles (phase order) that manage each of ``hosts``."""
    groups = {p.role: set(site.group_hosts(p.hosts)) for p in ROLE_PHASES}
    return {h: [str(p.role) for p in ROLE_PHASES if h in groups[p.role]] for h in hosts}
