"""compute_plan: the rules of mtu, ipam, etcd and control_plane applied to one data center's inventory."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import netaddr

from pyctl.inventory import ROLE_CONTROL_PLANE, ROLE_ETCD, Cluster, Inventory, Prefix
from pyctl.plan import control_plane as cp
from pyctl.plan import etcd, ipam, mtu
from pyctl.plan.model import ClusterPlan, Plan
from pyctl.plan.settings import PlanSettings

# NetBox prefix roles (slugs) the plan reads; see the module docstring of pyctl.plan.
ROLE_POD = "pod-network"
ROLE_SERVICE = "service-network"
ROLE_NODE = "node-network"
ROLE_DATACENTER = "datacenter"
SUPERNET_ROLES = frozenset({ROLE_DATACENTER, "aggregate"})
STATUS_CONTAINER = "container"

SOURCE_NETBOX = "NetBox: ipam.prefix role and cluster"
SOURCE_SETTINGS = "pyctl_plan settings (inventories/<dc>/group_vars/all/pyctl.yml)"

# Calico allocates each tunnel device's address from the node's block (Calico docs, reference/resources/ippool).
SOURCE_TUNNEL_ADDR = "Calico docs: reference/resources/ippool (tunnel addresses come from the pool)"


@dataclass
class _Ctx:
    inv: Inventory
    settings: PlanSettings
    plan: Plan
    overlap: list[ipam.NamedPrefix]
    proposed: list[ipam.NamedPrefix]
    measured_rtt_ms: Mapping[tuple[str, str], float] | None


def _label(p: Prefix) -> str:
    parts = [p.role or "no role"]
    if p.cluster:
        parts.append(f"cluster {p.cluster}")
    return f"{p.scope or p.site or 'global'} prefix {p.prefix} ({', '.join(parts)})"


def _local(inv: Inventory) -> list[Prefix]:
    """Prefixes this site's clusters may use: scoped to the site, or global (no site).

    Cluster names repeat across sites (every DC has a "mgmt"), so another site's prefix never
    serves this site's cluster, though it still counts in the overlap check of its VRF.
    """
    return [p for p in inv.prefixes if p.site in (inv.site, None)]


def _is_supernet(p: Prefix) -> bool:
    return p.role in SUPERNET_ROLES or p.status == STATUS_CONTAINER


def _family(cidr: str) -> str | None:
    try:
        return ipam.family_of(cidr)
    except ValueError:
        return None


def compute_plan(inv: Inventory, settings: PlanSettings | None = None,
                 measured_rtt_ms: Mapping[tuple[str, str], float] | None = None) -> Plan:
    """The plan of ``inv``: every computed value with reason and source, and every rule it breaks.

    ``measured_rtt_ms`` maps host-name pairs to measured round-trip times (either order); pairs among
    one etcd's members set its heartbeat. ``inv.prefixes`` holds the prefixes of every site: pod and
    service ranges are checked against every prefix of the same VRF, not only this site's.
    """
    settings = settings or PlanSettings()
    plan = Plan(site=inv.site, settings=settings)
    names = {c.name for c in inv.clusters}
    for n in sorted(settings.clusters):
        if n not in names:
            plan.violations.append(f"pyctl_plan.clusters.{n}: no cluster {n} in {inv.site}")

    overlap: list[ipam.NamedPrefix] = []
    for p in inv.prefixes:
        # Another site's record is that site's to fix: a warning here, never a stop for this site.
        local = p.site in (inv.site, None)
        if _family(p.prefix) is None:
            (plan.violations if local else plan.warnings).append(f"{_label(p)}: not a CIDR prefix")
            continue
        overlap.append(ipam.NamedPrefix(p.prefix, p.vrf, _label(p),
                                        checked=p.role in (ROLE_POD, ROLE_SERVICE) and not _is_supernet(p),
                                        supernet=_is_supernet(p), local=local))
    ctx = _Ctx(inv, settings, plan, overlap, [], measured_rtt_ms)

    # Hosts' own subnets first, so proposed pools and service ranges steer clear of them too.
    _node_networks(ctx)
    for c in inv.clusters:
        cplan = ClusterPlan(name=c.name, kind=c.kind, hosts=len(c.hosts))
        plan.clusters.append(cplan)
        if c.kind != "workload":
            # Management hosts run the hosted control planes and their etcd as systemd services:
            # no pod network, so no overlay MTU, pool or service range to plan for them.
            continue
        cs = settings.for_cluster(c.name)
        _families(c, cs, plan)
        _mtu(cplan, c, cs, plan)
        _ipam(cplan, c, cs, ctx)

    for a, b in ipam.overlap_pairs([*ctx.overlap, *ctx.proposed]):
        # An overlap that involves none of this site's prefixes (two of another site's) is that site's.
        (plan.violations if a.local or b.local else plan.warnings).append(
            f"prefixes: {ipam.describe_overlap(a, b)}" + ("" if a.local or b.local else
                                                          " (no prefix of this site: that site's to fix)"))
    _hosted_control_planes(ctx)
    return plan


def _families(c: Cluster, cs: PlanSettings, plan: Plan) -> None:
    """Every IP family the plan gives a cluster's pods must be on every host's pod-traffic interface."""
    for family in cs.families:
        lacking = [h.name for h in c.hosts if h.pod_addresses and family not in h.ip_families]
        if lacking:
            shown = ", ".join(lacking[:10]) + (f" and {len(lacking) - 10} more" if len(lacking) > 10 else "")
            plan.violations.append(f"cluster {c.name}: ip_family {cs.ip_family} needs {family} on every pod-traffic "
                                   f"interface, but NetBox has none on {len(lacking)} host(s): {shown}")


# --- 1. MTU ------------------------------------------------------------------------------------

def _mtu(cplan: ClusterPlan, c: Cluster, cs: PlanSettings, plan: Plan) -> None:
    where = f"cluster {c.name}"
    ebpf = cs.dataplane == "ebpf"
    try:
        m = mtu.plan_mtu({h.name: h.underlay_mtu for h in c.hosts}, cs.encapsulations, cs.families, ebpf=ebpf,
                         path_mtu=cs.path_mtu)
    except ValueError as exc:
        plan.violations.append(f"{where}: {exc}")
        return
    plan.findings.extend(f"{where}: {f}" for f in m.findings)
    plan.violations.extend(f"{where}: {v}" for v in m.violations)
    add = cplan.add
    src = mtu.SOURCE
    under_reason = (f"path MTU {cs.path_mtu} from pyctl_plan.path_mtu, below the NICs" if cs.path_mtu is not None
                    and m.underlay_mtu == cs.path_mtu and cs.path_mtu < min(h.underlay_mtu for h in c.hosts)
                    else f"smallest pod-traffic NIC MTU across {len(c.hosts)} nodes (NetBox interface mtu)")
    add("mtu", "underlay_mtu", m.underlay_mtu, under_reason, src, var="calico_underlay_mtu")
    encs = list(cs.encapsulations)
    add("mtu", "encapsulations", encs, f"in use per pyctl_plan.encapsulations ({cs.ip_family}"
        + (", eBPF data plane: NodePort traffic in VXLAN" if ebpf else "") + ")", SOURCE_SETTINGS,
        var="calico_encapsulations")
    add("mtu", "overheads", m.overheads, "bytes each tunnel in use adds (encapsulation/outer IP family)", src)
    if m.overheads:
        worst = max(m.overheads, key=lambda k: m.overheads[k])
        veth_reason = f"{m.underlay_mtu} - {m.overheads[worst]} ({worst}); with several in use the smallest wins"
    else:
        veth_reason = "no encapsulation: the underlay MTU"
    add("mtu", "veth_mtu", m.veth_mtu, veth_reason, src, var="calico_veth_mtu")
    add("mtu", "tunnel_mtu", m.tunnel_mtu, "equal to the veth MTU" if m.tunnel_mtu else "no tunnel device", src,
        var="calico_tunnel_mtu")
    add("mtu", "felix_encapsulation", m.felix, "FelixConfiguration tunnel switches: on only for what is in use", src,
        var="calico_felix_encapsulation")
    add("mtu", "disable_in_felix", m.disable,
        "disable in FelixConfiguration, or Calico's MTU auto-detection picks a smaller MTU", src)
    add("mtu", "vxlan_mode", "Always" if "vxlan" in encs else "Never", "IPPool vxlanMode from the encapsulations",
        "Calico docs: reference/resources/ippool", var="calico_vxlan_mode")
    add("mtu", "ipip_mode", "Always" if "ipip" in encs else "Never", "IPPool ipipMode from the encapsulations",
        "Calico docs: reference/resources/ippool", var="calico_ipip_mode")
    # IPv4 + ICMP headers are 28 bytes, IPv6 + ICMPv6 48: the largest don't-fragment ping payload that fits.
    fam_hdr = 48 if cs.families == ("ipv6",) else 28
    add("mtu", "df_probe_payload_underlay", m.underlay_mtu - 28,
        "don't-fragment ping payload between nodes: underlay MTU - 28 (IPv4 + ICMP headers)", src)
    add("mtu", "df_probe_payload_pod", m.veth_mtu - fam_hdr,
        f"don't-fragment ping payload between pods: veth MTU - {fam_hdr} (IP + ICMP headers)", src)


# --- 2. CIDRs and IPAM -------------------------------------------------------------------------

def _tunnel_addresses(cs: PlanSettings, family: str) -> int:
    return sum(1 for e in cs.encapsulations if (e, family) in mtu.OVERHEAD)


def _netbox_prefixes(inv: Inventory, role: str, cluster: str, family: str) -> list[Prefix]:
    return [p for p in _local(inv) if p.role == role and p.cluster == cluster and _family(p.prefix) == family]


def _propose(ctx: _Ctx, c: Cluster, role: str, family: str, prefix_length: int) -> tuple[str | None, str]:
    """A free prefix from the DC's datacenter prefixes of ``family``, recorded for the overlap check."""
    supers = [p for p in _local(ctx.inv) if p.role == ROLE_DATACENTER and _family(p.prefix) == family]
    if not supers:
        return None, f"no {ROLE_DATACENTER} prefix for {family} in NetBox to propose one from"
    for sup in supers:
        outer = netaddr.IPNetwork(sup.prefix)
        # Everything in the VRF is taken but the supernets around this one (containers inside it are taken too).
        taken = [n.cidr for n in (*ctx.overlap, *ctx.proposed)
                 if n.vrf == sup.vrf and _family(n.cidr) == family
                 and not (n.supernet and netaddr.IPNetwork(n.cidr).prefixlen <= outer.prefixlen
                          and outer in netaddr.IPNetwork(n.cidr))]
        found = ipam.propose_free([sup.prefix], taken, prefix_length)
        if found:
            ctx.proposed.append(ipam.NamedPrefix(found, sup.vrf, f"proposed {role} {found} for cluster {c.name}",
                                                 checked=True))
            return found, sup.prefix
    return None, f"no free /{prefix_length} left in {', '.join(s.prefix for s in supers)}"


def _ipam(cplan: ClusterPlan, c: Cluster, cs: PlanSettings, ctx: _Ctx) -> None:
    plan = ctx.plan
    where = f"cluster {c.name}"
    nodes = len(c.hosts)
    v, w = ipam.kubernetes_limit_problems(nodes, cs.max_pods_per_node)
    plan.violations.extend(f"{where}: {x}" for x in v)
    plan.warnings.extend(f"{where}: {x}" for x in w)
    cplan.add("ipam", "nodes", nodes, "hosts of the cluster in NetBox", SOURCE_NETBOX)
    cplan.add("ipam", "max_pods_per_node", cs.max_pods_per_node, "kubelet default and Kubernetes limit (≤110)",
              ipam.SOURCE_K8S_LIMITS)
    cplan.add("ipam", "max_blocks_per_host", cs.max_blocks_per_host, "IPAMConfiguration maxBlocksPerHost",
              ipam.SOURCE_IPAMCONFIG, var="calico_max_blocks_per_host")
    cplan.add("ipam", "strict_affinity", cs.strict_affinity, "IPAMConfiguration strictAffinity",
              ipam.SOURCE_IPAMCONFIG, var="calico_strict_affinity")

    service_cidrs: list[str] = []
    for family in cs.families:
        v4 = family == "ipv4"
        sec = f"ipam_{family}"
        block = cs.block_size if v4 else cs.block_size_v6
        deployed = cs.deployed_block_size if v4 else cs.deployed_block_size_v6
        plan.violations.extend(f"{where}: {x}" for x in ipam.block_size_problems(block, family))
        plan.violations.extend(f"{where}: {x}" for x in ipam.block_change_problems(block, deployed, family))
        block_reason = (f"pyctl_plan.block_size{'' if v4 else '_v6'}; matches the deployed pool" if deployed == block
                        else f"pyctl_plan.block_size{'' if v4 else '_v6'}; not deployed yet, fixed once installed"
                        if deployed is None else f"planned; the deployed pool has /{deployed}")
        cplan.add(sec, "block_size", block, block_reason, ipam.SOURCE_BLOCKS,
                  var="calico_block_size" if v4 else "calico_ipv6_block_size")
        tunnels = _tunnel_addresses(cs, family)

        pool = _pool(cplan, c, cs, ctx, family=family, block=block, tunnels=tunnels)
        if pool is not None:
            try:
                cap = ipam.ipam_capacity(pool, block, cs.max_pods_per_node, nodes, extra_addresses=tunnels,
                                         max_blocks_per_host=cs.max_blocks_per_host, strict_affinity=cs.strict_affinity,
                                         min_headroom_percent=cs.min_headroom_percent)
            except ValueError as exc:
                plan.violations.append(f"{where}: {exc}")
            else:
                plan.violations.extend(f"{where}: {x}" for x in cap.violations)
                plan.warnings.extend(f"{where}: {x}" for x in cap.warnings)
                net = netaddr.IPNetwork(pool)
                cplan.add(sec, "blocks", cap.blocks, f"2^({block} - {net.prefixlen}) blocks in {pool}",
                          ipam.SOURCE_BLOCKS)
                cplan.add(sec, "block_addresses", cap.block_addresses, f"a /{block} holds {cap.block_addresses}",
                          ipam.SOURCE_BLOCKS)
                extra = f" + {tunnels} tunnel address{'es' if tunnels > 1 else ''}" if tunnels else ""
                cplan.add(sec, "blocks_per_node", cap.blocks_per_node,
                          f"ceil(({cs.max_pods_per_node} pods{extra}) / {cap.block_addresses})",
                          ipam.SOURCE_BLOCKS if not tunnels else f"{ipam.SOURCE_BLOCKS}; {SOURCE_TUNNEL_ADDR}")
                cplan.add(sec, "nodes_fit", cap.nodes_fit, f"{cap.blocks} blocks // {cap.blocks_per_node} per node",
                          ipam.SOURCE_BLOCKS)
                cplan.add(sec, "nodes_more", cap.nodes_more, f"{cap.nodes_fit} fit - {nodes} in the cluster",
                          ipam.SOURCE_BLOCKS)

        svc = _service(cplan, c, cs, ctx, family)
        if svc is not None:
            service_cidrs.append(svc)
    cplan.add("services", "service_cidrs", service_cidrs, "kube-apiserver --service-cluster-ip-range "
              "(one per IP family, IPv4 first)", ipam.SOURCE_SERVICE_RANGE, var="control_plane_service_cidrs")


def _pool(cplan: ClusterPlan, c: Cluster, cs: PlanSettings, ctx: _Ctx, *, family: str, block: int,
          tunnels: int) -> str | None:
    plan = ctx.plan
    where = f"cluster {c.name}"
    sec = f"ipam_{family}"
    var = "calico_ipv4pool_cidr" if family == "ipv4" else "calico_ipv6pool_cidr"
    pods = _netbox_prefixes(ctx.inv, ROLE_POD, c.name, family)
    if len(pods) > 1:
        plan.violations.append(f"{where}: {len(pods)} {ROLE_POD} prefixes for {family} in NetBox "
                               f"({', '.join(p.prefix for p in pods)}); one pool per IP family")
    if pods:
        try:
            ipam.network(pods[0].prefix)
        except ValueError as exc:
            plan.violations.append(f"{where}: {exc}")
            return None
        cplan.add(sec, "pool", pods[0].prefix, f"NetBox prefix with role {ROLE_POD} and cluster {c.name}",
                  SOURCE_NETBOX, var=var)
        return pods[0].prefix
    if ipam.block_size_problems(block, family):
        return None
    target = max(1, math.ceil(len(c.hosts) * cs.pool_growth_factor))
    per = ipam.blocks_per_node(cs.max_pods_per_node, block, family, tunnels)
    length = ipam.pool_prefix_for(target, per, block)
    found, detail = _propose(ctx, c, ROLE_POD, family, length)
    if found is None:
        plan.violations.append(f"{where}: no {ROLE_POD} prefix for {family} in NetBox, and {detail}")
        return None
    plan.findings.append(f"{where}: no {ROLE_POD} prefix for {family} in NetBox; proposing {found} (free in {detail}); "
                         f"create it in NetBox with role {ROLE_POD} and cluster {c.name}")
    cplan.add(sec, "pool", found, f"PROPOSED: free /{length} in {detail} for {target} nodes "
              f"({cs.pool_growth_factor:g} x {len(c.hosts)}); not in NetBox yet", ipam.SOURCE_BLOCKS, var=var)
    return found


def _service(cplan: ClusterPlan, c: Cluster, cs: PlanSettings, ctx: _Ctx, family: str) -> str | None:
    plan = ctx.plan
    where = f"cluster {c.name}"
    svcs = _netbox_prefixes(ctx.inv, ROLE_SERVICE, c.name, family)
    if len(svcs) > 1:
        plan.violations.append(f"{where}: {len(svcs)} {ROLE_SERVICE} prefixes for {family} in NetBox "
                               f"({', '.join(p.prefix for p in svcs)}); one service range per IP family")
    key = f"service_cidr_{family}"
    if svcs:
        try:
            problems = ipam.service_range_problems(svcs[0].prefix)
        except ValueError as exc:
            plan.violations.append(f"{where}: {exc}")
            return None
        plan.violations.extend(f"{where}: {x}" for x in problems)
        cplan.add("services", key, svcs[0].prefix, f"NetBox prefix with role {ROLE_SERVICE} and cluster {c.name}",
                  SOURCE_NETBOX)
        return svcs[0].prefix
    length = cs.service_prefix_length if family == "ipv4" else cs.service_prefix_length_v6
    found, detail = _propose(ctx, c, ROLE_SERVICE, family, length)
    if found is None:
        plan.violations.append(f"{where}: no {ROLE_SERVICE} prefix for {family} in NetBox, and {detail}")
        return None
    plan.findings.append(f"{where}: no {ROLE_SERVICE} prefix for {family} in NetBox; proposing {found} (free in "
                         f"{detail}); create it in NetBox with role {ROLE_SERVICE} and cluster {c.name}")
    cplan.add("services", key, found, f"PROPOSED: free /{length} in {detail} (pyctl_plan.service_prefix_length"
              f"{'' if family == 'ipv4' else '_v6'}); not in NetBox yet", ipam.SOURCE_SERVICE_RANGE)
    return found


def _node_networks(ctx: _Ctx) -> None:
    """Add the hosts' own subnets to the overlap check, and report hosts outside their node networks."""
    inv = ctx.inv
    known = {(str(netaddr.IPNetwork(n.cidr).cidr), n.vrf) for n in ctx.overlap}
    extra: dict[tuple[str, str | None], list[str]] = {}
    local = _local(inv)
    dc_ipv4 = [p for p in local if p.role == ROLE_DATACENTER and _family(p.prefix) == "ipv4"]
    for c in inv.clusters:
        node_prefixes = [p for p in local if p.role == ROLE_NODE and p.cluster == c.name
                         and _family(p.prefix) is not None]
        pods = [p for p in local if p.role == ROLE_POD and p.cluster == c.name]
        # NetBox holds no VRF on the model's host addresses: take the cluster's, else the DC's routing domain.
        vrf = (node_prefixes[0].vrf if node_prefixes else pods[0].vrf if pods
               else dc_ipv4[0].vrf if dc_ipv4 else None)
        nets = [netaddr.IPNetwork(p.prefix) for p in node_prefixes]
        outside = []
        for h in c.hosts:
            # The subnets a host is on (where Ansible reaches it, where pod traffic leaves it) are taken.
            for cidr in dict.fromkeys(a for a in (h.address_cidr, h.pod_address_cidr) if a):
                subnet = str(netaddr.IPNetwork(cidr).cidr)
                if (subnet, vrf) not in known:
                    names = extra.setdefault((subnet, vrf), [])
                    if c.name not in names:
                        names.append(c.name)
            underlay = h.pod_address or h.address
            if nets and underlay and not any(netaddr.IPAddress(underlay) in n for n in nets
                                             if n.version == netaddr.IPAddress(underlay).version):
                outside.append(h.name)
        if outside:
            shown = ", ".join(outside[:10]) + (f" and {len(outside) - 10} more" if len(outside) > 10 else "")
            ctx.plan.findings.append(f"cluster {c.name}: {len(outside)} host(s) outside the cluster's {ROLE_NODE} "
                                     f"prefixes ({', '.join(str(n) for n in nets)}): {shown}")
    for (subnet, vrf), clusters in sorted(extra.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        ctx.overlap.append(ipam.NamedPrefix(subnet, vrf, f"{inv.site} node subnet {subnet} (hosts of cluster "
                                            f"{', '.join(clusters)})"))


# --- 3. etcd and 4. control planes -------------------------------------------------------------

def _hosted_control_planes(ctx: _Ctx) -> None:
    inv, settings, plan = ctx.inv, ctx.settings, ctx.plan
    mgmt = [c for c in inv.clusters if c.kind == "management"]
    workloads = [c for c in inv.clusters if c.kind == "workload"]
    mgmt_names = {c.name for c in mgmt}
    hosting: dict[str, list[Cluster]] = {c.name: [] for c in mgmt}
    for w in workloads:
        if w.name in settings.hosted_on:
            host = settings.hosted_on[w.name]
            if host not in mgmt_names:
                plan.violations.append(f"pyctl_plan.hosted_on.{w.name}: {host} is not a management cluster in "
                                       f"{inv.site} (management clusters: {', '.join(sorted(mgmt_names)) or 'none'})")
                continue
            hosting[host].append(w)
        elif len(mgmt) == 1:
            hosting[mgmt[0].name].append(w)
        elif not mgmt:
            plan.violations.append(f"cluster {w.name}: no management cluster in {inv.site} to host its control plane")
        else:
            plan.violations.append(f"cluster {w.name}: {len(mgmt)} management clusters "
                                   f"({', '.join(sorted(mgmt_names))}); name the one hosting its control plane in "
                                   "pyctl_plan.hosted_on")
    workload_names = {w.name for w in workloads}
    for name in sorted(settings.hosted_on):
        if name not in workload_names:
            plan.violations.append(f"pyctl_plan.hosted_on.{name}: no workload cluster {name} in {inv.site}")
    for m in mgmt:
        _management(ctx, m, hosting[m.name])


def _management(ctx: _Ctx, m: Cluster, tenants: list[Cluster]) -> None:
    settings, plan = ctx.settings, ctx.plan
    cs = settings.for_cluster(m.name)
    mplan = plan.cluster(m.name)
    where = f"cluster {m.name}"
    members = m.members(ROLE_ETCD)
    if not members and not tenants:
        return
    names = [h.name for h in members]
    # Members NetBox marks offline, failed or decommissioning are still members: they count for quorum.
    v, w = etcd.member_problems(sorted(names + [f"{n} (down)" for n in m.down_etcd]))
    plan.violations.extend(f"{where}: {x}" for x in v)
    plan.warnings.extend(f"{where}: {x}" for x in w)
    add = mplan.add
    add("etcd", "members", names, f"{len(names)} hosts with role etcd (3 or 5, never even)", etcd.SOURCE_FAQ,
        var="etcd_members")
    total = len(names) + len(m.down_etcd)
    add("etcd", "down_members", list(m.down_etcd),
        f"members NetBox marks offline, failed or decommissioning: not touched, still members; quorum is "
        f"{total // 2 + 1} of {total}, so a rolling restart may take down {max(len(names) - (total // 2 + 1), 0)} "
        "at a time", etcd.SOURCE_FAQ, var="etcd_down_members")
    add("etcd", "tenants", [t.name for t in tenants], "workload clusters whose control planes use this etcd, each "
        "under its own key prefix", etcd.SOURCE_HOSTED)

    try:
        rtt, measured = etcd.max_rtt(names, ctx.measured_rtt_ms, cs.etcd_rtt_ms)
        timing = etcd.etcd_timing(rtt, cs.etcd_heartbeat_ms, cs.etcd_election_timeout_ms)
    except ValueError as exc:
        plan.violations.append(f"{where}: {exc}")
        return
    plan.violations.extend(f"{where}: {x}" for x in timing.violations)
    add("etcd", "max_rtt_ms", rtt, "largest measured RTT between members" if measured else
        "no measurement between members: pyctl_plan.etcd_rtt_ms", etcd.SOURCE_TUNING if measured else SOURCE_SETTINGS)
    add("etcd", "heartbeat_interval_ms", timing.heartbeat_ms, timing.heartbeat_reason, etcd.SOURCE_TUNING,
        var="etcd_heartbeat_interval_ms")
    add("etcd", "election_timeout_ms", timing.election_timeout_ms, timing.election_reason, etcd.SOURCE_TUNING,
        var="etcd_election_timeout_ms")

    total_nodes = sum(len(t.hosts) for t in tenants)
    objects = 0
    for t in tenants:
        ts = settings.for_cluster(t.name)
        objects += (ts.etcd_expected_objects if ts.etcd_expected_objects is not None
                    else etcd.expected_objects(len(t.hosts), ts.max_pods_per_node))
    quota = etcd.etcd_quota(objects, cs.etcd_object_bytes, cs.etcd_quota_gib)
    plan.warnings.extend(f"{where}: {x}" for x in quota.warnings)
    add("etcd", "expected_objects", objects, f"tenants' expected objects ({total_nodes:,} nodes; "
        "pyctl_plan.etcd_expected_objects or nodes x (max pods + 10))", SOURCE_SETTINGS)
    add("etcd", "quota_backend_bytes", quota.quota_bytes, quota.reason, etcd.SOURCE_LIMITS,
        var="etcd_quota_backend_bytes")
    add("etcd", "snapshot_count", cs.etcd_snapshot_count, "pyctl_plan.etcd_snapshot_count (Kamaji/HyperShift: "
        "10000; kubespray 100000)", etcd.SOURCE_HOSTED, var="etcd_snapshot_count")
    add("etcd", "auto_compaction_mode", "periodic", "periodic compaction as Kamaji/HyperShift run it",
        etcd.SOURCE_HOSTED, var="etcd_auto_compaction_mode")
    add("etcd", "auto_compaction_retention", cs.etcd_auto_compaction_retention,
        "pyctl_plan.etcd_auto_compaction_retention; a backstop to kube-apiserver's 5-minute compaction",
        etcd.SOURCE_HOSTED, var="etcd_auto_compaction_retention")

    events = etcd.events_etcd_needed(total_nodes, cs.events_etcd_node_threshold)
    add("etcd", "events_separate", events, f"{total_nodes:,} tenant nodes "
        f"{'>' if events else '≤'} pyctl_plan.events_etcd_node_threshold {cs.events_etcd_node_threshold:,}: "
        + etcd.EVENTS_THRESHOLD_REASON, etcd.SOURCE_HARDWARE, var="etcd_events_separate")
    ram_need = quota.quota_bytes
    if events:
        add("etcd", "events_quota_backend_bytes", etcd.DEFAULT_QUOTA_BYTES, "etcd default 2 GiB: Events expire "
            "after 1 h (kube-apiserver --event-ttl)", etcd.SOURCE_LIMITS, var="etcd_events_quota_backend_bytes")
        add("etcd", "events_client_port", etcd.EVENTS_CLIENT_PORT, "second member set on the etcd hosts (pyctl "
            "choice; 2379/2380 main, 2381 metrics)", SOURCE_SETTINGS, var="etcd_events_client_port")
        add("etcd", "events_peer_port", etcd.EVENTS_PEER_PORT, "second member set on the etcd hosts (pyctl choice)",
            SOURCE_SETTINGS, var="etcd_events_peer_port")
        ram_need += etcd.DEFAULT_QUOTA_BYTES
    rv, rw = etcd.ram_problems(cs.etcd_member_ram_gib, ram_need, total_nodes)
    plan.violations.extend(f"{where}: {x}" for x in rv)
    plan.warnings.extend(f"{where}: {x}" for x in rw)
    if cs.etcd_member_ram_gib is not None:
        add("etcd", "member_ram_gib", cs.etcd_member_ram_gib, "pyctl_plan.etcd_member_ram_gib; must hold the "
            "quota" + (" of both etcds" if events else ""), etcd.SOURCE_HARDWARE)

    _control_planes(ctx, m, mplan, tenants, members_addrs=[h.address for h in members], events=events)


def _control_planes(ctx: _Ctx, m: Cluster, mplan: ClusterPlan, tenants: list[Cluster], *,
                    members_addrs: list[str], events: bool) -> None:
    settings, plan = ctx.settings, ctx.plan
    cs = settings.for_cluster(m.name)
    where = f"cluster {m.name}"
    cp_hosts = [h.name for h in m.members(ROLE_CONTROL_PLANE)]
    mplan.add("control_plane", "hosts", cp_hosts, "hosts with role control-plane in the management cluster",
              cp.SOURCE_REPLICAS, var="control_plane_hosts")
    if not tenants:
        return
    if not cp_hosts:
        plan.violations.append(f"{where}: no {ROLE_CONTROL_PLANE} hosts to carry the control planes of "
                               f"{', '.join(t.name for t in tenants)}")
        return
    servers = [f"https://{a}:{etcd.CLIENT_PORT}" for a in members_addrs]
    events_servers = [f"https://{a}:{etcd.EVENTS_CLIENT_PORT}" for a in members_addrs] if events else []
    sizing: dict[str, cp.ApiserverSizing] = {}
    for t in tenants:
        ts = settings.for_cluster(t.name)
        replicas = ts.control_plane_replicas
        if replicas > len(cp_hosts):
            plan.warnings.append(f"cluster {t.name}: {replicas} kube-apiserver replicas wanted but {m.name} has "
                                 f"{len(cp_hosts)} {ROLE_CONTROL_PLANE} host(s); running {len(cp_hosts)}")
            replicas = len(cp_hosts)
        if replicas == 1:
            plan.warnings.append(f"cluster {t.name}: 1 kube-apiserver replica: no high availability")
        sizing[t.name] = cp.apiserver_sizing(len(t.hosts), replicas)
    placement = cp.place_control_planes(sizing, cp_hosts)
    plan.violations.extend(f"{where}: {x}" for x in cp.host_fit_problems(
        placement, sizing, cs.control_plane_host_cpu, cs.control_plane_host_ram_gib))

    tenant_vars = []
    for t in tenants:
        s = sizing[t.name]
        tplan = plan.cluster(t.name)
        prefix = f"/clusters/{t.name}/registry"
        overrides = f"/events#{';'.join(events_servers)}" if events_servers else None
        add = tplan.add
        add("control_plane", "management_cluster", m.name, "the management cluster that hosts this control plane",
            cp.SOURCE_REPLICAS, var="control_plane_management_cluster")
        add("control_plane", "apiserver_replicas", s.replicas, "3 for high availability, on distinct hosts "
            "(pyctl_plan.control_plane_replicas)", cp.SOURCE_REPLICAS, var="control_plane_apiserver_replicas")
        add("control_plane", "apiserver_cpu_request", f"{s.cpu_millicores}m", s.reason, cp.SOURCE_SIZING,
            var="control_plane_apiserver_cpu_request")
        add("control_plane", "apiserver_memory_request", f"{s.memory_mib}Mi", s.reason, cp.SOURCE_SIZING,
            var="control_plane_apiserver_memory_request")
        add("control_plane", "apiserver_hosts", placement[t.name], "least-loaded control-plane hosts, one replica "
            "each", cp.SOURCE_REPLICAS, var="control_plane_apiserver_hosts")
        add("control_plane", "etcd_servers", servers, f"the etcd of {m.name} (TLS client port 2379)",
            etcd.SOURCE_HOSTED, var="control_plane_etcd_servers")
        add("control_plane", "etcd_prefix", prefix, "kube-apiserver --etcd-prefix: one key prefix per tenant "
            "on the shared etcd", etcd.SOURCE_HOSTED, var="control_plane_etcd_prefix")
        add("control_plane", "etcd_servers_overrides", overrides, "kube-apiserver --etcd-servers-overrides: Events "
            "to the separate etcd" if overrides else "Events stay in the main etcd", etcd.SOURCE_HOSTED,
            var="control_plane_etcd_servers_overrides")
        svc = tplan.sections.get("services", {}).get("service_cidrs")
        unit = cp.unit_resources(s)
        add("control_plane", "apiserver_unit_resources", unit, "the requests as the kube-apiserver unit's "
            "CPUWeight (1 CPU = 100, systemd's default) and MemoryLow (kept from reclaim)", cp.SOURCE_UNIT)
        tenant_vars.append({
            "name": t.name, "nodes": len(t.hosts), "replicas": s.replicas, "hosts": placement[t.name],
            "cpu_request": f"{s.cpu_millicores}m", "memory_request": f"{s.memory_mib}Mi", **unit,
            "etcd_servers": servers, "etcd_prefix": prefix, "etcd_servers_overrides": overrides,
            "service_cidrs": svc.value if svc else [],
        })
    mplan.add("control_plane", "tenants", tenant_vars, "hosted control planes this management cluster carries",
              cp.SOURCE_REPLICAS, var="control_plane_tenants")
