"""The whole chain on real parts: NetBox -> `pyctl inventory lab` -> Ansible -> the lab hosts."""

from __future__ import annotations

import subprocess

import pytest

from pyctl.dev import lab
from tests.integration.conftest import NetBoxBed, run_pyctl

pytestmark = [pytest.mark.lab, pytest.mark.netbox]


def test_lab_hosts_are_in_netbox_with_their_real_mtu(registered: list[lab.LabHost], netbox_bed: NetBoxBed) -> None:
    doc = run_pyctl("inventory", "lab", "--json", env=netbox_bed.env()).json()
    hosts = {h["name"]: h for c in doc["clusters"] for h in c["hosts"]}
    assert sorted(hosts) == [h.name for h in registered]
    for h in registered:
        real = int(subprocess.run(["podman", "exec", h.name, "cat", "/sys/class/net/eth1/mtu"], capture_output=True,
                                  text=True, check=True).stdout)
        # eth0 (the primary IP) is where Ansible and SSH go; eth1, the pod-traffic interface, has its own address.
        host = hosts[h.name]
        assert (host["address"], host["underlay_nic"], host["underlay_mtu"], host["pod_address"]) == (
            h.ip, "eth1", real, h.pod_ip)
        assert h.pod_ip != h.ip
    roles = [hosts[h.name]["role"] for h in registered]
    assert roles[:4] == ["etcd", "etcd", "etcd", "control-plane"]
    assert set(roles[4:]) == {"gpu-worker"}


def test_pyctl_runs_a_playbook_over_the_netbox_inventory(registered: list[lab.LabHost],
                                                          netbox_bed: NetBoxBed) -> None:
    result = run_pyctl("run", "lab", "ping", "--json", env=netbox_bed.env())
    assert result.code == 0, result.stderr
    report = result.json()
    assert sorted(report["hosts"]) == [h.name for h in registered]
    assert {r["status"] for r in report["hosts"].values()} == {"ok"}
    assert "task: Ping" in result.stderr  # live progress


def test_a_stopped_host_is_unreachable_exit_4_and_the_others_finish(registered: list[lab.LabHost],
                                                                    netbox_bed: NetBoxBed) -> None:
    victim = registered[-1].name
    subprocess.run(["podman", "stop", "-t", "0", victim], check=True, capture_output=True)
    try:
        result = run_pyctl("run", "lab", "ping", "--json", env=netbox_bed.env())
    finally:
        lab.up(len(registered))
    assert result.code == 4, result.stderr
    statuses = {h: r["status"] for h, r in result.json()["hosts"].items()}
    assert statuses.pop(victim) == "unreachable"
    assert set(statuses.values()) == {"ok"}
    assert len(statuses) == len(registered) - 1


def test_bad_extra_var_is_refused_before_any_host_is_touched(registered: list[lab.LabHost],
                                                             netbox_bed: NetBoxBed) -> None:
    result = run_pyctl("run", "lab", "ping", "-e", "not a var", env=netbox_bed.env())
    assert result.code == 3
    assert result.stderr == "pyctl: error: -e takes KEY=VALUE with KEY a variable name, got 'not a var'\n"
