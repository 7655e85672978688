"""The typed inventory of one data center, built from NetBox records and validated.

Pure: :func:`build` takes the records :mod:`pyctl.netbox` read and returns an :class:`Inventory`
or raises :class:`~pyctl.errors.InventoryError` listing *every* problem found, each naming the
NetBox object it is about. Nothing is guessed: a missing value is a problem, not a default.
"""

from __future__ import annotations

import ipaddress
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pyctl.errors import InventoryError
from pyctl.gpu import GPU_MODELS, mig_layout_problems

# Custom fields on dcim.device that pyctl reads (created by `pyctl dev netbox seed`; document them
# for a production NetBox in README "NetBox data model").
DEVICE_CUSTOM_FIELDS = ("cluster", "gpu_model", "gpu_count", "nvswitch", "mig_layout")

ROLE_GPU_WORKER = "gpu-worker"
ROLE_CONTROL_PLANE = "control-plane"
ROLE_ETCD = "etcd"
ROLE_MGMT = "mgmt"
ROLES = (ROLE_GPU_WORKER, ROLE_CONTROL_PLANE, ROLE_ETCD, ROLE_MGMT)
MANAGEMENT_ROLES = frozenset({ROLE_CONTROL_PLANE, ROLE_ETCD, ROLE_MGMT})

# The interface that carries pod traffic (the overlay's underlay) carries this tag in NetBox.
POD_TRAFFIC_TAG = "pod-traffic"

# etcd clusters of 3 or 5 members, 7 at most (etcd FAQ, "What is maximum cluster size?").
ETCD_MAX_MEMBERS = 7


# --- records as read from NetBox (pyctl.netbox fills these; tests build them by hand) ----------

@dataclass(frozen=True)
class InterfaceRecord:
    name: str
    mtu: int | None


@dataclass(frozen=True)
class DeviceRecord:
    name: str
    role: str
    device_type: str
    rack: str | None
    platform: str | None
    status: str
    primary_ip4: str | None  # "10.2.0.11/24"
    custom_fields: Mapping[str, Any]
    pod_interfaces: tuple[InterfaceRecord, ...]


@dataclass(frozen=True)
class PrefixRecord:
    prefix: str
    role: str | None
    vrf: str | None
    cluster: str | None
    status: str
    site: str | None


@dataclass(frozen=True)
class SiteRecords:
    site: str
    devices: tuple[DeviceRecord, ...]
    prefixes: tuple[PrefixRecord, ...]
    device_custom_fields: frozenset[str]  # custom fields NetBox defines on dcim.device


# --- the model ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Gpu:
    model: str
    count: int
    nvswitch: bool
    mig_layout: Mapping[str, int] | None  # profile -> instances per GPU; None: MIG off


@dataclass(frozen=True)
class Host:
    name: str
    site: str
    rack: str | None
    role: str
    cluster: str
    address: str  # the primary IPv4 address, without prefix length
    address_cidr: str  # the same with its prefix length, as NetBox holds it
    underlay_nic: str
    underlay_mtu: int
    platform: str | None
    status: str
    device_type: str
    gpu: Gpu | None = None


@dataclass(frozen=True)
class Cluster:
    name: str
    kind: str  # "workload" (GPU workers) or "management" (hosted control planes and their etcd)
    hosts: tuple[Host, ...]

    def members(self, role: str) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.role == role)


@dataclass(frozen=True)
class Prefix:
    prefix: str
    role: str | None
    vrf: str | None
    cluster: str | None
    status: str
    site: str | None = None  # the site the prefix is scoped to; None: global


@dataclass(frozen=True)
class Inventory:
    site: str
    clusters: tuple[Cluster, ...]
    # Every prefix NetBox holds, of all sites: overlap rules span a whole VRF (routing domain).
    prefixes: tuple[Prefix, ...] = field(default=())
    findings: tuple[str, ...] = field(default=())  # see build(mtu_mismatch="finding")

    def site_prefixes(self) -> tuple[Prefix, ...]:
        return tuple(p for p in self.prefixes if p.site == self.site)

    @property
    def hosts(self) -> tuple[Host, ...]:
        return tuple(h for c in self.clusters for h in c.hosts)

    def cluster(self, name: str) -> Cluster:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "clusters": [
                {"name": c.name, "kind": c.kind, "hosts": [asdict(h) for h in c.hosts]} for c in self.clusters
            ],
            "prefixes": [asdict(p) for p in self.prefixes],
        }


# --- building and validating -------------------------------------------------------------------

def _mig_layout(raw: Any, where: str, problems: list[str]) -> Mapping[str, int] | None:
    if raw in (None, "", {}):
        return None
    layout = raw
    if isinstance(raw, str):
        try:
            layout = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: mig_layout is not JSON ({exc.msg}): {raw!r}")
            return None
    if not isinstance(layout, dict) or not all(isinstance(k, str) for k in layout):
        problems.append(f"{where}: mig_layout must map MIG profiles to counts, e.g. {{\"1g.10gb\": 7}}; got {raw!r}")
        return None
    return layout


def _gpu(rec: DeviceRecord, where: str, problems: list[str]) -> Gpu | None:
    cf = rec.custom_fields
    model = cf.get("gpu_model")
    count = cf.get("gpu_count")
    before = len(problems)
    if not model:
        problems.append(f"{where}: custom field gpu_model is empty (a {ROLE_GPU_WORKER} must name its GPU model)")
    elif model not in GPU_MODELS:
        problems.append(f"{where}: unknown GPU model {model!r} (known: {', '.join(sorted(GPU_MODELS))})")
    if count in (None, ""):
        problems.append(f"{where}: custom field gpu_count is empty")
    elif isinstance(count, bool) or not isinstance(count, int) or count < 1:
        problems.append(f"{where}: gpu_count must be a positive integer, got {count!r}")
    layout = _mig_layout(cf.get("mig_layout"), where, problems)
    if layout is not None and model in GPU_MODELS:
        problems.extend(f"{where}: MIG layout {json.dumps(layout)}: {p}" for p in mig_layout_problems(model, layout))
    nvswitch = bool(cf.get("nvswitch"))
    if nvswitch and model in GPU_MODELS and not GPU_MODELS[model].nvswitch_capable:
        problems.append(f"{where}: nvswitch is set but {model} boards have no NVSwitch")
    if len(problems) > before:
        return None
    assert isinstance(model, str)
    assert isinstance(count, int)
    return Gpu(model=model, count=count, nvswitch=nvswitch, mig_layout=layout)


def build(records: SiteRecords, *, mtu_mismatch: str = "problem") -> Inventory:
    """The validated inventory of ``records.site``; raises InventoryError naming every problem.

    ``mtu_mismatch="finding"`` keeps hosts whose pod-traffic NIC MTU differs from their cluster
    peers and records the mismatch in ``Inventory.findings`` instead: the plan must see every
    node to compute the cluster's underlay MTU and to name the odd ones out next to its own rules.
    """
    problems: list[str] = []
    findings: list[str] = []
    missing_cf = [n for n in DEVICE_CUSTOM_FIELDS if n not in records.device_custom_fields]
    if missing_cf:
        problems.append(f"NetBox has no custom field {', '.join(missing_cf)} on dcim.device "
                        "(pyctl reads: " + ", ".join(DEVICE_CUSTOM_FIELDS) + ")")

    hosts: list[Host] = []
    seen_address: dict[str, str] = {}
    for rec in sorted(records.devices, key=lambda d: d.name):
        where = f"device {rec.name}"
        before = len(problems)
        if rec.role not in ROLES:
            problems.append(f"{where}: role {rec.role!r} is not one pyctl manages ({', '.join(ROLES)})")
        cluster = rec.custom_fields.get("cluster")
        if not cluster:
            problems.append(f"{where}: in no cluster (custom field cluster is empty)")
        address = address_cidr = ""
        if not rec.primary_ip4:
            problems.append(f"{where}: has no primary IPv4 address")
        else:
            address_cidr = rec.primary_ip4
            address = str(ipaddress.ip_interface(address_cidr).ip)
            if address in seen_address:
                problems.append(f"{where}: primary address {address} is also the primary address of "
                                f"device {seen_address[address]}")
            else:
                seen_address[address] = rec.name
        nic: InterfaceRecord | None = None
        if not rec.pod_interfaces:
            problems.append(f"{where}: no interface tagged {POD_TRAFFIC_TAG!r} (the NIC that carries pod traffic)")
        elif len(rec.pod_interfaces) > 1:
            names = ", ".join(i.name for i in rec.pod_interfaces)
            problems.append(f"{where}: {len(rec.pod_interfaces)} interfaces tagged {POD_TRAFFIC_TAG!r} ({names}); "
                            "exactly one carries pod traffic")
        else:
            nic = rec.pod_interfaces[0]
            if nic.mtu is None:
                problems.append(f"{where}: interface {nic.name} has no MTU in NetBox")
        gpu = _gpu(rec, where, problems) if rec.role == ROLE_GPU_WORKER else None
        if len(problems) > before:
            continue
        assert nic is not None
        assert nic.mtu is not None
        assert isinstance(cluster, str)
        hosts.append(Host(
            name=rec.name, site=records.site, rack=rec.rack, role=rec.role, cluster=cluster, address=address,
            address_cidr=address_cidr, underlay_nic=nic.name, underlay_mtu=nic.mtu, platform=rec.platform,
            status=rec.status, device_type=rec.device_type, gpu=gpu,
        ))

    by_cluster: dict[str, list[Host]] = defaultdict(list)
    for h in hosts:
        by_cluster[h.cluster].append(h)
    clusters = []
    for name in sorted(by_cluster):
        members = by_cluster[name]
        clusters.append(Cluster(name=name, kind=_kind(members), hosts=tuple(members)))
        problems.extend(_cluster_problems(name, members))
        mismatch = _mtu_mismatch(name, members)
        if mismatch:
            (findings if mtu_mismatch == "finding" else problems).append(mismatch)

    if problems:
        raise InventoryError(f"the inventory of {records.site} has {len(problems)} problem(s)", problems=problems)
    prefixes = tuple(Prefix(p.prefix, p.role, p.vrf, p.cluster, p.status, p.site) for p in records.prefixes)
    return Inventory(site=records.site, clusters=tuple(clusters), prefixes=prefixes, findings=tuple(findings))


def _kind(members: Iterable[Host]) -> str:
    return "workload" if any(h.role == ROLE_GPU_WORKER for h in members) else "management"


def _cluster_problems(name: str, members: list[Host]) -> list[str]:
    problems: list[str] = []
    roles = {h.role for h in members}
    if ROLE_GPU_WORKER in roles and roles & MANAGEMENT_ROLES:
        mixed = sorted(h.name for h in members if h.role in MANAGEMENT_ROLES)
        problems.append(f"cluster {name}: mixes {ROLE_GPU_WORKER} hosts with management hosts ({', '.join(mixed)}); "
                        "hosted control planes run apart from the workers")
    etcd = [h.name for h in members if h.role == ROLE_ETCD]
    if etcd and len(etcd) % 2 == 0:
        problems.append(f"cluster {name}: {len(etcd)} etcd members ({', '.join(etcd)}); an even count adds no "
                        "fault tolerance — use 3 or 5")
    elif len(etcd) > ETCD_MAX_MEMBERS:
        problems.append(f"cluster {name}: {len(etcd)} etcd members; at most {ETCD_MAX_MEMBERS}")
    return problems


def _mtu_mismatch(name: str, members: list[Host]) -> str | None:
    mtus: dict[int, list[str]] = defaultdict(list)
    for h in members:
        mtus[h.underlay_mtu].append(h.name)
    if len(mtus) < 2:
        return None
    # Name the odd ones out against the MTU most hosts have.
    common = max(mtus, key=lambda m: (len(mtus[m]), m))
    odd = ", ".join(f"{h.name} ({h.underlay_nic}) has {h.underlay_mtu}" for h in members if h.underlay_mtu != common)
    return f"cluster {name}: pod-traffic NIC MTUs differ: {len(mtus[common])} hosts have MTU {common}, but {odd}"


def ansible_inventory(inv: Inventory) -> dict[str, Any]:
    """The inventory as ``ansible-inventory --list`` prints it: groups by site, role and cluster."""
    groups: dict[str, set[str]] = defaultdict(set)
    hostvars: dict[str, dict[str, Any]] = {}
    for c in inv.clusters:
        for h in c.hosts:
            groups[group_name("site", h.site)].add(h.name)
            groups[group_name("role", h.role)].add(h.name)
            groups[group_name("cluster", h.cluster)].add(h.name)
            hostvars[h.name] = host_vars(h, c)
    out: dict[str, Any] = {"_meta": {"hostvars": dict(sorted(hostvars.items()))}}
    out["all"] = {"children": ["ungrouped", *sorted(groups)]}
    for g in sorted(groups):
        out[g] = {"hosts": sorted(groups[g])}
    return out


def group_name(kind: str, value: str) -> str:
    return f"{kind}_{value}".replace("-", "_").replace(".", "_")


def host_vars(h: Host, cluster: Cluster) -> dict[str, Any]:
    gpu = h.gpu
    return {
        "ansible_host": h.address,
        "pyctl_site": h.site,
        "pyctl_rack": h.rack,
        "pyctl_role": h.role,
        "pyctl_cluster": h.cluster,
        "pyctl_cluster_kind": cluster.kind,
        "pyctl_address_cidr": h.address_cidr,
        "pyctl_underlay_nic": h.underlay_nic,
        "pyctl_underlay_mtu": h.underlay_mtu,
        "pyctl_platform": h.platform,
        "pyctl_device_type": h.device_type,
        "pyctl_gpu_model": gpu.model if gpu else None,
        "pyctl_gpu_count": gpu.count if gpu else 0,
        "pyctl_nvswitch": gpu.nvswitch if gpu else False,
        "pyctl_mig_layout": dict(gpu.mig_layout) if gpu and gpu.mig_layout else None,
    }
