"""The pair check: full-size don't-fragment packets between nodes (path MTU)."""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from pyctl.inventory import Host
from pyctl.plan import mtu
from pyctl.plan.mtu import FULL_MESH_MAX_HOSTS
from pyctl.smoke.checks.base import Check, CheckResult, Context, HostFacts, errored, failed, passed, skipped

# --- pair check: path MTU --------------------------------------------------------------------------

def probe_peers(hosts: Sequence[Host], host: Host, *, full_mesh_max: int = FULL_MESH_MAX_HOSTS) -> list[Host]:
    """The peers ``host`` sends full-size don't-fragment probes to: :func:`pyctl.plan.mtu.probe_peers`
    (the calico role's probe takes the same rule) over the cluster's hosts, sorted by rack."""
    by_name = {h.name: h for h in hosts}
    names = mtu.probe_peers(list(by_name), host.name, full_mesh_max, racks={h.name: h.rack for h in hosts})
    return [by_name[n] for n in names]


# Runs on the host: ICMP (ICMPv6 to an IPv6 peer) echo of the full size with DF set, peers in parallel. Not the ping
# binary: it needs CAP_NET_RAW (file capabilities a container without NET_RAW cannot exec: "Operation not
# permitted"), while an ICMP datagram socket needs only net.ipv4.ping_group_range. IP_PMTUDISC_PROBE sets DF
# like `ping -M do` but ignores the kernel's cached path MTU, which one failed probe would lower for the
# next ten minutes. A lost full-size echo is retried; then a small echo tells "MTU" from "no path".
PROBE_SCRIPT = r"""
import base64,json,os,select,socket,struct,sys,time
from concurrent.futures import ThreadPoolExecutor
spec=json.loads(base64.b64decode(sys.argv[1]))
T=float(spec["timeout"])
def ck(d):
    d+=b"\0"*(len(d)%2); s=sum(struct.unpack("!%dH"%(len(d)//2),d)); s=(s>>16)+(s&0xFFFF); s+=s>>16
    return ~s&0xFFFF
def echo(addr,size,seq):
    v6=":" in addr; fam=socket.AF_INET6 if v6 else socket.AF_INET
    proto=socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
    try: s=socket.socket(fam,socket.SOCK_DGRAM,proto); raw=False
    except PermissionError: s=socket.socket(fam,socket.SOCK_RAW,proto); raw=True
    try:
        if v6:
            s.setsockopt(socket.IPPROTO_IPV6,getattr(socket,"IPV6_MTU_DISCOVER",23),3)
            s.setsockopt(socket.IPPROTO_IPV6,getattr(socket,"IPV6_DONTFRAG",62),1)
        else: s.setsockopt(socket.IPPROTO_IP,getattr(socket,"IP_MTU_DISCOVER",10),getattr(socket,"IP_PMTUDISC_PROBE",3))
        p=os.urandom(max(size-(48 if v6 else 28),0)); ident=os.getpid()&0xFFFF; typ=128 if v6 else 8
        h=struct.pack("!BBHHH",typ,0,0,ident,seq)
        try: s.sendto((h if v6 else struct.pack("!BBHHH",8,0,ck(h+p),ident,seq))+p,(addr,0))
        except OSError as e: return "send: "+e.strerror
        want=socket.inet_pton(fam,addr); end=time.monotonic()+T
        while True:
            left=end-time.monotonic()
            if left<=0 or not select.select([s],[],[],left)[0]: return "lost"
            try: d,a=s.recvfrom(65535)
            except OSError as e: return "icmp: "+str(e)
            if raw and not v6: d=d[(d[0]&15)*4:]
            ok=len(d)>=8 and d[0]==(129 if v6 else 0) and struct.unpack("!H",d[6:8])[0]==seq and len(d)-8==len(p)
            if ok and socket.inet_pton(fam,a[0].split("%")[0])==want:
                return ""
    finally: s.close()
def probe(path):
    seq=(path["i"]*8)&0xFFFF
    why=""
    for k in range(3):
        why=echo(path["address"],path["size"],seq+k)
        if not why: return dict(path,ok=True,why="")
    small=echo(path["address"],84,seq+4)=="" or echo(path["address"],84,seq+5)==""
    return dict(path,ok=False,why=why,small_ok=small)
with ThreadPoolExecutor(16) as ex: print(json.dumps(list(ex.map(probe,spec["paths"]))))
"""


def probe_command(paths: Sequence[Mapping[str, Any]], timeout: float) -> str:
    spec = base64.b64encode(json.dumps({"timeout": timeout, "paths": list(paths)}).encode()).decode()
    return f"python3 -c {shlex.quote(PROBE_SCRIPT)} {spec}"


class PathMtu(Check):
    name = "path-mtu"
    pair = True
    remedy = ("a path drops full-size packets: compare the NIC, bond, VLAN and switch-port MTUs along it "
              "with the plan (small pings pass, large frames vanish)")

    def run(self, ctx: Context, host: Host) -> CheckResult:
        peers = probe_peers(ctx.cluster.hosts, host, full_mesh_max=ctx.settings.full_mesh_max_hosts)
        reachable = [p for p in peers if p.name in ctx.facts]
        unprobed = [p.name for p in peers if p.name not in ctx.facts]
        if not reachable:
            return skipped("no reachable peer to probe" + (f" ({', '.join(unprobed)} unreachable)" if unprobed else ""))
        under = ctx.cluster.underlay_mtu
        mine = ctx.facts.get(host.name, HostFacts())
        paths: list[dict[str, Any]] = []
        for p in reachable:
            # The address NetBox assigns to the peer's pod-traffic interface: the path pod traffic takes.
            paths.append({"i": len(paths), "kind": "underlay", "peer": p.name, "address": p.pod_address or p.address,
                          "size": under})
        overlay_size = ctx.cluster.overlay_mtu or mine.overlay_mtu
        if mine.overlay_ipv4 and overlay_size:
            for p in reachable:
                theirs = ctx.facts[p.name]
                if theirs.overlay_ipv4:
                    paths.append({"i": len(paths), "kind": f"overlay {mine.overlay_device}", "peer": p.name,
                                  "address": theirs.overlay_ipv4, "size": overlay_size})
        timeout = ctx.settings.probe_timeout_s
        res = ctx.run(probe_command(paths, timeout), timeout=timeout * 8 + 10)
        if res.rc != 0:
            return errored(f"probe failed: rc {res.rc} {res.stderr.strip()[-200:]}")
        results = json.loads(res.stdout)
        bad = [r for r in results if not r["ok"]]
        kinds = sorted({r["kind"] for r in results})
        data = {"paths": [{k: r[k] for k in ("kind", "peer", "address", "size", "ok")} for r in results],
                "unprobed": unprobed}
        tail = f"; not probed (unreachable): {', '.join(unprobed)}" if unprobed else ""
        if bad:
            lines = []
            for r in bad:
                why = ("small packets pass: the path MTU is below it" if r.get("small_ok")
                       else f"no reply at all ({r['why']})")
                lines.append(f"{r['kind']} {r['size']}-byte DF packet to {r['peer']} ({r['address']}) dropped — {why}")
            return failed("; ".join(lines) + tail, **data)
        sizes = ", ".join(f"{k} {next(r['size'] for r in results if r['kind'] == k)}" for k in kinds)
        return passed(f"{len(results)} paths to {len(reachable)} peers carry full-size DF packets ({sizes}){tail}",
                      **data)
