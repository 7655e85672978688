"""The typed inventory of one data center, built from NetBox records and validated.

Pure: :func:`build` takes the records :mod:`pyctl.netbox` read and returns an :class:`Inventory`
or raises :class:`~pyctl.errors.InventoryError` listing *every* problem found, each naming the
NetBox object it is about. Nothing is guessed: a missing value is a problem, not a default.
"""

from __future__ import annotations

import ipaddress
import json
import re
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

# NetBox device status (dcim DeviceStatusChoices) decides what pyctl touches (DESIGN.md, "Contracts").
STATUS_ACTIVE = "active"
BRING_UP_STATUSES = frozenset({"planned", "staged"})  # only with include_planned (`--include-planned`)
NEVER_STATUSES = frozenset({"offline", "failed", "decommissioning", "inventory"})
# An etcd member NetBox marks one of these was deployed and is still a member of its etcd cluster until
# an operator removes it (`etcdctl member remove`): it counts for quorum, and is named as down.
ETCD_DOWN_STATUSES = frozenset({"offline", "failed", "decommissioning"})

# A host name Ansible, DNS and Kubernetes (node names: RFC 1123 subdomains, lower case) all accept.
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
# The device type custom field that records how many GPUs the hardware holds (README, "NetBox data model").
GPU_CAPACITY_FIELD = "gpu_capacity"
LAG_TYPE = "lag"


# --- records as read from NetBox (pyctl.netbox fills these; tests build them by hand) ----------

@dataclass(frozen=True)
class InterfaceRecord:
    name: str
    mtu: int | None
    type: str = ""  # NetBox interface type: "lag" for a bond, "virtual" for a VLAN sub-interface, …
    addresses: tuple[str, ...] = ()  # IP addresses assigned to it, "10.2.0.11/24"
    members: tuple[InterfaceRecord, ...] = ()  # a bond's members (NetBox ``lag`` set on each)
    parent: InterfaceRecord | None = None  # a VLAN sub-interface's parent


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
    primary_ip6: str | None = None  # "2001:db8::11/64"
    id: int = 0  # NetBox's primary key: names an unnamed device
    gpu_capacity: int | None = None  # the device type's custom field gpu_capacity; None: not recorded


@dataclass(frozen=True)
class PrefixRecord:
    prefix: str
    role: str | None
    vrf: str | None
    cluster: str | None
    status: str
    site: str | None  # the site it belongs to (scoped to it, its location, or a region/group above it)
    scope: str | None = None  # how it is scoped when not to a site itself: "region emea", "location hall-a of dc2"


@dataclass(frozen=True)
class SiteRecords:
    site: str
    devices: tuple[DeviceRecord, ...]
    prefixes: tuple[PrefixRecord, ...]
    device_custom_fields: frozenset[str]  # custom fields NetBox defines on dcim.device
    device_type_custom_fields: frozenset[str] = frozenset()  # … and on dcim.devicetype


def records_to_dict(records: SiteRecords) -> dict[str, Any]:
    """The records as plain JSON (a bundle's NetBox snapshot); :func:`records_from_dict` reads them back."""
    doc = asdict(records)
    doc["device_custom_fields"] = sorted(records.device_custom_fields)
    doc["device_type_custom_fields"] = sorted(records.device_type_custom_fields)
    return doc


def _interface(doc: Mapping[str, Any]) -> InterfaceRecord:
    return InterfaceRecord(name=doc["name"], mtu=doc.get("mtu"), type=doc.get("type", ""),
                           addresses=tuple(doc.get("addresses", ())),
                           members=tuple(_interface(m) for m in doc.get("members", ())),
                           parent=_interface(doc["parent"]) if doc.get("parent") else None)


def records_from_dict(doc: Mapping[str, Any]) -> SiteRecords:
    """:func:`records_to_dict`'s output as the records NetBox gave (KeyError/TypeError on another shape)."""
    devices = tuple(DeviceRecord(**{**d, "custom_fields": dict(d["custom_fields"]),
                                    "pod_interfaces": tuple(_interface(i) for i in d["pod_interfaces"])})
                    for d in doc["devices"])
    return SiteRecords(site=doc["site"], devices=devices, prefixes=tuple(PrefixRecord(**p) for p in doc["prefixes"]),
                       device_custom_fields=frozenset(doc["device_custom_fields"]),
                       device_type_custom_fields=frozenset(doc.get("device_type_custom_fields", ())))


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
    address: str  # where Ansible and SSH reach it: the primary IPv4 address, else the primary IPv6
    address_cidr: str  # the same with its prefix length, as NetBox holds it
    underlay_nic: str
    underlay_mtu: int
    platform: str | None
    status: str
    device_type: str
    gpu: Gpu | None = None
    primary_ip4: str | None = None  # as NetBox holds them, with prefix length
    primary_ip6: str | None = None
    pod_address: str = ""  # the address of the pod-traffic interface (IPv4 first): the overlay's underlay
    pod_address_cidr: str = ""
    pod_addresses: tuple[str, ...] = ()  # every address of the pod-traffic interface, with prefix length
    underlay_type: str = ""  # NetBox interface type of the pod-traffic interface

    @property
    def ip_families(self) -> tuple[str, ...]:
        """The IP families the host's pod-traffic interface carries ("ipv4", "ipv6")."""
        versions = {ipaddress.ip_interface(a).version for a in self.pod_addresses}
        return tuple(f for f, v in (("ipv4", 4), ("ipv6", 6)) if v in versions)


@dataclass(frozen=True)
class Cluster:
    name: str
    kind: str  # "workload" (GPU workers) or "management" (hosted control planes and their etcd)
    hosts: tuple[Host, ...]
    # etcd members NetBox marks offline, failed or decommissioning: not touched, still members (quorum).
    down_etcd: tuple[str, ...] = ()

    def members(self, role: str) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.role == role)


@dataclass(frozen=True)
class Prefix:
    prefix: str
    role: str | None
    vrf: str | None
    cluster: str | None
    status: str
    site: str | None = None  # the site the prefix belongs to; None: global
    scope: str | None = None  # its scope when not a site itself ("region emea"); see PrefixRecord


@dataclass(frozen=True)
class SkippedHost:
    """A NetBox device pyctl does not touch, and why: its status, or (``--exclude-invalid``) its records."""

    name: str
    status: str
    role: str
    cluster: str | None
    reason: str


@dataclass(frozen=True)
class Inventory:
    site: str
    clusters: tuple[Cluster, ...]
    # Every prefix NetBox holds, of all sites: overlap rules span a whole VRF (routing domain).
    prefixes: tuple[Prefix, ...] = field(default=())
    findings: tuple[str, ...] = field(default=())  # see build(mtu_mismatch="finding")
    skipped: tuple[SkippedHost, ...] = field(default=())  # by NetBox status: never touched
    excluded: tuple[SkippedHost, ...] = field(default=())  # by build(exclude_invalid=True): unsound records

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
                {"name": c.name, "kind": c.kind, "hosts": [asdict(h) for h in c.hosts],
                 "down_etcd_members": list(c.down_etcd)} for c in self.clusters
            ],
            "prefixes": [asdict(p) for p in self.prefixes],
            "skipped": [asdict(s) for s in self.skipped],
            "excluded": [asdict(s) for s in self.excluded],
        }

    def not_touched(self) -> tuple[SkippedHost, ...]:
        """Every NetBox device of the site this run leaves alone, skipped or excluded, by name."""
        return tuple(sorted((*self.skipped, *self.excluded), key=lambda s: s.name))


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


def _status_reason(status: str) -> str:
    if status in BRING_UP_STATUSES:
        return f"NetBox status {status}: brought up only with --include-planned"
    if status in NEVER_STATUSES:
        return f"NetBox status {status}: never touched"
    return f"NetBox status {status!r} is not one pyctl knows: never touched"


def _address_problems(rec: DeviceRecord, where: str, seen: dict[str, str], problems: list[str]) -> None:
    for kind, cidr in (("primary_ip4", rec.primary_ip4), ("primary_ip6", rec.primary_ip6)):
        if not cidr:
            continue
        try:
            address = str(ipaddress.ip_interface(cidr).ip)
        except ValueError:
            problems.append(f"{where}: {kind} {cidr!r} is not an IP address with a prefix length")
            continue
        if address in seen:
            problems.append(f"{where}: primary address {address} is also the primary address of device {seen[address]}")
        else:
            seen[address] = rec.name
    if not rec.primary_ip4 and not rec.primary_ip6:
        problems.append(f"{where}: has no primary IP address (neither primary_ip4 nor primary_ip6)")


def _underlay_fit(nic: InterfaceRecord, where: str) -> list[str]:
    """A bond's MTU must fit under each member's, a VLAN interface's under its parent's (and that
    parent's members'): a larger frame than a lower device carries is dropped on the wire."""
    assert nic.mtu is not None
    out: list[str] = []
    if nic.type == LAG_TYPE and not nic.members:
        out.append(f"{where}: bond {nic.name} has no member interfaces in NetBox (set `lag` on its members)")
    lower = [(f"bond {nic.name} member {m.name}", m) for m in nic.members]
    if nic.parent is not None:
        lower.append((f"parent {nic.parent.name}", nic.parent))
        lower += [(f"parent {nic.parent.name}'s bond member {m.name}", m) for m in nic.parent.members]
    for label, dev in lower:
        if dev.mtu is None:
            out.append(f"{where}: {nic.name} has MTU {nic.mtu}, but its {label} has no MTU in NetBox")
        elif dev.mtu < nic.mtu:
            out.append(f"{where}: {nic.name} has MTU {nic.mtu}, but its {label} has MTU {dev.mtu}: "
                       f"{nic.name}'s MTU must fit under it")
    return out


def build(records: SiteRecords, *, mtu_mismatch: str = "problem", include_planned: bool = False,
          exclude_invalid: bool = False) -> Inventory:
    """The validated inventory of ``records.site``; raises InventoryError naming every problem.

    NetBox's device status decides what is in it: ``active`` hosts, and ``planned``/``staged`` ones
    with ``include_planned``; every other device is listed in ``Inventory.skipped`` with its status.
    An etcd member marked offline, failed or decommissioning still counts for its cluster's quorum
    (``Cluster.down_etcd``).

    ``mtu_mismatch="finding"`` keeps hosts whose pod-traffic NIC MTU differs from their cluster
    peers (or does not fit under its bond members or VLAN parent) and records the mismatch in
    ``Inventory.findings`` instead: the plan must see every node to compute the cluster's underlay
    MTU and to name the odd ones out next to its own rules.

    ``exclude_invalid`` goes on without the hosts whose records break a rule, and without every host
    of a cluster whose cluster rules break, each listed in ``Inventory.excluded`` with its reasons.
    Problems of NetBox itself (a missing custom field definition) still raise.
    """
    problems: list[str] = []  # site-wide: always raise
    findings: list[str] = []
    missing_cf = [n for n in DEVICE_CUSTOM_FIELDS if n not in records.device_custom_fields]
    if missing_cf:
        problems.append(f"NetBox has no custom field {', '.join(missing_cf)} on dcim.device "
                        "(pyctl reads: " + ", ".join(DEVICE_CUSTOM_FIELDS) + ")")

    hosts: list[Host] = []
    skipped: list[SkippedHost] = []
    excluded: list[SkippedHost] = []
    down_etcd: dict[str, list[str]] = defaultdict(list)
    host_problems: dict[str, list[str]] = {}
    seen_address: dict[str, str] = {}
    for rec in sorted(records.devices, key=lambda d: (d.name, d.id)):
        cluster = rec.custom_fields.get("cluster")
        managed = rec.status == STATUS_ACTIVE or (include_planned and rec.status in BRING_UP_STATUSES)
        if not managed:
            skipped.append(SkippedHost(rec.name or f"(unnamed, id {rec.id})", rec.status, rec.role,
                                       cluster if isinstance(cluster, str) else None, _status_reason(rec.status)))
            if rec.role == ROLE_ETCD and rec.status in ETCD_DOWN_STATUSES and isinstance(cluster, str) and cluster:
                down_etcd[cluster].append(rec.name)
            continue
        where = f"device {rec.name}" if rec.name else f"unnamed device (NetBox id {rec.id})"
        mine: list[str] = []
        if not rec.name:
            mine.append(f"{where}: has no name; pyctl needs one as its host name")
        elif not _HOST_NAME.match(rec.name):
            where = f"device {rec.name!r}"
            mine.append(f"{where}: {rec.name!r} is not a valid host name (lower-case letters, digits, '-' and '.', "
                        "as DNS, Ansible and Kubernetes node names allow); rename the device in NetBox")
        if rec.role not in ROLES:
            mine.append(f"{where}: role {rec.role!r} is not one pyctl manages ({', '.join(ROLES)})")
        if not cluster:
            mine.append(f"{where}: in no cluster (custom field cluster is empty)")
        _address_problems(rec, where, seen_address, mine)
        nic: InterfaceRecord | None = None
        if not rec.pod_interfaces:
            mine.append(f"{where}: no interface tagged {POD_TRAFFIC_TAG!r} (the NIC that carries pod traffic)")
        elif len(rec.pod_interfaces) > 1:
            names = ", ".join(i.name for i in rec.pod_interfaces)
            mine.append(f"{where}: {len(rec.pod_interfaces)} interfaces tagged {POD_TRAFFIC_TAG!r} ({names}); "
                        "exactly one carries pod traffic")
        else:
            nic = rec.pod_interfaces[0]
            if nic.mtu is None:
                mine.append(f"{where}: interface {nic.name} has no MTU in NetBox")
            else:
                fit = _underlay_fit(nic, where)
                (findings if mtu_mismatch == "finding" else mine).extend(fit)
            if not nic.addresses:
                mine.append(f"{where}: interface {nic.name} ({POD_TRAFFIC_TAG}) has no IP address in NetBox "
                            "(the address that carries pod traffic)")
        gpu = _gpu(rec, where, mine) if rec.role == ROLE_GPU_WORKER else None
        if gpu is not None and rec.gpu_capacity is not None and gpu.count > rec.gpu_capacity:
            mine.append(f"{where}: gpu_count {gpu.count} is more than its device type {rec.device_type} holds "
                        f"({GPU_CAPACITY_FIELD} {rec.gpu_capacity})")
        if mine:
            host_problems[rec.name or where] = mine
            if exclude_invalid:
                excluded.append(SkippedHost(rec.name or where, rec.status, rec.role,
                                            cluster if isinstance(cluster, str) else None, "; ".join(mine)))
            continue
        assert nic is not None
        assert nic.mtu is not None
        assert isinstance(cluster, str)
        mgmt_cidr = rec.primary_ip4 or rec.primary_ip6
        assert mgmt_cidr is not None
        pod = sorted(nic.addresses, key=lambda a: ipaddress.ip_interface(a).version)
        hosts.append(Host(
            name=rec.name, site=records.site, rack=rec.rack, role=rec.role, cluster=cluster,
            address=str(ipaddress.ip_interface(mgmt_cidr).ip), address_cidr=mgmt_cidr, underlay_nic=nic.name,
            underlay_mtu=nic.mtu, platform=rec.platform, status=rec.status, device_type=rec.device_type, gpu=gpu,
            primary_ip4=rec.primary_ip4, primary_ip6=rec.primary_ip6,
            pod_address=str(ipaddress.ip_interface(pod[0]).ip), pod_address_cidr=pod[0], pod_addresses=tuple(pod),
            underlay_type=nic.type,
        ))

    by_cluster: dict[str, list[Host]] = defaultdict(list)
    for h in hosts:
        by_cluster[h.cluster].append(h)
    clusters = []
    cluster_problems: list[str] = []
    for name in sorted(by_cluster):
        members = by_cluster[name]
        mine = _cluster_problems(name, members, down_etcd.get(name, []))
        mismatch = _mtu_mismatch(name, members)
        if mismatch:
            (findings if mtu_mismatch == "finding" else mine).append(mismatch)
        if mine and exclude_invalid:
            excluded.extend(SkippedHost(h.name, h.status, h.role, name, "; ".join(mine)) for h in members)
            continue
        cluster_problems.extend(mine)
        clusters.append(Cluster(name=name, kind=_kind(members), hosts=tuple(members),
                                down_etcd=tuple(sorted(down_etcd.get(name, [])))))

    if not exclude_invalid:
        problems.extend(p for ps in host_problems.values() for p in ps)
    problems.extend(cluster_problems)
    if problems:
        raise InventoryError(f"the inventory of {records.site} has {len(problems)} problem(s)", problems=problems)
    prefixes = tuple(Prefix(p.prefix, p.role, p.vrf, p.cluster, p.status, p.site, p.scope) for p in records.prefixes)
    return Inventory(site=records.site, clusters=tuple(clusters), prefixes=prefixes, findings=tuple(findings),
                     skipped=tuple(skipped), excluded=tuple(sorted(excluded, key=lambda s: s.name)))


def _kind(members: Iterable[Host]) -> str:
    return "workload" if any(h.role == ROLE_GPU_WORKER for h in members) else "management"


def _cluster_problems(name: str, members: list[Host], down_etcd: list[str]) -> list[str]:
    problems: list[str] = []
    roles = {h.role for h in members}
    if ROLE_GPU_WORKER in roles and roles & MANAGEMENT_ROLES:
        mixed = sorted(h.name for h in members if h.role in MANAGEMENT_ROLES)
        problems.append(f"cluster {name}: mixes {ROLE_GPU_WORKER} hosts with management hosts ({', '.join(mixed)}); "
                        "hosted control planes run apart from the workers")
    # Members NetBox marks down are still members: they count for quorum.
    etcd = sorted([h.name for h in members if h.role == ROLE_ETCD] + [f"{n} (down)" for n in down_etcd])
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
        "pyctl_primary_ip4": h.primary_ip4,
        "pyctl_primary_ip6": h.primary_ip6,
        "pyctl_pod_address": h.pod_address,
        "pyctl_pod_address_cidr": h.pod_address_cidr,
        "pyctl_rack": h.rack,
        "pyctl_role": h.role,
        "pyctl_cluster": h.cluster,
        "pyctl_cluster_kind": cluster.kind,
        "pyctl_address_cidr": h.address_cidr,
        "pyctl_underlay_nic": h.underlay_nic,
        "pyctl_underlay_mtu": h.underlay_mtu,
        "pyctl_underlay_type": h.underlay_type,
        "pyctl_platform": h.platform,
        "pyctl_device_type": h.device_type,
        "pyctl_gpu_model": gpu.model if gpu else None,
        "pyctl_gpu_count": gpu.count if gpu else 0,
        "pyctl_nvswitch": gpu.nvswitch if gpu else False,
        "pyctl_mig_layout": dict(gpu.mig_layout) if gpu and gpu.mig_layout else None,
    }
