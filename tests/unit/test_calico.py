"""pyctl.plan.calico and its filter plugin: Calico resources rendered from a real plan (compute_plan + group_vars of a
hand-built inventory), validated against the upstream CRD schemas the package carries (pyctl/data/calico-crds),
block-size changes refused, and the helpers behind the calico role's proof on the wire."""

from __future__ import annotations

import base64
import inspect
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from pyctl.inventory import Cluster, Gpu, Host, Inventory, Prefix
from pyctl.plan import PlanSettings, calico, compute_plan, group_vars, mtu
from tests.load import load_file

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "plugins" / "filter" / "pyctl_calico.py"
PROBE = REPO / "roles" / "calico" / "files" / "calico-path-mtu.py"
MOLECULE = REPO / "roles" / "calico" / "molecule" / "default" / "molecule.yml"

PREFIXES = (
    Prefix("10.0.0.0/8", "datacenter", "prod", None, "container", "dc2"),
    Prefix("10.2.0.0/24", "node-network", "prod", "mgmt", "active", "dc2"),
    Prefix("10.2.1.0/24", "node-network", "prod", "gpu-a", "active", "dc2"),
    Prefix("10.100.0.0/16", "pod-network", "prod", "gpu-a", "active", "dc2"),
    Prefix("10.101.0.0/16", "service-network", "prod", "gpu-a", "active", "dc2"),
    Prefix("fd00:100::/56", "pod-network", "prod", "gpu-a", "active", "dc2"),
    Prefix("fd00:101::/108", "service-network", "prod", "gpu-a", "active", "dc2"),
    Prefix("10.110.0.0/16", "pod-network", "prod", "mgmt", "active", "dc2"),
    Prefix("10.111.0.0/16", "service-network", "prod", "mgmt", "active", "dc2"),
)


def _host(name: str, cluster: str, role: str, address: str, mtu: int) -> Host:
    gpu = Gpu("H100-80GB", 8, True, None) if role == "gpu-worker" else None
    return Host(name=name, site="dc2", rack="r1", role=role, cluster=cluster, address=address,
                address_cidr=f"{address}/24", underlay_nic="ens1f0", underlay_mtu=mtu, platform="debian-12",
                status="active", device_type="dgx-h100" if gpu else "r760", gpu=gpu)


def _inventory(workers: int = 4, mtu: int = 9000) -> Inventory:
    mgmt = tuple([_host(f"mgmt-etcd{i}", "mgmt", "etcd", f"10.2.0.{10 + i}", 9000) for i in (1, 2, 3)]
                 + [_host(f"mgmt-cp{i}", "mgmt", "control-plane", f"10.2.0.{20 + i}", 9000) for i in (1, 2, 3)])
    gpu = tuple(_host(f"gpu-a-w{i:02d}", "gpu-a", "gpu-worker", f"10.2.1.{i + 1}", mtu) for i in range(workers))
    return Inventory(site="dc2", clusters=(Cluster("gpu-a", "workload", gpu), Cluster("mgmt", "management", mgmt)),
                     prefixes=PREFIXES)


def _plan_vars(workers: int = 4, mtu: int = 9000, **settings: Any) -> dict[str, Any]:
    plan = compute_plan(_inventory(workers, mtu), PlanSettings(**settings))
    assert plan.violations == []
    return group_vars(plan)["cluster_gpu_a"]


@pytest.fixture(scope="module")
def plan_vars() -> dict[str, Any]:
    """cluster_gpu_a's group_vars: 4 workers with 9000-byte NICs, VXLAN, pool 10.100.0.0/16 in /26 blocks."""
    return _plan_vars()


@pytest.fixture(scope="module")
def crd_dir() -> Path:
    path = calico.default_crd_dir()
    assert path.is_dir(), f"the Calico CRD schemas are expected in {path} (or set {calico.CRD_DIR_ENV})"
    return path


def _by_kind(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["kind"]: r for r in resources}


# --- rendering ---------------------------------------------------------------------------------------

def test_operator_install_puts_mtu_and_pool_from_the_plan_into_the_installation(plan_vars):
    resources = calico.render_resources(plan_vars)
    assert [r["kind"] for r in resources] == ["Installation", "FelixConfiguration", "IPAMConfig"]
    inst = resources[0]
    assert (inst["apiVersion"], inst["metadata"]) == ("operator.tigera.io/v1", {"name": "default"})
    # Calico MTU docs: 9000 - 50 (VXLAN over IPv4).
    assert inst["spec"]["calicoNetwork"] == {
        "mtu": 8950,
        "ipPools": [{"name": "default-ipv4-ippool", "cidr": "10.100.0.0/16", "blockSize": 26,
                     "encapsulation": "VXLAN", "natOutgoing": "Enabled", "nodeSelector": "all()"}],
    }
    assert resources[2]["spec"] == {"autoAllocateBlocks": True, "strictAffinity": False, "maxBlocksPerHost": 20}


def test_manifest_install_sets_calico_config_veth_mtu_and_ip_pools(plan_vars):
    resources = _by_kind(calico.render_resources(plan_vars, install_method="manifest", nat_outgoing=False,
                                                 node_selector="pyctl/pool == 'gpu'"))
    assert set(resources) == {"ConfigMap", "IPPool", "FelixConfiguration", "IPAMConfig"}
    cm = resources["ConfigMap"]
    assert cm["metadata"] == {"name": "calico-config", "namespace": "kube-system"}
    assert cm["data"] == {"veth_mtu": "8950"}
    assert resources["IPPool"]["spec"] == {"cidr": "10.100.0.0/16", "blockSize": 26, "ipipMode": "Never",
                                           "vxlanMode": "Always", "natOutgoing": False,
                                           "nodeSelector": "pyctl/pool == 'gpu'"}


def test_unused_encapsulations_are_disabled_in_felix_configuration(plan_vars):
    felix = _by_kind(calico.render_resources(plan_vars))["FelixConfiguration"]["spec"]
    assert felix == {"ipipEnabled": False, "vxlanEnabled": True, "wireguardEnabled": False,
                     "wireguardEnabledV6": False}


def test_wireguard_dual_stack_enables_both_wireguard_switches_and_leaves_pools_unencapsulated():
    gv = _plan_vars(encapsulations=("wireguard",), ip_family="dual")
    resources = _by_kind(calico.render_resources(gv))
    assert resources["FelixConfiguration"]["spec"] == {"ipipEnabled": False, "vxlanEnabled": False,
                                                       "wireguardEnabled": True, "wireguardEnabledV6": True}
    net = resources["Installation"]["spec"]["calicoNetwork"]
    # Calico MTU docs: WireGuard over IPv6 takes 80, the larger overhead wins: 9000 - 80.
    assert net["mtu"] == 8920
    assert [(p["name"], p["cidr"], p["blockSize"], p["encapsulation"]) for p in net["ipPools"]] == [
        ("default-ipv4-ippool", "10.100.0.0/16", 26, "None"),
        ("default-ipv6-ippool", "fd00:100::/56", 122, "None"),
    ]


def test_ipip_dual_stack_encapsulates_only_the_ipv4_pool(crd_dir):
    gv = _plan_vars(encapsulations=("ipip", "vxlan"), ip_family="dual")
    with pytest.raises(ValueError, match="a Calico pool has one encapsulation"):
        calico.render_resources(gv)
    gv = _plan_vars(encapsulations=("ipip",), ip_family="dual")
    pools = {p["metadata"]["name"]: p["spec"] for p in calico.render_resources(gv, install_method="manifest")
             if p["kind"] == "IPPool"}
    assert (pools["default-ipv4-ippool"]["ipipMode"], pools["default-ipv6-ippool"]["ipipMode"]) == ("Always", "Never")
    assert calico.validate(calico.render_resources(gv, install_method="manifest"), crd_dir) == []


def test_missing_plan_variable_is_named(plan_vars):
    broken = {k: v for k, v in plan_vars.items() if k != "calico_veth_mtu"}
    with pytest.raises(ValueError, match="calico_veth_mtu missing from the cluster's plan variables"):
        calico.render_resources(broken)
    with pytest.raises(ValueError, match="install method 'helm'"):
        calico.render_resources(plan_vars, install_method="helm")


# --- validation --------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", calico.INSTALL_METHODS)
def test_rendered_resources_are_valid_against_the_crd_schemas(plan_vars, crd_dir, method):
    assert calico.validate(calico.render_resources(plan_vars, install_method=method), crd_dir) == []


def test_dual_stack_resources_are_valid(crd_dir):
    gv = _plan_vars(ip_family="dual")
    for method in calico.INSTALL_METHODS:
        assert calico.validate(calico.render_resources(gv, install_method=method), crd_dir) == []


def test_schema_errors_name_the_resource_the_field_and_the_rule(plan_vars, crd_dir):
    resources = calico.render_resources(plan_vars)
    inst, felix, ipam_config = resources
    inst["spec"]["calicoNetwork"]["mtu"] = "8950"
    inst["spec"]["calicoNetwork"]["ipPools"][0]["encapsulation"] = "Vxlan"
    felix["spec"]["vxlanEnable"] = True
    del ipam_config["spec"]["strictAffinity"]
    assert calico.validate(resources, crd_dir) == [
        "Installation/default: spec.calicoNetwork.ipPools[0].encapsulation: 'Vxlan' is not one of "
        "['IPIPCrossSubnet', 'IPIP', 'VXLAN', 'VXLANCrossSubnet', 'None']",
        "Installation/default: spec.calicoNetwork.mtu: '8950' is not of type 'integer'",
        "FelixConfiguration/default: spec: Additional properties are not allowed ('vxlanEnable' was unexpected)",
        "IPAMConfig/default: spec: 'strictAffinity' is a required property",
    ]


def test_ippool_cel_rules_and_cidr_format_are_checked(plan_vars, crd_dir):
    pool = _by_kind(calico.render_resources(plan_vars, install_method="manifest"))["IPPool"]
    pool["spec"].update(cidr="10.100.0.1/16", blockSize=33, ipipMode="Always")
    bad_format = {**pool, "metadata": {"name": "bad"}, "spec": {**pool["spec"], "cidr": "10.100.0.0/33"}}
    assert calico.validate([pool, bad_format], crd_dir) == [
        "IPPool/default-ipv4-ippool: spec.cidr: IPPool CIDR must be strictly masked (10.100.0.1/16 is not "
        "10.100.0.0/16)",
        "IPPool/default-ipv4-ippool: spec.blockSize: blockSize must be between 20 and 32 for ipv4 pools, got 33",
        "IPPool/default-ipv4-ippool: spec: ipipMode and vxlanMode cannot both be enabled",
        "IPPool/bad: spec.cidr: '10.100.0.0/33' is not a 'cidr'",
        "IPPool/bad: spec: ipipMode and vxlanMode cannot both be enabled",
    ]


def test_kind_without_a_crd_and_nameless_resource_are_errors(crd_dir):
    problems = calico.validate([{"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {}}], crd_dir)
    assert problems[0] == "IPPool/?: metadata.name: required"
    assert problems[1].startswith("IPPool/?: no CRD schema for apiVersion projectcalico.org/v3 kind IPPool (have: ")
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "calico-config"}, "data": {"veth_mtu": 8950}}
    assert calico.validate([cm], crd_dir) == ["ConfigMap/calico-config: data.veth_mtu: 8950 is not of type 'string'"]


def test_crd_dir_comes_from_the_environment(monkeypatch, tmp_path, plan_vars):
    monkeypatch.setenv(calico.CRD_DIR_ENV, str(tmp_path / "nowhere"))
    assert calico.default_crd_dir() == tmp_path / "nowhere"
    with pytest.raises(ValueError, match=r"Calico CRD directory .*nowhere not found \(set PYCTL_CALICO_CRD_DIR\)"):
        calico.validate(calico.render_resources(plan_vars))


def test_default_crd_dir_is_the_package_data(monkeypatch):
    monkeypatch.delenv(calico.CRD_DIR_ENV, raising=False)
    assert calico.default_crd_dir() == REPO / "pyctl" / "data" / "calico-crds"
    assert sorted(p.name for p in calico.default_crd_dir().glob("*.yaml")) == [
        "crd.projectcalico.org_felixconfigurations.yaml", "crd.projectcalico.org_ipamconfigs.yaml",
        "crd.projectcalico.org_ippools.yaml", "operator.tigera.io_installations.yaml"]


# --- block size ----------------------------------------------------------------------------------------

def test_block_size_change_against_a_deployed_pool_is_refused(plan_vars):
    deployed = calico.render_resources(plan_vars)
    wanted = calico.render_resources(_plan_vars(block_size=24))
    assert calico.block_size_change_problems(deployed, wanted) == [
        "pool 10.100.0.0/16: ipv4 block size /24 differs from the deployed /26; Calico cannot change the block size "
        "of a pool in place (only by migrating to a temporary pool), so keep /26"]
    assert calico.block_size_change_problems(deployed, deployed) == []
    assert calico.block_size_change_problems([], wanted) == []


def test_block_size_is_compared_across_kinds_and_defaults(plan_vars):
    # An IPPool read from the API without blockSize has Calico's default /26; the operator's Installation wants /24.
    api_pool = {"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool", "metadata": {"name": "p"},
                "spec": {"cidr": "10.100.0.0/16"}}
    wanted = calico.render_resources(_plan_vars(block_size=24))
    assert calico.pools_of([api_pool]) == {"10.100.0.0/16": 26}
    assert len(calico.block_size_change_problems([api_pool], wanted)) == 1
    other = {**api_pool, "spec": {"cidr": "10.200.0.0/16", "blockSize": 28}}
    assert calico.block_size_change_problems([other], wanted) == []


# --- node address and probes ----------------------------------------------------------------------------

def test_operator_installs_take_the_node_address_from_the_pod_traffic_nics():
    resources = calico.render_resources(_plan_vars(), node_interfaces=["eth1", "bond0.100", "eth1"])
    network = resources[0]["spec"]["calicoNetwork"]
    assert network["nodeAddressAutodetectionV4"] == {"interface": r"^(bond0\.100|eth1)$"}
    assert calico.validate(resources) == []
    assert "nodeAddressAutodetectionV4" not in calico.render_resources(_plan_vars())[0]["spec"]["calicoNetwork"]
    manifest = calico.render_resources(_plan_vars(), install_method="manifest", node_interfaces=["eth1"])
    assert "nodeAddressAutodetectionV4" not in str(manifest)  # calico.yaml's env, which pyctl does not render


def test_probe_peers_full_mesh_up_to_the_limit():
    hosts = [f"h{i:02d}" for i in range(mtu.FULL_MESH_MAX_HOSTS)]
    assert mtu.probe_peers(hosts, "h05") == [h for h in hosts[6:] + hosts[:5]]
    with pytest.raises(ValueError, match="x is not one of the 32 hosts"):
        mtu.probe_peers(hosts, "x")


def test_probe_peers_sample_above_the_limit_is_balanced_and_logarithmic():
    hosts = [f"h{i:04d}" for i in range(3000)]
    assert len(mtu.probe_peers(hosts, "h0000")) == 12  # ceil(log2(3000))
    small = [f"h{i:03d}" for i in range(100)]
    probed = Counter(p for h in small for p in mtu.probe_peers(small, h))
    # Offsets 1..64: every host probes 7 peers and is probed by 7.
    assert set(probed.values()) == {7}
    assert all(len(mtu.probe_peers(small, h)) == 7 for h in small)


def test_molecule_scenario_uses_the_values_the_plan_computes():
    # Three 1500-byte hosts with VXLAN and pool 10.100.0.0/16, as the scenario's podman bridge gives.
    scenario = yaml.safe_load(MOLECULE.read_text())["provisioner"]["inventory"]["group_vars"]["all"]
    gv = _plan_vars(workers=3, mtu=1500)
    plan = {k: v for k, v in gv.items() if k.startswith("calico_")}
    assert {k: scenario[k] for k in plan} == plan


# --- the probe script (roles/calico/files/calico-path-mtu.py) ---------------------------------------------

_load = load_file


def test_probe_reports_a_short_path_with_both_numbers():
    probe = _load(PROBE, "calico_path_mtu")
    spec = {"host": "lab-02", "underlay": {"mtu": 1500, "source": "NetBox", "peers": {"lab-03": "172.31.213.13",
                                                                                       "lab-04": ""}},
            "overlay": {"mtu": 1450, "source": "the plan", "device": "vxlan.calico", "peers": {"lab-03": "10.1.0.65"}}}
    paths = probe.paths_of(json.loads(base64.b64decode(base64.b64encode(json.dumps(spec).encode()))))
    assert [(p["kind"], p["peer"], p["mtu"]) for p in paths] == [("underlay", "lab-03", 1500),
                                                                  ("overlay", "lab-03", 1450)]
    assert probe.message("lab-02", {**paths[0], "ok": False, "largest": 1400}) == (
        "underlay path lab-02 → lab-03 carries 1400 bytes, NetBox says MTU 1500 (don't-fragment probes to "
        "172.31.213.13)")
    assert probe.message("lab-02", {**paths[1], "ok": False, "largest": 1350}).startswith(
        "overlay path lab-02 → lab-03 carries 1350 bytes, the plan says MTU 1450 (don't-fragment probes to "
        "10.1.0.65 over vxlan.calico)")


# --- the filter plugin ----------------------------------------------------------------------------------

plugin = _load(PLUGIN, "pyctl_calico_filter")
FILTERS = plugin.FilterModule().filters()


def test_every_filter_is_exposed_and_documented():
    assert set(FILTERS) == set(plugin.FILTERS)
    for name in FILTERS:
        # plugins/filter/<name>.yml, as ansible-doc -t filter <name> reads it
        docs = yaml.safe_load((PLUGIN.parent / f"{name}.yml").read_text())
        doc = docs["DOCUMENTATION"]
        assert doc["name"] == name
        params = list(inspect.signature(plugin.FILTERS[name]).parameters)
        assert list(doc["options"]) == ["_input", *params[1:]], name
        assert yaml.safe_load(docs["EXAMPLES"])
        assert "_value" in docs["RETURN"]


def test_filters_render_and_validate_like_pyctl(plan_vars, crd_dir):
    resources = FILTERS["pyctl_calico_resources"](plan_vars, "manifest")
    assert resources == calico.render_resources(plan_vars, install_method="manifest")
    assert FILTERS["pyctl_calico_validate"](resources, str(crd_dir)) == []
    assert FILTERS["pyctl_calico_block_size_problems"](resources, resources) == []
    assert FILTERS["pyctl_calico_probe_peers"](["a", "b", "c"], "b") == ["c", "a"]
    hosts = [f"h{i:03d}" for i in range(100)]  # the filter is the one peer rule, as the smoke check is
    assert FILTERS["pyctl_calico_probe_peers"](hosts, "h007", 10) == mtu.probe_peers(hosts, "h007", 10)


def test_filter_errors_are_ansible_filter_errors(plan_vars):
    with pytest.raises(AnsibleFilterError, match="pyctl_calico_resources: install method 'helm'"):
        FILTERS["pyctl_calico_resources"](plan_vars, "helm")
