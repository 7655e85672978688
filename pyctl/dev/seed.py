"""Data sets for the NetBox test bed: the demo world (dc1–dc3 and the lab site) and large sets.

Pure: each function returns a JSON-able spec that :mod:`pyctl.dev.netbox_loader` writes into
NetBox. The demo world is small (tens of devices); :func:`large` builds thousands of devices with
the same shape for benchmarks.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pyctl.inventory import DEVICE_CUSTOM_FIELDS, GPU_CAPACITY_FIELD, POD_TRAFFIC_TAG

# The demo DCs run Ubuntu 22.04; the lab hosts are what the lab image is (Debian 12, images/lab-host).
PLATFORM = {"name": "Ubuntu 22.04", "slug": "ubuntu-2204"}
LAB_PLATFORM = {"name": "Debian 12", "slug": "debian-12"}
ROLES = [
    {"name": "GPU worker", "slug": "gpu-worker", "color": "4caf50"},
    {"name": "Control plane", "slug": "control-plane", "color": "2196f3"},
    {"name": "etcd", "slug": "etcd", "color": "ff9800"},
    {"name": "Management", "slug": "mgmt", "color": "9e9e9e"},
]
PREFIX_ROLES = ["datacenter", "node-network", "pod-network", "service-network"]
POD_NIC = "ens1f0"

_SERVER_NICS = [
    {"name": "bmc", "type": "1000base-t", "mgmt_only": True},
    {"name": "eno1", "type": "25gbase-x-sfp28"},
    {"name": "eno2", "type": "25gbase-x-sfp28"},
    {"name": "ens1f0", "type": "100gbase-x-qsfp28"},
    {"name": "ens1f1", "type": "100gbase-x-qsfp28"},
]
_IB = [{"name": f"ib{i}", "type": "infiniband-ndr"} for i in range(8)]
DEVICE_TYPES = [
    # 8-GPU HGX boards: 8 compute NICs for the GPU fabric (InfiniBand NDR), two 100G for pods.
    {"manufacturer": "Supermicro", "model": "SYS-821GE HGX H100 8-GPU", "slug": "hgx-h100-8gpu", "u_height": 8,
     "interfaces": _SERVER_NICS + _IB, "gpu_capacity": 8},
    {"manufacturer": "Supermicro", "model": "SYS-821GE HGX H200 8-GPU", "slug": "hgx-h200-8gpu", "u_height": 8,
     "interfaces": _SERVER_NICS + _IB, "gpu_capacity": 8},
    {"manufacturer": "Dell", "model": "PowerEdge R750xa 4x A100 PCIe", "slug": "r750xa-a100-4gpu", "u_height": 2,
     "interfaces": _SERVER_NICS, "gpu_capacity": 4},
    {"manufacturer": "Dell", "model": "PowerEdge R660", "slug": "r660", "u_height": 1, "interfaces": _SERVER_NICS,
     "gpu_capacity": 0},
]
# Lab hosts are podman containers with two NICs: eth0 (SSH, Ansible, the mirror: the primary IP) and eth1,
# which carries pod traffic on a network of its own (the pod address differs from the primary IP).
LAB_MGMT_NIC = "eth0"
LAB_NIC = "eth1"
LAB_POD_SUBNET = "172.31.214.0/24"
LAB_DEVICE_TYPE = {"manufacturer": "Podman", "model": "Lab host (systemd container)", "slug": "lab-host",
                   "u_height": 1, "interfaces": [{"name": LAB_MGMT_NIC, "type": "virtual"},
                                                 {"name": LAB_NIC, "type": "virtual"}],
                   "gpu_capacity": 8}  # the stand-in GPUs of an HGX board
GPU_TYPES = {
    "H100-80GB": ("hgx-h100-8gpu", 8, True),
    "H200-141GB": ("hgx-h200-8gpu", 8, True),
    "A100-40GB": ("r750xa-a100-4gpu", 4, False),
}
CUSTOM_FIELDS = [
    {"name": "cluster", "type": "text", "object_types": ["dcim.device", "ipam.prefix"],
     "description": "The cluster this device or prefix belongs to (pyctl)"},
    {"name": "gpu_model", "type": "text", "object_types": ["dcim.device"],
     "description": "GPU model, e.g. H100-80GB (pyctl)"},
    {"name": "gpu_count", "type": "integer", "object_types": ["dcim.device"], "description": "GPUs in the server"},
    {"name": "nvswitch", "type": "boolean", "object_types": ["dcim.device"],
     "description": "GPUs joined by NVSwitch: Fabric Manager required"},
    {"name": "mig_layout", "type": "json", "object_types": ["dcim.device"],
     "description": 'MIG profiles per GPU, e.g. {"1g.10gb": 7}; empty: MIG off'},
    {"name": GPU_CAPACITY_FIELD, "type": "integer", "object_types": ["dcim.devicetype"],
     "description": "GPUs this hardware holds: a device's gpu_count above it is refused (pyctl)"},
]
assert {c["name"] for c in CUSTOM_FIELDS if "dcim.device" in c["object_types"]} == set(DEVICE_CUSTOM_FIELDS)


class _Site:
    """Accumulates the devices and prefixes of one site."""

    def __init__(self, slug: str, supernet: str, racks: int) -> None:
        self.slug = slug
        self.net = ipaddress.ip_network(supernet)
        self.racks = [f"{slug}-r{i:02d}" for i in range(1, racks + 1)]
        self.devices: list[dict[str, Any]] = []
        self.prefixes: list[dict[str, Any]] = [{"prefix": supernet, "site": slug, "role": "datacenter"}]
        self._next_rack = 0

    def rack(self) -> str:
        rack = self.racks[self._next_rack % len(self.racks)]
        self._next_rack += 1
        return rack

    def add(self, name: str, role: str, dtype: str, cluster: str, *, address: str, mtu: int,
            gpu: dict[str, Any] | None = None, platform: str = PLATFORM["slug"]) -> None:
        cf: dict[str, Any] = {"cluster": cluster}
        if gpu:
            cf.update(gpu)
        self.devices.append({"name": name, "site": self.slug, "rack": self.rack(), "role": role,
                             "device_type": dtype, "platform": platform, "custom_fields": cf,
                             "address": address, "pod_nic": POD_NIC, "mtu": mtu})

    def prefix(self, prefix: str, role: str, cluster: str | None) -> None:
        self.prefixes.append({"prefix": prefix, "site": self.slug, "role": role, "cluster": cluster})


def _mgmt(site: _Site, net: str, *, etcd: int, control_planes: int, mgmt: int, mtu: int) -> None:
    cluster = f"{site.slug}-mgmt"
    hosts = ipaddress.ip_network(net).hosts()
    for _ in range(10):
        next(hosts)
    prefixlen = ipaddress.ip_network(net).prefixlen
    for role, count in (("etcd", etcd), ("control-plane", control_planes), ("mgmt", mgmt)):
        for i in range(1, count + 1):
            site.add(f"{site.slug}-{role.replace('control-plane', 'cp')}-{i:02d}", role, "r660", cluster,
                     address=f"{next(hosts)}/{prefixlen}", mtu=mtu)
    site.prefix(net, "node-network", cluster)


def _workers(site: _Site, cluster: str, net: str, count: int, gpu_model: str, *, mtu: int,
             mig_layout: dict[str, int] | None = None, name_prefix: str | None = None) -> None:
    dtype, gpus, nvswitch = GPU_TYPES[gpu_model]
    network = ipaddress.ip_network(net)
    hosts = network.hosts()
    for _ in range(10):
        next(hosts)
    stem = name_prefix or f"{cluster}-gpu"
    width = max(2, len(str(count)))
    for i in range(1, count + 1):
        site.add(f"{stem}-{i:0{width}d}", "gpu-worker", dtype, cluster, address=f"{next(hosts)}/{network.prefixlen}",
                 mtu=mtu,
                 gpu={"gpu_model": gpu_model, "gpu_count": gpus, "nvswitch": nvswitch, "mig_layout": mig_layout})
    site.prefix(net, "node-network", cluster)


def _spec(sites: list[_Site]) -> dict[str, Any]:
    return {
        "custom_fields": CUSTOM_FIELDS,
        "tags": [{"name": POD_TRAFFIC_TAG, "slug": POD_TRAFFIC_TAG, "color": "e91e63",
                  "description": "The NIC that carries pod traffic (the overlay's underlay)"}],
        "roles": ROLES,
        "prefix_roles": PREFIX_ROLES,
        "platforms": [PLATFORM, LAB_PLATFORM],
        "device_types": DEVICE_TYPES,
        "sites": [{"slug": s.slug, "racks": s.racks} for s in sites],
        "prefixes": [p for s in sites for p in s.prefixes],
        "devices": [d for s in sites for d in s.devices],
    }


def demo() -> dict[str, Any]:
    """dc1–dc3 as the demo shows them, and an empty ``lab`` site the lab hosts register into."""
    dc1 = _Site("dc1", "10.10.0.0/16", racks=4)
    _mgmt(dc1, "10.10.0.0/24", etcd=3, control_planes=3, mgmt=1, mtu=9000)
    _workers(dc1, "dc1-inference", "10.10.4.0/22", 8, "H100-80GB", mtu=9000)
    dc1.prefix("10.10.64.0/18", "pod-network", "dc1-inference")
    dc1.prefix("10.10.32.0/20", "service-network", "dc1-inference")

    dc2 = _Site("dc2", "10.20.0.0/16", racks=6)
    _mgmt(dc2, "10.20.0.0/24", etcd=3, control_planes=3, mgmt=1, mtu=9000)
    _workers(dc2, "dc2-inference-a", "10.20.4.0/22", 8, "H200-141GB", mtu=9000)
    _workers(dc2, "dc2-inference-b", "10.20.8.0/22", 6, "A100-40GB", mtu=9000, mig_layout={"3g.20gb": 2})
    dc2.prefix("10.20.64.0/18", "pod-network", "dc2-inference-a")
    dc2.prefix("10.20.32.0/20", "service-network", "dc2-inference-a")
    dc2.prefix("10.20.128.0/18", "pod-network", "dc2-inference-b")
    dc2.prefix("10.20.48.0/20", "service-network", "dc2-inference-b")

    # dc3: an older fabric at MTU 1500, MIG-partitioned H100s for small models; no pod/service
    # prefixes recorded yet, so the plan proposes them from the DC's supernet.
    dc3 = _Site("dc3", "10.30.0.0/16", racks=3)
    _mgmt(dc3, "10.30.0.0/24", etcd=3, control_planes=3, mgmt=0, mtu=1500)
    _workers(dc3, "dc3-inference", "10.30.4.0/22", 6, "H100-80GB", mtu=1500, mig_layout={"1g.10gb": 7})

    lab_site = _Site("lab", LAB_SUPERNET, racks=1)
    lab_site.prefix(LAB_SUPERNET, "node-network", None)
    lab_site.prefix(LAB_POD_SUBNET, "node-network", None)
    lab_site.prefix("10.213.64.0/18", "pod-network", "lab-gpu")
    lab_site.prefix("10.213.32.0/20", "service-network", "lab-gpu")
    spec = _spec([dc1, dc2, dc3, lab_site])
    spec["device_types"] = [*DEVICE_TYPES, LAB_DEVICE_TYPE]
    return spec


LAB_SUPERNET = "172.31.213.0/24"
LAB_MGMT_ROLES = ("etcd", "etcd", "etcd", "control-plane")


def lab(hosts: list[tuple[str, str, str, int]]) -> dict[str, Any]:
    """The lab hosts as NetBox devices of the site ``lab``: ``(name, eth0 address/len, eth1 address/len,
    eth1 MTU)`` each. eth0's address is the primary IP; eth1 is the pod-traffic interface.

    Five or more hosts: the first three are the etcd members and the fourth the control plane of
    ``lab-mgmt``; the rest are GPU workers of ``lab-gpu`` (H100 HGX boards, every other one
    MIG-partitioned). Fewer: all GPU workers. The MTU is the one the host's NIC really has.
    """
    site = _Site("lab", LAB_SUPERNET, racks=1)
    mgmt = LAB_MGMT_ROLES if len(hosts) >= len(LAB_MGMT_ROLES) + 1 else ()
    for i, (name, address, _, mtu) in enumerate(hosts):
        if i < len(mgmt):
            site.add(name, mgmt[i], "lab-host", "lab-mgmt", address=address, mtu=mtu, platform=LAB_PLATFORM["slug"])
        else:
            layout = {"3g.40gb": 2} if i % 2 else None
            site.add(name, "gpu-worker", "lab-host", "lab-gpu", address=address, mtu=mtu, platform=LAB_PLATFORM["slug"],
                     gpu={"gpu_model": "H100-80GB", "gpu_count": 8, "nvswitch": True, "mig_layout": layout})
    for device, (_, _, pod_address, _) in zip(site.devices, hosts, strict=True):
        device.update({"pod_nic": LAB_NIC, "primary_nic": LAB_MGMT_NIC, "pod_address": pod_address})
    spec = _spec([site])
    spec["device_types"] = [LAB_DEVICE_TYPE]
    spec["prefixes"] = []  # the lab's prefixes come with the demo world
    spec["replace_sites"] = ["lab"]
    return spec


def large(devices: int) -> dict[str, Any]:
    """The demo world plus ``devices`` hosts in the site ``scale``: 3 etcd, 2 control planes, the
    rest GPU workers in clusters of at most 1,000 nodes."""
    spec = demo()
    site = _Site("scale", "10.64.0.0/12", racks=max(1, devices // 8))
    _mgmt(site, "10.64.0.0/24", etcd=3, control_planes=2, mgmt=0, mtu=9000)
    workers = devices - 5
    base = ipaddress.ip_network("10.65.0.0/16")
    subnets = base.subnets(new_prefix=22)
    cluster_no = 0
    while workers > 0:
        cluster_no += 1
        size = min(1000, workers)
        cluster = f"scale-inference-{cluster_no:02d}"
        # A /22 holds 1,022 hosts: one per cluster of up to 1,000 nodes.
        _workers(site, cluster, str(next(subnets)), size, "H100-80GB", mtu=9000)
        workers -= size
    for key, value in _spec([site]).items():
        if key in ("sites", "prefixes", "devices"):
            spec[key] = spec[key] + value
    return spec
