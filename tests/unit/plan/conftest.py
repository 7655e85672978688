"""Inventories built by hand for the plan tests: a DC with one management and two workload clusters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace

import pytest

from pyctl.inventory import Cluster, Gpu, Host, Inventory, Prefix

Factory = Callable[..., Inventory]


def host(name: str, cluster: str, role: str, address: str, *, mtu: int = 9000, site: str = "dc2",
         prefixlen: int = 24) -> Host:
    gpu = Gpu("H100-80GB", 8, True, None) if role == "gpu-worker" else None
    return Host(name=name, site=site, rack="r1", role=role, cluster=cluster, address=address,
                address_cidr=f"{address}/{prefixlen}", underlay_nic="ens1f0", underlay_mtu=mtu, platform="debian-12",
                status="active", device_type="dgx-h100" if gpu else "r760", gpu=gpu)


def workers(cluster: str, count: int, *, base: str = "10.2.1", mtu: int = 9000) -> list[Host]:
    """``count`` GPU workers; above 250 they spill over into following /24s (a /16 node network)."""
    a, b, c = (int(x) for x in base.split("."))
    out = []
    for i in range(count):
        third, fourth = divmod(i, 250)
        out.append(host(f"{cluster}-w{i:04d}", cluster, "gpu-worker", f"{a}.{b}.{c + third}.{fourth + 1}", mtu=mtu,
                        prefixlen=16 if count > 250 else 24))
    return out


def management(name: str = "mgmt", etcd: int = 3, control_plane: int = 3, base: str = "10.2.0") -> list[Host]:
    hs = [host(f"{name}-etcd{i}", name, "etcd", f"{base}.{10 + i}") for i in range(1, etcd + 1)]
    hs += [host(f"{name}-cp{i}", name, "control-plane", f"{base}.{20 + i}") for i in range(1, control_plane + 1)]
    return hs


DEFAULT_PREFIXES = (
    Prefix("10.0.0.0/8", "datacenter", "prod", None, "container", "dc2"),
    Prefix("10.2.0.0/24", "node-network", "prod", "mgmt", "active", "dc2"),
    Prefix("10.2.1.0/24", "node-network", "prod", "gpu-a", "active", "dc2"),
    Prefix("10.100.0.0/16", "pod-network", "prod", "gpu-a", "active", "dc2"),
    Prefix("10.101.0.0/16", "service-network", "prod", "gpu-a", "active", "dc2"),
    Prefix("10.110.0.0/16", "pod-network", "prod", "mgmt", "active", "dc2"),
    Prefix("10.111.0.0/16", "service-network", "prod", "mgmt", "active", "dc2"),
)


def inventory(clusters: dict[str, Sequence[Host]], prefixes: Sequence[Prefix] = DEFAULT_PREFIXES,
              site: str = "dc2") -> Inventory:
    cs = []
    for name in sorted(clusters):
        hs = tuple(clusters[name])
        kind = "workload" if any(h.role == "gpu-worker" for h in hs) else "management"
        cs.append(Cluster(name=name, kind=kind, hosts=hs))
    return Inventory(site=site, clusters=tuple(cs), prefixes=tuple(prefixes))


@pytest.fixture
def dc2() -> Inventory:
    """One management cluster (3 etcd, 3 control-plane) hosting one 4-node GPU cluster; NetBox has every prefix."""
    return inventory({"mgmt": management(), "gpu-a": workers("gpu-a", 4)})


@pytest.fixture
def kit() -> SimpleNamespace:
    """The builders above, as a fixture (test modules do not import conftest)."""
    return SimpleNamespace(host=host, workers=workers, management=management, inventory=inventory,
                           DEFAULT_PREFIXES=DEFAULT_PREFIXES)
