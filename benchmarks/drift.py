"""Benchmark: drift over converged lab hosts, the fast path (each host against its recorded state over
the SSH pool, check + diff mode only where a record differs) against the full check (every role in
check + diff mode on every host, `pyctl drift --full`), in one run on the same hosts.

    eval "$(pyctl dev netbox env)"; .venv/bin/python benchmarks/drift.py [--hosts 20] [--keep]

1. `pyctl dev lab up N` (registered in NetBox, GPU stand-in, lab mirror) and `pyctl rollout lab --yes`
   that converges the hosts and records their state (untimed).
2. Timed, in sync: `pyctl drift lab` (fast) and `pyctl drift lab --full`; both must report every host in sync.
3. Timed, two hosts drifted by hand (a config file edited on one GPU worker, a service stopped on
   another): the fast and the full drift again; both must name exactly those two hosts.
Prints the four wall times and the two ratios (goal: fast ≤15 s for 20 hosts, ≥10× the full check);
restores the usual 6-host lab unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PY = str(REPO / ".venv" / "bin" / "python")
NOUVEAU = "/etc/modprobe.d/blacklist-nouveau.conf"


def sh(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=REPO, text=True, capture_output=True, check=False, env=env)


def drift(env: dict[str, str], *flags: str) -> tuple[float, dict[str, Any]]:
    t0 = time.monotonic()
    proc = sh(PY, "-m", "pyctl", "drift", "lab", "--json", *flags, env=env)
    seconds = time.monotonic() - t0
    if proc.returncode not in (0, 2):
        raise SystemExit(f"drift {' '.join(flags)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return seconds, json.loads(proc.stdout)


def not_in_sync(doc: dict[str, Any]) -> list[str]:
    return sorted(h["name"] for h in doc["hosts"] if h["status"] != "in-sync")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="leave the lab of --hosts hosts up afterwards")
    args = ap.parse_args()
    env = {**os.environ, "PYCTL_RUNS_DIR": str(REPO / "runs" / "bench-drift")}
    hosts: list[str] = []
    try:
        up = sh(PY, "-m", "pyctl", "dev", "lab", "up", str(args.hosts), "--json", env=env)
        if up.returncode != 0:
            print(up.stderr, file=sys.stderr)
            return 1
        hosts = [h["name"] for h in json.loads(up.stdout)["hosts"]]
        t0 = time.monotonic()
        rolled = sh(PY, "-m", "pyctl", "rollout", "lab", "--yes", env=env)
        print(f"rollout (converge and record, untimed in the result): {time.monotonic() - t0:.0f} s, "
              f"exit {rolled.returncode}", file=sys.stderr)
        if rolled.returncode != 0:
            print(rolled.stderr[-4000:], file=sys.stderr)
            return 1

        fast_s, fast = drift(env)
        full_s, full = drift(env, "--full")
        for name, doc in (("fast", fast), ("full", full)):
            if not_in_sync(doc):
                raise SystemExit(f"{name} drift of the converged lab is not in sync: {not_in_sync(doc)}")

        edited, stopped = hosts[5], hosts[-1]  # GPU workers (seed.lab: 3 etcd, 1 control plane first)
        subprocess.run(["podman", "exec", edited, "sed", "-i", "s/modeset=0/modeset=1/", NOUVEAU], check=True)
        subprocess.run(["podman", "exec", stopped, "systemctl", "stop", "nvidia-persistenced"], check=True)
        fast2_s, fast2 = drift(env)
        full2_s, full2 = drift(env, "--full")
        for name, doc in (("fast", fast2), ("full", full2)):
            if not_in_sync(doc) != sorted([edited, stopped]):
                raise SystemExit(f"{name} drift found {not_in_sync(doc)}, not {sorted([edited, stopped])}")

        print(f"drift over {len(hosts)} converged lab hosts (pyctl.desired_state records vs every role in "
              "check + diff mode)")
        print(f"  in sync:         fast {fast_s:6.1f} s   full {full_s:6.1f} s   ratio {full_s / fast_s:5.1f}x   "
              f"(fast: {len(fast['by_record'])} hosts by record, {len(fast['check_mode'])} in check mode)")
        print(f"  2 hosts drifted: fast {fast2_s:6.1f} s   full {full2_s:6.1f} s   ratio {full2_s / fast2_s:5.1f}x   "
              f"(fast: {len(fast2['by_record'])} hosts by record, {len(fast2['check_mode'])} in check mode)")
        return 0
    finally:
        if hosts:
            subprocess.run(["podman", "exec", hosts[-1], "systemctl", "start", "nvidia-persistenced"],
                           check=False, capture_output=True)
        if not args.keep:
            sh(PY, "-m", "pyctl", "dev", "lab", "up", "6", env=env)


if __name__ == "__main__":
    sys.exit(main())
