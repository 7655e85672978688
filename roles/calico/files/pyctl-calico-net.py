#!/usr/bin/python3
"""Host networking for Calico, as pyctl's calico role wants it: the pod-traffic NIC's MTU (NetBox's).

    pyctl-calico-net check   exit 0 when the host matches the config, 3 when it differs (JSON on stdout)
    pyctl-calico-net apply   make it match; prints the changes as JSON (run at boot by pyctl-calico-net.service)

The config is /etc/pyctl/calico-net.json, written by the role. The tunnel devices are calico-node's, not
this script's. Installed by the calico role; do not edit.
"""

from __future__ import annotations

import json
import subprocess
import sys

CONFIG = "/etc/pyctl/calico-net.json"
EXIT_DRIFT = 3


def link(name: str) -> dict | None:
    out = subprocess.run(["ip", "-j", "link", "show", "dev", name], capture_output=True, text=True, check=False)
    found = json.loads(out.stdout or "[]") if out.returncode == 0 else []
    return found[0] if found else None


def differences(cfg: dict) -> list[str]:
    """What differs between the host and the config, one line each."""
    under = cfg["underlay"]
    nic = link(under["nic"])
    if nic is None:
        return [f"underlay NIC {under['nic']} not found"]
    if nic["mtu"] != under["mtu"]:
        return [f"underlay NIC {under['nic']} MTU {nic['mtu']}, wanted {under['mtu']}"]
    return []


def apply(cfg: dict) -> list[str]:
    under = cfg["underlay"]
    nic = link(under["nic"])
    if nic is None:
        raise SystemExit(f"underlay NIC {under['nic']} not found")
    if nic["mtu"] == under["mtu"]:
        return []
    subprocess.run(["ip", "link", "set", "dev", under["nic"], "mtu", str(under["mtu"])], check=True,
                   capture_output=True, text=True)
    return [f"underlay NIC {under['nic']} MTU {nic['mtu']} -> {under['mtu']}"]


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
