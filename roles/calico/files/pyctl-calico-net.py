#!/usr/bin/python3
"""Host networking for Calico, as pyctl's calico role wants it: the pod-traffic NIC's MTU and, on lab
hosts only, a VXLAN overlay device like Calico's own (VNI, port, MTU, one static FDB entry per peer).

    pyctl-calico-net check   exit 0 when the host matches the config, 3 when it differs (JSON on stdout)
    pyctl-calico-net apply   make it match; prints the changes as JSON (run at boot by pyctl-calico-net.service)

The config is /etc/pyctl/calico-net.json, written by the role. Installed by the calico role; do not edit.
"""

from __future__ import annotations

import json
import subprocess
import sys

CONFIG = "/etc/pyctl/calico-net.json"
ZERO_MAC = "00:00:00:00:00:00"
EXIT_DRIFT = 3


def ip_json(*args: str) -> list[dict]:
    out = subprocess.run(["ip", "-d", "-j", *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return []
    return json.loads(out.stdout or "[]")


def run(*args: str) -> None:
    subprocess.run(list(args), check=True, capture_output=True, text=True)


def link(name: str) -> dict | None:
    found = ip_json("addr", "show", "dev", name) if name else []
    return found[0] if found else None


def fdb_peers(device: str) -> set[str]:
    out = subprocess.run(["bridge", "-j", "fdb", "show", "dev", device], capture_output=True, text=True,
                         check=False)
    entries = json.loads(out.stdout or "[]") if out.returncode == 0 else []
    return {e["dst"] for e in entries if e.get("mac") == ZERO_MAC and "dst" in e}


def global_addresses(dev: dict) -> set[str]:
    return {f"{a['local']}/{a['prefixlen']}" for a in dev.get("addr_info", [])
            if a.get("scope") == "global"}


def differences(cfg: dict) -> list[str]:
    """What differs between the host and the config, one line each."""
    diffs = []
    under = cfg["underlay"]
    nic = link(under["nic"])
    if nic is None:
        return [f"underlay NIC {under['nic']} not found"]
    if nic["mtu"] != under["mtu"]:
        diffs.append(f"underlay NIC {under['nic']} MTU {nic['mtu']}, wanted {under['mtu']}")
    ov = cfg.get("overlay")
    if not ov:
        return diffs
    dev = link(ov["device"])
    if dev is None:
        return [*diffs, f"overlay device {ov['device']} missing"]
    for what in immutable_differences(dev, ov):
        diffs.append(f"overlay device {ov['device']}: {what}")
    if dev["mtu"] != ov["mtu"]:
        diffs.append(f"overlay device {ov['device']} MTU {dev['mtu']}, wanted {ov['mtu']}")
    if global_addresses(dev) != {ov["address"]}:
        diffs.append(f"overlay device {ov['device']} addresses {sorted(global_addresses(dev))}, "
                     f"wanted [{ov['address']}]")
    if "UP" not in dev.get("flags", []):
        diffs.append(f"overlay device {ov['device']} is down")
    have = fdb_peers(ov["device"])
    if have != set(ov["peers"]):
        diffs.append(f"overlay device {ov['device']} FDB peers {sorted(have)}, wanted {sorted(ov['peers'])}")
    return diffs


def immutable_differences(dev: dict, ov: dict) -> list[str]:
    """Attributes only a new device can change."""
    info = dev.get("linkinfo", {})
    data = info.get("info_data", {})
    want = {"kind": "vxlan", "id": ov["vni"], "port": ov["port"], "local": ov["local"], "link": ov["link"],
            "df": "set"}
    have = {"kind": info.get("info_kind"), "id": data.get("id"), "port": data.get("port"),
            "local": data.get("local"), "link": data.get("link"), "df": data.get("df")}
    return [f"{k} {have[k]}, wanted {want[k]}" for k in want if have[k] != want[k]]


def apply(cfg: dict) -> list[str]:
    changes = []
    under = cfg["underlay"]
    nic = link(under["nic"])
    if nic is None:
        raise SystemExit(f"underlay NIC {under['nic']} not found")
    if nic["mtu"] != under["mtu"]:
        run("ip", "link", "set", "dev", under["nic"], "mtu", str(under["mtu"]))
        changes.append(f"underlay NIC {under['nic']} MTU {nic['mtu']} -> {under['mtu']}")
    ov = cfg.get("overlay")
    if not ov:
        return changes
    name = ov["device"]
    dev = link(name)
    if dev is not None and immutable_differences(dev, ov):
        run("ip", "link", "del", "dev", name)
        changes.append(f"overlay device {name} removed ({'; '.join(immutable_differences(dev, ov))})")
        dev = None
    if dev is None:
        # df set: the outer header carries don't-fragment, so an underlay that cannot carry the full frame
        # drops it (and the path check sees it) instead of fragmenting silently.
        run("ip", "link", "add", name, "type", "vxlan", "id", str(ov["vni"]), "dstport", str(ov["port"]),
            "dev", ov["link"], "local", ov["local"], "df", "set")
        changes.append(f"overlay device {name} created (VNI {ov['vni']}, port {ov['port']}, over {ov['link']})")
        dev = link(name) or {}
    if dev.get("mtu") != ov["mtu"]:
        run("ip", "link", "set", "dev", name, "mtu", str(ov["mtu"]))
        changes.append(f"overlay device {name} MTU -> {ov['mtu']}")
    have_addrs = global_addresses(dev)
    if have_addrs != {ov["address"]}:
        for stale in sorted(have_addrs - {ov["address"]}):
            run("ip", "addr", "del", stale, "dev", name)
        run("ip", "addr", "replace", ov["address"], "dev", name)
        changes.append(f"overlay device {name} address -> {ov['address']}")
    have = fdb_peers(name)
    for peer in sorted(set(ov["peers"]) - have):
        run("bridge", "fdb", "append", ZERO_MAC, "dev", name, "dst", peer)
        changes.append(f"overlay device {name} FDB peer {peer} added")
    for peer in sorted(have - set(ov["peers"])):
        run("bridge", "fdb", "del", ZERO_MAC, "dev", name, "dst", peer)
        changes.append(f"overlay device {name} FDB peer {peer} removed")
    if "UP" not in dev.get("flags", []):
        run("ip", "link", "set", "dev", name, "up")
        changes.append(f"overlay device {name} up")
    return changes


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in ("check", "apply"):
        print(__doc__, file=sys.stderr)
        return 2
    with open(CONFIG, encoding="utf-8") as f:
        cfg = json.load(f)
    if argv[1] == "check":
        diffs = differences(cfg)
        print(json.dumps({"differences": diffs}))
        return EXIT_DRIFT if diffs else 0
    try:
        changes = apply(cfg)
    except subprocess.CalledProcessError as exc:
        print(json.dumps({"error": f"{' '.join(exc.cmd)}: {exc.stderr.strip()}"}))
        return 1
    print(json.dumps({"changes": changes}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
