"""Calico resources from the plan: render, validate against the upstream CRD schemas, refuse block-size changes.

Pure apart from reading the CRD files. The input is one cluster's group_vars as :func:`pyctl.plan.group_vars`
writes them (``calico_veth_mtu``, ``calico_ipv4pool_cidr``, ``calico_block_size``, ...); nothing is re-derived
here, only put into the shape each Calico resource wants.

Resources (both install methods get FelixConfiguration and IPAMConfig):
  operator   ``Installation`` (operator.tigera.io/v1): ``calicoNetwork.mtu`` and the IP pools; the operator
             creates the IPPools from it, so no IPPool is rendered.
  manifest   ``IPPool`` (crd.projectcalico.org/v1) per family, and the ``calico-config`` ConfigMap's ``veth_mtu``
             (calico-node reads the veth and tunnel MTUs from it).
The kinds are the CRD kinds whose schemas ship in ``pyctl/data/calico-crds`` (the crd.projectcalico.org group
names the IPAM resource ``IPAMConfig``; calicoctl's projectcalico.org/v3 calls it ``IPAMConfiguration``).

:func:`validate` checks each resource against the ``openAPIV3Schema`` of its CRD with ``jsonschema``, with
unknown fields reported (the API server's strict field validation would reject them) and with the CRDs'
CEL rules (``x-kubernetes-validations``) that jsonschema cannot evaluate re-stated for the fields pyctl sets.

The calico role reaches all of this through ``plugins/filter/pyctl_calico.py`` (the path probes' peers are
:func:`pyctl.plan.mtu.probe_peers`).
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# types-jsonschema is not a dev dependency (yet): ignored until it is, then the ignore is unused.
import jsonschema  # type: ignore[import-untyped, unused-ignore]
import yaml

from pyctl.paths import DATA
from pyctl.plan import ipam

# The CRD schemas are upstream data files (pyctl/data/calico-crds/README.md names their sources) shipped in
# the package, so an installed pyctl validates against what it carries; PYCTL_CALICO_CRD_DIR points
# elsewhere (another Calico release's CRDs).
CRD_DIR_ENV = "PYCTL_CALICO_CRD_DIR"

API_OPERATOR = "operator.tigera.io/v1"
API_CALICO = "crd.projectcalico.org/v1"
INSTALL_METHODS = ("operator", "manifest")

# Names Calico itself uses: the operator reads the Installation "default", Felix and IPAM the "default"
# FelixConfiguration and IPAMConfig; the operator names the pools it creates default-ipv4/ipv6-ippool.
DEFAULT_NAME = "default"
POOL_NAMES = {"ipv4": "default-ipv4-ippool", "ipv6": "default-ipv6-ippool"}
CALICO_CONFIG = ("kube-system", "calico-config")

# Installation ipPools[].encapsulation (operator.tigera.io CRD enum) from the IPPool modes the plan computes.
_OPERATOR_ENCAPSULATION = {
    ("Always", "Never"): "IPIP", ("CrossSubnet", "Never"): "IPIPCrossSubnet",
    ("Never", "Always"): "VXLAN", ("Never", "CrossSubnet"): "VXLANCrossSubnet",
    ("Never", "Never"): "None",
}
_FELIX_FIELDS = ("ipipEnabled", "vxlanEnabled", "wireguardEnabled", "wireguardEnabledV6")


def default_crd_dir() -> Path:
    """``$PYCTL_CALICO_CRD_DIR``, else the CRDs the package carries (``pyctl/data/calico-crds``)."""
    env = os.environ.get(CRD_DIR_ENV)
    return Path(env) if env else DATA / "calico-crds"


# --- render ------------------------------------------------------------------------------------------

def _require(cluster_vars: Mapping[str, Any], key: str) -> Any:
    if cluster_vars.get(key) is None:
        raise ValueError(f"{key} missing from the cluster's plan variables (run `pyctl plan` for the cluster)")
    return cluster_vars[key]


def _pools(cluster_vars: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """(family, cidr, block size) of each pool the plan names, IPv4 first."""
    out = []
    if cluster_vars.get("calico_ipv4pool_cidr"):
        out.append(("ipv4", str(cluster_vars["calico_ipv4pool_cidr"]),
                    int(_require(cluster_vars, "calico_block_size"))))
    if cluster_vars.get("calico_ipv6pool_cidr"):
        out.append(("ipv6", str(cluster_vars["calico_ipv6pool_cidr"]),
                    int(_require(cluster_vars, "calico_ipv6_block_size"))))
    if not out:
        raise ValueError("no pod pool in the cluster's plan variables (calico_ipv4pool_cidr / calico_ipv6pool_cidr)")
    return out


def _modes(cluster_vars: Mapping[str, Any], family: str) -> tuple[str, str]:
    ipip = str(cluster_vars.get("calico_ipip_mode") or "Never")
    vxlan = str(cluster_vars.get("calico_vxlan_mode") or "Never")
    if ipip != "Never" and vxlan != "Never":
        # IPPool CRD rule: "ipipMode and vxlanMode cannot both be enabled".
        raise ValueError(f"calico_ipip_mode {ipip} and calico_vxlan_mode {vxlan}: a Calico pool has one "
                         "encapsulation, IP-in-IP or VXLAN, not both")
    # Calico has no IP-in-IP for IPv6: the IPv6 pool of a dual-stack IP-in-IP cluster is unencapsulated.
    return ("Never" if family == "ipv6" else ipip), vxlan


def render_resources(cluster_vars: Mapping[str, Any], *, install_method: str = "operator",
                     nat_outgoing: bool = True, node_selector: str = "all()",
                     node_interfaces: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The Calico resources of one cluster from its plan variables, in the order to apply them.

    ``nat_outgoing`` and ``node_selector`` are site policy, not plan values: they apply to every pool.
    ``node_interfaces`` are the cluster's pod-traffic NICs (NetBox): an operator install tells calico-node to
    take each node's address from one of them (``nodeAddressAutodetectionV4.interface``, a regex calico-node
    matches unanchored, so it is anchored here); Calico's default, first-found, takes the first NIC it lists,
    often the management one, and the tunnels would run over a NIC the plan's MTU was not computed for.
    (Manifest installs set calico-node's IP_AUTODETECTION_METHOD in calico.yaml, which pyctl does not render.)
    ValueError when a plan variable the resources need is missing or the modes contradict each other.
    """
    if install_method not in INSTALL_METHODS:
        raise ValueError(f"install method {install_method!r} is not one of {', '.join(INSTALL_METHODS)}")
    veth_mtu = int(_require(cluster_vars, "calico_veth_mtu"))
    felix = dict(_require(cluster_vars, "calico_felix_encapsulation"))
    unknown = sorted(set(felix) - set(_FELIX_FIELDS))
    if unknown:
        raise ValueError(f"calico_felix_encapsulation has unknown fields {', '.join(unknown)}")
    pools = _pools(cluster_vars)
    out: list[dict[str, Any]] = []
    if install_method == "operator":
        ip_pools = []
        for family, cidr, block in pools:
            ipip, vxlan = _modes(cluster_vars, family)
            ip_pools.append({"name": POOL_NAMES[family], "cidr": cidr, "blockSize": block,
                             "encapsulation": _OPERATOR_ENCAPSULATION[(ipip, vxlan)],
                             "natOutgoing": "Enabled" if nat_outgoing else "Disabled",
                             "nodeSelector": node_selector})
        network: dict[str, Any] = {"mtu": veth_mtu, "ipPools": ip_pools}
        if node_interfaces:
            names = sorted(set(node_interfaces))
            network["nodeAddressAutodetectionV4"] = {"interface": f"^({'|'.join(re.escape(n) for n in names)})$"}
        out.append({"apiVersion": API_OPERATOR, "kind": "Installation", "metadata": {"name": DEFAULT_NAME},
                    "spec": {"calicoNetwork": network}})
    else:
        namespace, name = CALICO_CONFIG
        # calico-node takes the veth MTU and each tunnel's MTU from this key (Calico docs, configuring/mtu);
        # ConfigMap data are strings.
        out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                    "data": {"veth_mtu": str(veth_mtu)}})
        for family, cidr, block in pools:
            ipip, vxlan = _modes(cluster_vars, family)
            out.append({"apiVersion": API_CALICO, "kind": "IPPool", "metadata": {"name": POOL_NAMES[family]},
                        "spec": {"cidr": cidr, "blockSize": block, "ipipMode": ipip, "vxlanMode": vxlan,
                                 "natOutgoing": nat_outgoing, "nodeSelector": node_selector}})
    # Every switch written, the unused ones false: left on, Calico's MTU auto-detection picks a smaller MTU.
    out.append({"apiVersion": API_CALICO, "kind": "FelixConfiguration", "metadata": {"name": DEFAULT_NAME},
                "spec": {f: bool(felix.get(f, False)) for f in _FELIX_FIELDS}})
    out.append({"apiVersion": API_CALICO, "kind": "IPAMConfig", "metadata": {"name": DEFAULT_NAME},
                "spec": {"autoAllocateBlocks": True,
                         "strictAffinity": bool(cluster_vars.get("calico_strict_affinity", False)),
                         "maxBlocksPerHost": int(cluster_vars.get("calico_max_blocks_per_host")
                                                 or ipam.MAX_BLOCKS_PER_HOST)}})
    return out


# --- validate ----------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=8)
def _load_schemas(crd_dir: str, stamp: tuple[tuple[str, float], ...]) -> dict[tuple[str, str], dict[str, Any]]:
    del stamp  # part of the cache key only: a changed file is read again
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the Installation CRD is 1.5 MB: 0.1 s vs 1.4 s
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(Path(crd_dir).glob("*.yaml")):
        crd = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
        if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = version.get("schema", {}).get("openAPIV3Schema")
            if schema is not None:
                schemas[(f"{group}/{version['name']}", kind)] = _closed(schema)
    return schemas


def _closed(schema: Any) -> Any:
    """The schema with unknown fields refused wherever the API server would prune them.

    A structural schema's object with ``properties`` keeps only those (unless it preserves unknown fields);
    ``kubectl apply`` (strict field validation) rejects the rest, so a typo such as ``vxlanEnable`` is an error
    here rather than a silently dropped switch.
    """
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if ("properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def crd_schemas(crd_dir: str | os.PathLike[str] | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) → openAPIV3Schema of every CRD in ``crd_dir`` (default :func:`default_crd_dir`)."""
    path = Path(crd_dir) if crd_dir else default_crd_dir()
    if not path.is_dir():
        raise ValueError(f"Calico CRD directory {path} not found (set {CRD_DIR_ENV})")
    stamp = tuple((p.name, p.stat().st_mtime) for p in sorted(path.glob("*.yaml")))
    return _load_schemas(str(path.resolve()), stamp)


def _is_cidr(value: object) -> bool:
    # Kubernetes' "cidr" format: a parsable prefix (host bits are the CEL rule's business, below).
    if isinstance(value, str):
        ipaddress.ip_network(value, strict=False)
    return True


_FORMATS = jsonschema.FormatChecker()
_FORMATS.checks("cidr", raises=ValueError)(_is_cidr)


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(root)"


def _pool_rules(where: str, cidr: Any, block: Any, encapsulated_ipip: bool) -> list[str]:
    """The IPPool CRD's CEL rules (x-kubernetes-validations) for the fields pyctl sets."""
    if not isinstance(cidr, str):
        return []
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return []  # the format check has reported it
    problems = []
    if str(net) != cidr:
        problems.append(f"{where}.cidr: IPPool CIDR must be strictly masked ({cidr} is not {net})")
    family = "ipv4" if net.version == 4 else "ipv6"
    if isinstance(block, int) and not isinstance(block, bool):
        lo, hi = ipam.BLOCK_RANGE[family]
        if not lo <= block <= hi:
            problems.append(f"{where}.blockSize: blockSize must be between {lo} and {hi} for {family} pools, "
                            f"got {block}")
        elif block < net.prefixlen:
            problems.append(f"{where}.blockSize: block /{block} is larger than the pool {net}")
    if family == "ipv6" and encapsulated_ipip:
        problems.append(f"{where}: IPIP is not supported on IPv6 pools")
    return problems


def _semantic(resource: Mapping[str, Any], label: str) -> list[str]:
    spec = resource.get("spec")
    if not isinstance(spec, Mapping):
        return []
    kind = resource.get("kind")
    if kind == "IPPool":
        ipip, vxlan = spec.get("ipipMode", "Never"), spec.get("vxlanMode", "Never")
        problems = _pool_rules(f"{label}: spec", spec.get("cidr"), spec.get("blockSize"),
                               ipip not in ("Never", "", None))
        if ipip not in ("Never", "", None) and vxlan not in ("Never", "", None):
            problems.append(f"{label}: spec: ipipMode and vxlanMode cannot both be enabled")
        return problems
    if kind == "Installation":
        network = spec.get("calicoNetwork")
        pools = network.get("ipPools") if isinstance(network, Mapping) else None
        problems = []
        for i, pool in enumerate(pools if isinstance(pools, list) else []):
            if isinstance(pool, Mapping):
                problems += _pool_rules(f"{label}: spec.calicoNetwork.ipPools[{i}]", pool.get("cidr"),
                                        pool.get("blockSize"),
                                        str(pool.get("encapsulation", "")).startswith("IPIP"))
        return problems
    return []


def _config_map_problems(resource: Mapping[str, Any], label: str) -> list[str]:
    # A core kind (no CRD): the shape kube-apiserver requires of ConfigMap data.
    data = resource.get("data", {})
    if not isinstance(data, Mapping):
        return [f"{label}: data: must be a mapping of strings"]
    return [f"{label}: data.{k}: {v!r} is not of type 'string'" for k, v in data.items() if not isinstance(v, str)]


def validate(resources: Sequence[Mapping[str, Any]], crd_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """Every way ``resources`` break their CRD schemas, one line each: ``<Kind>/<name>: <field path>: <error>``.

    [] when all are valid. A kind without a CRD in ``crd_dir`` is an error, except ConfigMap (checked for
    string data).
    """
    schemas = crd_schemas(crd_dir)
    problems: list[str] = []
    for res in resources:
        if not isinstance(res, Mapping):
            problems.append(f"{res!r}: not a Kubernetes resource (a mapping)")
            continue
        meta = res.get("metadata")
        name = meta.get("name") if isinstance(meta, Mapping) else None
        label = f"{res.get('kind', '?')}/{name or '?'}"
        if not name:
            problems.append(f"{label}: metadata.name: required")
        api, kind = str(res.get("apiVersion", "")), str(res.get("kind", ""))
        if (api, kind) == ("v1", "ConfigMap"):
            problems += _config_map_problems(res, label)
            continue
        schema = schemas.get((api, kind))
        if schema is None:
            known = ", ".join(f"{a} {k}" for a, k in sorted(schemas))
            problems.append(f"{label}: no CRD schema for apiVersion {api} kind {kind} (have: {known})")
            continue
        validator = jsonschema.Draft4Validator(schema, format_checker=_FORMATS)
        errors = sorted(validator.iter_errors(dict(res)), key=lambda e: (_path(e.absolute_path), e.message))
        problems += [f"{label}: {_path(e.absolute_path)}: {e.message}" for e in errors]
        problems += _semantic(res, label)
    return problems


# --- block size ----------------------------------------------------------------------------------------

def pools_of(resources: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Pool CIDR → block size, from IPPools and Installations (Calico's default block where none is set)."""
    out: dict[str, int] = {}

    def add(cidr: Any, block: Any) -> None:
        if not isinstance(cidr, str):
            return
        net = ipaddress.ip_network(cidr, strict=False)
        family = "ipv4" if net.version == 4 else "ipv6"
        out[str(net)] = int(block) if block is not None else ipam.DEFAULT_BLOCK[family]

    for res in resources:
        spec = res.get("spec") if isinstance(res, Mapping) else None
        if not isinstance(spec, Mapping):
            continue
        if res.get("kind") == "IPPool":
            add(spec.get("cidr"), spec.get("blockSize"))
        elif res.get("kind") == "Installation":
            network = spec.get("calicoNetwork")
            for pool in (network.get("ipPools") or []) if isinstance(network, Mapping) else []:
                if isinstance(pool, Mapping):
                    add(pool.get("cidr"), pool.get("blockSize"))
    return out


def block_size_change_problems(deployed: Iterable[Mapping[str, Any]], wanted: Iterable[Mapping[str, Any]]) -> list[str]:
    """A wanted pool whose CIDR is deployed with another block size: refused (Calico cannot change it in place).

    ``deployed`` and ``wanted`` are resources (IPPool or Installation), e.g. what the API or the manifests
    written last time hold, and what :func:`render_resources` gives now.
    """
    have = pools_of(deployed)
    problems = []
    for cidr, block in sorted(pools_of(wanted).items()):
        family = "ipv4" if ipaddress.ip_network(cidr).version == 4 else "ipv6"
        problems += [f"pool {cidr}: {p}" for p in ipam.block_change_problems(block, have.get(cidr), family)]
    return problems
