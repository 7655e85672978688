"""The lab's calico-node stand-in (images/lab-host/files/calico-node-standin.py): it reads what pyctl's calico
role renders as calico-node reads it from the API, and gives the nodes tunnel addresses and peers as Calico
IPAM and the datastore would. The device part (ip, bridge) runs on the lab and in Molecule."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from pyctl.plan import calico
from tests.load import load_file

REPO = Path(__file__).resolve().parents[2]
STANDIN = REPO / "images" / "lab-host" / "files" / "calico-node-standin.py"


@pytest.fixture(scope="module")
def standin() -> ModuleType:
    return load_file(STANDIN, "calico_node_standin")


def _vars(**over: Any) -> dict[str, Any]:
    return {"calico_veth_mtu": 1450, "calico_ipv4pool_cidr": "10.100.0.0/16", "calico_block_size": 26,
            "calico_vxlan_mode": "Always", "calico_ipip_mode": "Never",
            "calico_felix_encapsulation": {"vxlanEnabled": True}, **over}


def _as_written(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Through YAML, as the role writes them to the host."""
    return [d for d in yaml.safe_load_all(yaml.safe_dump_all(resources)) if d]


def test_it_reads_what_the_role_renders_for_both_install_methods(standin: ModuleType) -> None:
    operator = _as_written(calico.render_resources(_vars(), node_interfaces=["eth1"]))
    assert standin.wanted(operator) == {"mtu": 1450, "pool": "10.100.0.0/16", "block_size": 26,
                                        "autodetect": {"interface": "^(eth1)$"}, "vni": 4096, "port": 4789}
    manifest = _as_written(calico.render_resources(_vars(calico_veth_mtu=8950), install_method="manifest"))
    assert standin.wanted(manifest) == {"mtu": 8950, "pool": "10.100.0.0/16", "block_size": 26, "autodetect": None,
                                        "vni": 4096, "port": 4789}


def test_vxlan_off_or_an_ipip_pool_gives_no_device(standin: ModuleType) -> None:
    ipip = _vars(calico_vxlan_mode="Never", calico_ipip_mode="Always",
                 calico_felix_encapsulation={"ipipEnabled": True})
    assert standin.wanted(_as_written(calico.render_resources(ipip))) is None
    assert standin.wanted(_as_written(calico.render_resources(ipip, install_method="manifest"))) is None
    assert standin.wanted([]) is None


LINKS = [
    {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1", "scope": "host"}]},
    {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "172.31.213.11", "scope": "global"}]},
    {"ifname": "eth1", "addr_info": [{"family": "inet6", "local": "fe80::1", "scope": "link"},
                                     {"family": "inet", "local": "172.31.214.11", "scope": "global"}]},
    {"ifname": "vxlan.calico", "addr_info": [{"family": "inet", "local": "10.100.0.1", "scope": "global"}]},
]


def test_the_node_address_comes_from_the_nic_the_resources_name(standin: ModuleType) -> None:
    rule = standin.autodetect_rule({"interface": "^(eth1)$"}, "interface=eth0")  # the resource wins
    assert rule == ("interface", ["^(eth1)$"])
    assert standin.pick_address(LINKS, *rule) == ("eth1", "172.31.214.11")
    assert standin.pick_address(LINKS, *standin.autodetect_rule(None, None)) == ("eth0", "172.31.213.11")
    assert standin.pick_address(LINKS, *standin.autodetect_rule(None, "cidr=172.31.214.0/24")) == (
        "eth1", "172.31.214.11")
    assert standin.pick_address(LINKS, *standin.autodetect_rule({"skipInterface": "eth0"}, None)) == (
        "eth1", "172.31.214.11")
    assert standin.pick_address(LINKS, "interface", ["^(eth9)$"]) is None
    with pytest.raises(SystemExit, match=r"IP_AUTODETECTION_METHOD 'can-reach=8\.8\.8\.8'"):
        standin.autodetect_rule(None, "can-reach=8.8.8.8")


def test_each_node_keeps_its_own_block_and_the_first_address_of_it(standin: ModuleType, tmp_path: Path) -> None:
    claims = {n: standin.claim_block(tmp_path, "10.100.0.0/16", 26, n) for n in ("c3", "c1", "c2")}
    assert claims == {"c3": 0, "c1": 1, "c2": 2}  # first come, first served, as Calico IPAM
    assert standin.claim_block(tmp_path, "10.100.0.0/16", 26, "c1") == 1  # held, not claimed again
    assert [standin.tunnel_address("10.100.0.0/16", 26, i) for i in range(3)] == [
        "10.100.0.1/16", "10.100.0.65/16", "10.100.0.129/16"]
    assert standin.tunnel_address("10.100.0.0/30", 32, 1) == "10.100.0.1/30"  # a /32 block is its one address
    with pytest.raises(ValueError, match=r"block 4 is outside pool 10\.100\.0\.0/30"):
        standin.tunnel_address("10.100.0.0/30", 32, 4)
    standin.claim_block(tmp_path, "10.100.0.0/25", 26, "a")
    standin.claim_block(tmp_path, "10.100.0.0/25", 26, "b")
    with pytest.raises(SystemExit, match=r"pool 10\.100\.0\.0/25: all 2 blocks of /26 are taken"):
        standin.claim_block(tmp_path, "10.100.0.0/25", 26, "c")


def test_the_peers_are_the_other_nodes_of_the_same_pool(standin: ModuleType, tmp_path: Path) -> None:
    for name, ip, pool in (("a", "172.31.214.11", "10.100.0.0/16"), ("b", "172.31.214.12", "10.100.0.0/16"),
                           ("x", "172.31.214.20", "10.200.0.0/16")):
        standin.write_node(tmp_path, {"name": name, "ipv4": ip, "pool": pool, "tunnel": ""})
    (tmp_path / "nodes" / "torn.json").write_text('{"name": "torn", "ipv4"')  # being written: skipped
    assert standin.peers(tmp_path, "a", "10.100.0.0/16") == ["172.31.214.12"]
    assert standin.peers(tmp_path, "x", "10.200.0.0/16") == []
    before = standin._inputs(tmp_path / "none.yaml", tmp_path)
    standin.write_node(tmp_path, {"name": "a", "ipv4": "172.31.214.11", "pool": "10.100.0.0/16", "tunnel": ""})
    assert standin._inputs(tmp_path / "none.yaml", tmp_path) == before  # the same record is not rewritten
    standin.remove_node(tmp_path, "b")
    assert standin.peers(tmp_path, "a", "10.100.0.0/16") == []
    assert json.loads((tmp_path / "nodes" / "a.json").read_text())["ipv4"] == "172.31.214.11"
