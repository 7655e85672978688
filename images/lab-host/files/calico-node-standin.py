#!/usr/bin/python3
"""calico-node STAND-IN: the VXLAN part of Calico's dataplane on a lab or Molecule host.

No kube-apiserver and no Calico image can be had on the lab machine, so no calico-node runs there. This
program does, for the one thing pyctl's checks need of it, what calico-node (Felix and Calico IPAM) does
on a real node: it reads the Calico resources the cluster holds and keeps the VXLAN tunnel device
``vxlan.calico`` as they say. The resources it reads are those pyctl's calico role writes on the host
(``calico_manifest_dir``/resources.yaml, the same documents the role applies to the API where there is one);
the role itself knows nothing of this program. It runs as calico-node-standin.service on every lab host
image, and does nothing until such a file appears.

What it takes from the resources (names and defaults as Calico's; docs.tigera.io/calico/latest/reference):
- VXLAN on: FelixConfiguration ``default`` ``spec.vxlanEnabled``, and an IPv4 pool whose encapsulation is
  VXLAN (Installation ``calicoNetwork.ipPools[].encapsulation`` VXLAN/VXLANCrossSubnet, or IPPool
  ``vxlanMode`` Always/CrossSubnet). Off: the device is removed, as Felix removes it.
- The device's MTU: Installation ``calicoNetwork.mtu`` (the operator hands it to Felix as FELIX_VXLANMTU), or
  ConfigMap ``kube-system/calico-config`` ``veth_mtu`` (calico.yaml's FELIX_VXLANMTU).
- VNI 4096 and UDP port 4789: FelixConfiguration ``vxlanVNI``/``vxlanPort`` where set, else Felix's defaults.
- The node address: Installation ``calicoNetwork.nodeAddressAutodetectionV4`` (``interface`` regex,
  ``cidrs``, ``skipInterface``), else the environment's ``IP_AUTODETECTION_METHOD`` (``interface=REGEX``,
  ``cidr=CIDR,...``, ``skip-interface=REGEX``, ``first-found``), else first-found, as calico-node autodetects.
- The tunnel address: the first usable address of a block of the pool this node claims, with the pool's
  prefix (Calico IPAM gives the tunnel an address of the node's affine block).
- The peers: every other node of the datastore whose pool is this node's, each an FDB entry (flooding,
  where Felix writes one per peer's VTEP MAC).

The datastore is a directory every host of one lab (or one Molecule scenario) mounts at DATASTORE:
``nodes/<name>.json`` (what calico-node writes into its Node resource) and ``blocks/<pool>/<index>``
(a block's affinity, claimed with O_EXCL so two nodes never share one).

Unlike Felix (which leaves it unset), the device is made with ``df set``: a path that cannot carry the full
frame then drops it, as a fabric that does not fragment does, instead of the lab's one kernel fragmenting
the outer packet and hiding the short path from the checks.

    calico-node-standin            reconcile now and whenever the resources or the datastore change
    calico-node-standin --once     reconcile once; print what changed as JSON
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

DEVICE = "vxlan.calico"  # Felix's VXLAN (IPv4) device
DEFAULT_VNI = 4096  # FelixConfiguration vxlanVNI default
DEFAULT_PORT = 4789  # FelixConfiguration vxlanPort default
ZERO_MAC = "00:00:00:00:00:00"
MANIFEST = Path(os.environ.get("CALICO_STANDIN_MANIFEST", "/etc/calico/pyctl/resources.yaml"))
DATASTORE = Path(os.environ.get("CALICO_STANDIN_DATASTORE", "/var/lib/calico-node-standin"))
POLL_S = 0.5  # how often the inputs are looked at (a stat each)
RESYNC_S = 30.0  # the device is compared with what it should be this often even when no input changed
VXLAN_POOL_MODES = {"Always", "CrossSubnet"}
VXLAN_ENCAPSULATIONS = {"VXLAN", "VXLANCrossSubnet"}


# --- what the resources say (pure) ----------------------------------------------------------------------

def wanted(documents: list[dict]) -> dict | None:
    """The VXLAN settings the resources give, or None when VXLAN is off (or no IPv4 pool uses it)."""
    by_kind: dict[str, list[dict]] = {}
    for doc in documents:
        if isinstance(doc, dict):
            by_kind.setdefault(str(doc.get("kind")), []).append(doc)
    felix = next((d.get("spec") or {} for d in by_kind.get("FelixConfiguration", [])
                  if (d.get("metadata") or {}).get("name") == "default"), {})
    if not felix.get("vxlanEnabled"):
        return None
    mtu, pool, autodetect = None, None, None
    for inst in by_kind.get("Installation", []):
        network = (inst.get("spec") or {}).get("calicoNetwork") or {}
        mtu = network.get("mtu")
        autodetect = network.get("nodeAddressAutodetectionV4")
        pool = next(((p["cidr"], int(p["blockSize"])) for p in network.get("ipPools") or []
                     if p.get("encapsulation") in VXLAN_ENCAPSULATIONS and ":" not in p["cidr"]), None)
    for cm in by_kind.get("ConfigMap", []):
        meta = cm.get("metadata") or {}
        if (meta.get("namespace"), meta.get("name")) == ("kube-system", "calico-config"):
            mtu = int((cm.get("data") or {})["veth_mtu"])
    for ippool in by_kind.get("IPPool", []):
        spec = ippool.get("spec") or {}
        if spec.get("vxlanMode") in VXLAN_POOL_MODES and ":" not in spec["cidr"] and pool is None:
            pool = (spec["cidr"], int(spec["blockSize"]))
    if pool is None or mtu is None:
        return None
    return {"mtu": int(mtu), "pool": pool[0], "block_size": pool[1], "autodetect": autodetect,
            "vni": int(felix.get("vxlanVNI") or DEFAULT_VNI), "port": int(felix.get("vxlanPort") or DEFAULT_PORT)}


def autodetect_rule(installation: dict | None, env: str | None) -> tuple[str, list[str]]:
    """(method, arguments) from the Installation's nodeAddressAutodetectionV4, else IP_AUTODETECTION_METHOD."""
    if installation:
        if "interface" in installation:
            return "interface", [installation["interface"]]
        if "cidrs" in installation:
            return "cidr", list(installation["cidrs"])
        if "skipInterface" in installation:
            return "skip-interface", [installation["skipInterface"]]
        return "first-found", []
    if env:
        method, _, args = env.partition("=")
        if method in ("interface", "skip-interface"):
            return method, [args]
        if method == "cidr":
            return "cidr", args.split(",")
        if method == "first-found":
            return method, []
        raise SystemExit(f"IP_AUTODETECTION_METHOD {env!r}: this stand-in knows interface=, cidr=, "
                         "skip-interface= and first-found")
    return "first-found", []


# calico-node's first-found skips these (its default exclude list).
_SKIPPED = re.compile(r"^(docker.*|cbr.*|dummy.*|virbr.*|lxcbr.*|veth.*|lo|cali.*|tunl.*|flannel.*|kube-ipvs.*|"
                      r"cni.*|vxlan.calico.*|vxlan-v6.calico.*|wireguard.cali.*|wg-v6.cali.*|nodelocaldns.*)$")


def pick_address(links: list[dict], method: str, args: list[str]) -> tuple[str, str] | None:
    """(interface, IPv4) the rule picks from ``ip -j address show`` output, in the order the kernel lists."""
    for dev in links:
        name = dev.get("ifname", "")
        for addr in dev.get("addr_info", []):
            if addr.get("family") != "inet" or addr.get("scope") != "global":
                continue
            ip = addr["local"]
            if method == "interface" and not re.fullmatch(args[0], name):
                continue
            if method == "skip-interface" and (re.fullmatch(args[0], name) or _SKIPPED.match(name)):
                continue
            if method == "first-found" and _SKIPPED.match(name):
                continue
            if method == "cidr" and not any(ipaddress.ip_address(ip) in ipaddress.ip_network(c, strict=False)
                                            for c in args):
                continue
            return name, ip
    return None


def tunnel_address(pool: str, block_size: int, index: int) -> str:
    """The first usable address of block ``index`` of ``pool``, with the pool's prefix (every peer on-link)."""
    net = ipaddress.ip_network(pool)
    size = 2 ** (32 - block_size)
    if not 0 <= index < 2 ** (block_size - net.prefixlen):
        raise ValueError(f"block {index} is outside pool {pool} (/{block_size} blocks)")
    offset = 1 if size > 2 else 0  # never a block's network address where it has a host address
    return f"{net.network_address + index * size + offset}/{net.prefixlen}"


# --- the datastore ----------------------------------------------------------------------------------------

def _pool_key(pool: str, block_size: int) -> str:
    return f"{pool.replace('/', '_')}-{block_size}"


def claim_block(store: Path, pool: str, block_size: int, node: str) -> int:
    """This node's block of the pool: the one it holds, else the lowest free one (claimed with O_EXCL)."""
    blocks = store / "blocks" / _pool_key(pool, block_size)
    blocks.mkdir(parents=True, exist_ok=True)
    for entry in blocks.iterdir():
        if entry.read_text(encoding="utf-8") == node:
            return int(entry.name)
    total = 2 ** (block_size - ipaddress.ip_network(pool).prefixlen)
    for index in range(total):
        try:
            fd = os.open(blocks / str(index), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(node)
        return index
    raise SystemExit(f"pool {pool}: all {total} blocks of /{block_size} are taken")


def write_node(store: Path, record: dict) -> None:
    nodes = store / "nodes"
    nodes.mkdir(parents=True, exist_ok=True)
    path = nodes / f"{record['name']}.json"
    text = json.dumps(record, sort_keys=True) + "\n"
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def remove_node(store: Path, node: str) -> None:
    (store / "nodes" / f"{node}.json").unlink(missing_ok=True)


def peers(store: Path, node: str, pool: str) -> list[str]:
    """The underlay IPv4 of every other node of the datastore on the same pool."""
    out = []
    for path in sorted((store / "nodes").glob("*.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # written as we read: the next poll sees it whole
        if rec.get("name") != node and rec.get("pool") == pool and rec.get("ipv4"):
            out.append(rec["ipv4"])
    return sorted(set(out))


# --- the device ---------------------------------------------------------------------------------------------

def _ip_json(*args: str) -> list[dict]:
    out = subprocess.run(["ip", "-d", "-j", *args], capture_output=True, text=True, check=False)
    return json.loads(out.stdout or "[]") if out.returncode == 0 else []


def _run(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True, text=True)


def _fdb(device: str) -> set[str]:
    out = subprocess.run(["bridge", "-j", "fdb", "show", "dev", device], capture_output=True, text=True,
                         check=False)
    entries = json.loads(out.stdout or "[]") if out.returncode == 0 else []
    return {e["dst"] for e in entries if e.get("mac") == ZERO_MAC and "dst" in e}


def reconcile(node: str, store: Path, manifest: Path, env_method: str | None) -> list[str]:
    """Make vxlan.calico what the resources and the datastore say; returns what changed."""
    documents = []
    if manifest.exists():
        documents = [d for d in yaml.safe_load_all(manifest.read_text(encoding="utf-8")) if d]
    want = wanted(documents)
    present = Path(f"/sys/class/net/{DEVICE}").exists()
    dev = next(iter(_ip_json("address", "show", "dev", DEVICE)), None) if present else None
    if want is None:
        remove_node(store, node)
        if dev is not None:
            _run("ip", "link", "del", "dev", DEVICE)
            return [f"{DEVICE} removed (the resources turn VXLAN off)"]
        return []
    method, args = autodetect_rule(want["autodetect"], env_method)
    picked = pick_address(_ip_json("address", "show"), method, args)
    if picked is None:
        raise SystemExit(f"no IPv4 address matches the autodetection method {method} {args}")
    nic, ipv4 = picked
    block = claim_block(store, want["pool"], want["block_size"], node)
    address = tunnel_address(want["pool"], want["block_size"], block)
    write_node(store, {"name": node, "ipv4": ipv4, "pool": want["pool"], "tunnel": address})
    changes = []
    info = (dev or {}).get("linkinfo", {})
    data = info.get("info_data", {})
    fixed = {"kind": "vxlan", "id": want["vni"], "port": want["port"], "local": ipv4, "link": nic, "df": "set"}
    have = {"kind": info.get("info_kind"), "id": data.get("id"), "port": data.get("port"),
            "local": data.get("local"), "link": data.get("link"), "df": data.get("df")}
    if dev is not None and have != fixed:
        _run("ip", "link", "del", "dev", DEVICE)
        changes.append(f"{DEVICE} removed ({'; '.join(f'{k} {have[k]}' for k in fixed if have[k] != fixed[k])})")
        dev = None
    if dev is None:
        _run("ip", "link", "add", DEVICE, "type", "vxlan", "id", str(want["vni"]), "dstport", str(want["port"]),
             "dev", nic, "local", ipv4, "df", "set")
        changes.append(f"{DEVICE} created (VNI {want['vni']}, port {want['port']}, over {nic} {ipv4})")
        dev = next(iter(_ip_json("address", "show", "dev", DEVICE)), {})
    if dev.get("mtu") != want["mtu"]:
        _run("ip", "link", "set", "dev", DEVICE, "mtu", str(want["mtu"]))
        changes.append(f"{DEVICE} MTU {dev.get('mtu')} -> {want['mtu']}")
    addrs = {f"{a['local']}/{a['prefixlen']}" for a in dev.get("addr_info", []) if a.get("scope") == "global"}
    if addrs != {address}:
        for stale in sorted(addrs - {address}):
            _run("ip", "addr", "del", stale, "dev", DEVICE)
        _run("ip", "addr", "replace", address, "dev", DEVICE)
        changes.append(f"{DEVICE} address {address}")
    now, then = _fdb(DEVICE), set(peers(store, node, want["pool"]))
    for peer in sorted(then - now):
        _run("bridge", "fdb", "append", ZERO_MAC, "dev", DEVICE, "dst", peer)
        changes.append(f"{DEVICE} peer {peer} added")
    for peer in sorted(now - then):
        _run("bridge", "fdb", "del", ZERO_MAC, "dev", DEVICE, "dst", peer)
        changes.append(f"{DEVICE} peer {peer} removed")
    if "UP" not in dev.get("flags", []):
        _run("ip", "link", "set", "dev", DEVICE, "up")
        changes.append(f"{DEVICE} up")
    return changes


def _inputs(manifest: Path, store: Path) -> tuple[object, ...]:
    """What a change of input changes: the manifest's and every node record's inode, size and mtime."""
    def sig(path: Path) -> tuple[object, ...]:
        try:
            st = path.stat()
        except OSError:
            return (str(path), None)
        return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    nodes = store / "nodes"
    return (sig(manifest), *sorted(sig(p) for p in (nodes.glob("*.json") if nodes.is_dir() else [])))


def main(argv: list[str]) -> int:
    node = os.environ.get("NODENAME") or os.uname().nodename  # calico-node's NODENAME, else the hostname
    method = os.environ.get("IP_AUTODETECTION_METHOD")
    if argv[1:] == ["--once"]:
        print(json.dumps({"changes": reconcile(node, DATASTORE, MANIFEST, method)}))
        return 0
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    print(f"calico-node STAND-IN on {node}: watching {MANIFEST} and {DATASTORE}", flush=True)
    seen: tuple[object, ...] | None = None
    last, error = 0.0, ""
    while True:
        now = _inputs(MANIFEST, DATASTORE)
        if now != seen or time.monotonic() - last >= RESYNC_S:
            try:
                for change in reconcile(node, DATASTORE, MANIFEST, method):
                    print(change, flush=True)
                seen, error = _inputs(MANIFEST, DATASTORE), ""  # our own node record is an input too
            except (subprocess.CalledProcessError, OSError, ValueError, KeyError, yaml.YAMLError, SystemExit) as exc:
                detail = f"{exc}: {exc.stderr.strip()}" if isinstance(exc, subprocess.CalledProcessError) else str(exc)
                if detail != error:  # said once, tried again at every poll
                    print(f"not reconciled (tried again at every poll): {detail}", flush=True)
                seen, error = None, detail
            last = time.monotonic()
        time.sleep(POLL_S)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
