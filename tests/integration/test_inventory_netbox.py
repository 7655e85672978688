"""`pyctl inventory` against the real NetBox: the demo data centers, and every error path."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.integration.conftest import NetBoxBed, run_pyctl

pytestmark = pytest.mark.netbox


def test_inventory_of_the_demo_data_centers(netbox_bed: NetBoxBed) -> None:
    expected = {  # cluster -> (kind, hosts, underlay MTUs)
        "dc1": {"dc1-inference": ("workload", 8, {9000}), "dc1-mgmt": ("management", 7, {9000})},
        "dc2": {"dc2-inference-a": ("workload", 8, {9000}), "dc2-inference-b": ("workload", 6, {9000}),
                "dc2-mgmt": ("management", 7, {9000})},
        "dc3": {"dc3-inference": ("workload", 6, {1500}), "dc3-mgmt": ("management", 6, {1500})},
    }
    for dc, clusters in expected.items():
        result = run_pyctl("inventory", dc, "--json", env=netbox_bed.env())
        assert result.code == 0, result.stderr
        doc = result.json()
        got = {c["name"]: (c["kind"], len(c["hosts"]), {h["underlay_mtu"] for h in c["hosts"]})
               for c in doc["clusters"]}
        assert got == clusters


def test_gpu_fields_come_from_netbox_custom_fields(netbox_bed: NetBoxBed) -> None:
    doc = run_pyctl("inventory", "dc2", "--json", env=netbox_bed.env()).json()
    hosts = {h["name"]: h for c in doc["clusters"] for h in c["hosts"]}
    assert hosts["dc2-inference-a-gpu-01"]["gpu"] == {"model": "H200-141GB", "count": 8, "nvswitch": True,
                                                      "mig_layout": None}
    assert hosts["dc2-inference-b-gpu-06"]["gpu"] == {"model": "A100-40GB", "count": 4, "nvswitch": False,
                                                      "mig_layout": {"3g.20gb": 2}}
    assert hosts["dc2-etcd-01"]["address_cidr"] == "10.20.0.11/24"
    assert hosts["dc2-etcd-01"]["gpu"] is None


def test_table_is_the_default_output(netbox_bed: NetBoxBed) -> None:
    result = run_pyctl("inventory", "dc3", env=netbox_bed.env())
    assert result.code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "data center dc3"
    assert "cluster dc3-inference (workload, 6 hosts)" in lines
    row = next(line for line in lines if line.strip().startswith("dc3-inference-gpu-01"))
    assert row.split()[1:6] == ["gpu-worker", "10.30.4.11", "dc3-r01", "ens1f0", "1500"]
    assert "1g.10gb×7" in row
    assert result.stderr.strip() == "12 hosts in 2 clusters, read in " + result.stderr.split(" read in ")[1].strip()


def test_missing_site_is_named_with_the_sites_that_exist(netbox_bed: NetBoxBed) -> None:
    result = run_pyctl("inventory", "dc9", env=netbox_bed.env())
    assert result.code == 3
    assert result.stdout == ""
    assert result.stderr == "pyctl: error: site 'dc9' does not exist in NetBox (sites: dc1, dc2, dc3, lab)\n"


def test_wrong_token_is_refused_and_never_printed(netbox_bed: NetBoxBed) -> None:
    env = netbox_bed.env()
    del env["NETBOX_TOKEN_FILE"]
    env["NETBOX_TOKEN"] = "nbt_notakey.notasecretvalue1234"
    result = run_pyctl("inventory", "dc2", "--json", env=env)
    assert result.code == 3
    assert "notasecretvalue" not in result.stdout + result.stderr
    assert result.json()["error"] == (f"NetBox at {netbox_bed.url} refused the token (403) while reading "
                                      "site dc2: check NETBOX_TOKEN / the token file")


@contextmanager
def proxy_that_dies_after(upstream_port: int, requests_served: int) -> Iterator[int]:
    """A loopback TCP proxy to NetBox that goes away for good once the client sends request number
    ``requests_served + 1``: NetBox stopping in the middle of a multi-query read."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    seen = 0
    dead = threading.Event()
    conns: list[socket.socket] = []

    def pump(src: socket.socket, dst: socket.socket, count: bool) -> None:
        nonlocal seen
        try:
            while not dead.is_set():
                data = src.recv(65536)
                if not data:
                    break
                if count:
                    seen += data.count(b"HTTP/1.1\r\n")
                    if seen > requests_served:
                        dead.set()
                        listener.close()
                        for c in conns:
                            c.close()
                        break
                dst.sendall(data)
        except OSError:
            pass

    def accept() -> None:
        while not dead.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", upstream_port))
            conns.extend([client, server])
            threading.Thread(target=pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=pump, args=(server, client, False), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield port
    finally:
        dead.set()
        listener.close()
        for c in conns:
            c.close()


def test_netbox_stopping_mid_read_is_retried_then_named(netbox_bed: NetBoxBed) -> None:
    # The site is read, then NetBox is gone while the rest is read side by side. The retry span is cut to
    # 3 s here (60 s by default: a NetBox restart takes 10-30 s).
    with proxy_that_dies_after(netbox_bed.bed.http_port, requests_served=1) as port:
        url = f"http://127.0.0.1:{port}"
        result = run_pyctl("inventory", "dc2", env=netbox_bed.env(NETBOX_URL=url, PYCTL_NETBOX_TIMEOUT="2",
                                                                  PYCTL_NETBOX_RETRY_S="3"))
    assert result.code == 3
    assert result.stdout == ""
    assert re.fullmatch(rf"pyctl: error: NetBox at {re.escape(url)} unreachable while reading the custom fields: "
                        r"connection refused or dropped \(tried \d+ times over 3 s\)\n",
                        result.stderr), result.stderr


def _changes(api: Any) -> int:
    return int(api.core.object_changes.count())


def test_bad_data_is_all_named_at_once_and_nothing_is_changed(netbox_bed: NetBoxBed, netbox_writer: Any) -> None:
    api = netbox_writer
    dev = {d.name: d for d in api.dcim.devices.filter(site="dc2")}
    # 1. a device without a primary IP
    dev["dc2-inference-a-gpu-01"].update({"primary_ip4": None})
    # 2. a duplicate address: the same IP in another VRF, made gpu-02's primary
    vrf = api.ipam.vrfs.create(name="oob", enforce_unique=True)
    nic2 = api.dcim.interfaces.get(device="dc2-inference-a-gpu-02", name="ens1f0")
    old_ip = api.ipam.ip_addresses.get(address="10.20.4.12/22")
    old_ip.delete()
    dup = api.ipam.ip_addresses.create(address="10.20.4.13/22", vrf=vrf.id, assigned_object_type="dcim.interface",
                                       assigned_object_id=nic2.id)
    dev["dc2-inference-a-gpu-02"].update({"primary_ip4": dup.id})
    # 3. an unknown GPU model; 4. a MIG layout the GPU cannot hold
    dev["dc2-inference-a-gpu-04"].update({"custom_fields": {"gpu_model": "B300-288GB"}})
    dev["dc2-inference-b-gpu-01"].update({"custom_fields": {"mig_layout": {"3g.20gb": 2, "2g.10gb": 1}}})
    # 5. a cluster with an even number of etcd members
    dev["dc2-mgmt-01"].update({"role": {"slug": "etcd"}})
    # 6. a NIC MTU that differs from its cluster's; 7. a host in no cluster
    api.dcim.interfaces.get(device="dc2-inference-a-gpu-05", name="ens1f0").update({"mtu": 1500})
    dev["dc2-inference-a-gpu-06"].update({"custom_fields": {"cluster": None}})

    before = _changes(api)
    result = run_pyctl("inventory", "dc2", "--json", env=netbox_bed.env())
    assert result.code == 3
    doc = result.json()
    assert doc["problems"] == [
        "device dc2-inference-a-gpu-01: has no primary IP address (neither primary_ip4 nor primary_ip6)",
        "device dc2-inference-a-gpu-03: primary address 10.20.4.13 is also the primary address of device "
        "dc2-inference-a-gpu-02",
        "device dc2-inference-a-gpu-04: unknown GPU model 'B300-288GB' "
        "(known: A100-40GB, A100-80GB, H100-80GB, H200-141GB)",
        "device dc2-inference-a-gpu-06: in no cluster (custom field cluster is empty)",
        'device dc2-inference-b-gpu-01: MIG layout {"2g.10gb": 1, "3g.20gb": 2}: layout takes 8 compute slices; '
        "a A100-40GB has 7",
        'device dc2-inference-b-gpu-01: MIG layout {"2g.10gb": 1, "3g.20gb": 2}: layout takes 10 of a '
        "A100-40GB's 8 memory slices",
        # The hosts named above are left out of the cluster checks: 3 sound hosts remain at 9000.
        "cluster dc2-inference-a: pod-traffic NIC MTUs differ: 3 hosts have MTU 9000, but "
        "dc2-inference-a-gpu-05 (ens1f0) has 1500",
        "cluster dc2-mgmt: 4 etcd members (dc2-etcd-01, dc2-etcd-02, dc2-etcd-03, dc2-mgmt-01); an even count "
        "adds no fault tolerance — use 3 or 5",
    ]
    assert doc["error"] == "the inventory of dc2 has 8 problem(s)"
    assert _changes(api) == before  # reading changed nothing in NetBox


def test_missing_custom_field_is_named(netbox_bed: NetBoxBed, netbox_writer: Any) -> None:
    netbox_writer.extras.custom_fields.get(name="mig_layout").delete()
    result = run_pyctl("inventory", "dc1", env=netbox_bed.env())
    assert result.code == 3
    assert result.stderr.splitlines() == [
        "pyctl: error: the inventory of dc1 has 1 problem(s)",
        "  - NetBox has no custom field mig_layout on dcim.device "
        "(pyctl reads: cluster, gpu_model, gpu_count, nvswitch, mig_layout)",
    ]


def test_every_page_is_read_with_cursor_pagination(netbox_bed: NetBoxBed, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyctl import netbox as client

    monkeypatch.setattr(client, "PAGE_SIZE", 4)  # the client asking for small pages: many pages, all read
    settings = client.Settings(url=netbox_bed.url, token=netbox_bed.token)
    records = client.NetBox(settings).site_records("dc2")
    assert len(records.devices) == 21
    assert len({d.name for d in records.devices}) == 21
    assert sum(len(d.pod_interfaces) for d in records.devices) == 21
    assert len(records.prefixes) >= 20
