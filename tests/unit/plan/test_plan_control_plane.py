"""Hosted control-plane sizing and placement (Kubernetes docs, cluster-large: control-plane size by node
count; HyperShift: 3 kube-apiserver replicas on distinct hosts)."""

from __future__ import annotations

import re

import pytest

from pyctl.plan.control_plane import apiserver_sizing, host_fit_problems, place_control_planes


def _exactly(message: str) -> str:
    """A pattern for pytest.raises that matches the whole message, not a part of it."""
    return f"^{re.escape(message)}$"


@pytest.mark.parametrize(("nodes", "millicores", "mib"), [
    (0, 1000, 3840), (5, 1000, 3840), (6, 2000, 7680), (100, 4000, 15360), (101, 8000, 30720), (500, 16000, 61440),
    (501, 32000, 122880), (5000, 32000, 122880),
])
def test_apiserver_requests_follow_the_control_plane_size_for_the_node_count(nodes, millicores, mib):
    s = apiserver_sizing(nodes)
    assert (s.cpu_millicores, s.memory_mib, s.replicas) == (millicores, mib, 3)


def test_sizing_reason_names_the_tier():
    assert apiserver_sizing(5000).reason == "5000 nodes: >500 nodes → n1-standard-32 (32 vCPU, 120 GB)"


def test_replicas_of_one_tenant_land_on_distinct_hosts():
    placement = place_control_planes({"gpu-a": apiserver_sizing(10)}, ["cp1", "cp2", "cp3", "cp4"])
    assert placement == {"gpu-a": ["cp1", "cp2", "cp3"]}


def test_tenants_spread_over_the_least_loaded_hosts_largest_first():
    tenants = {"big": apiserver_sizing(1000, 2), "small": apiserver_sizing(4, 2)}
    assert place_control_planes(tenants, ["cp1", "cp2", "cp3"]) == {"big": ["cp1", "cp2"], "small": ["cp1", "cp3"]}


def test_requests_above_host_capacity_are_reported():
    tenants = {"a": apiserver_sizing(5000), "b": apiserver_sizing(5000)}
    placement = place_control_planes(tenants, ["cp1", "cp2", "cp3"])
    assert host_fit_problems(placement, tenants, 48, None) == [
        f"control-plane host {h}: kube-apiserver requests 64 vCPU, above its 48" for h in ("cp1", "cp2", "cp3")]
    assert host_fit_problems(placement, tenants, None, None) == []


def test_zero_replicas_are_refused():
    with pytest.raises(ValueError, match=_exactly("replicas must be a positive integer, got 0")):
        apiserver_sizing(10, 0)
