"""Benchmark: `pyctl smoke` over 50 lab hosts against the same checks as an Ansible play (forks 5).

    eval "$(pyctl dev netbox env)"; .venv/bin/python benchmarks/smoke.py [--hosts 50] [--keep]

Starts 50 lab hosts (`pyctl dev lab up 50`, registered in NetBox), runs
``pyctl smoke lab --check time-sync --check nic-mtu --check path-mtu`` (ssh always runs) and
``ansible-playbook benchmarks/smoke_play.yml --forks 5`` (Ansible's default forks; the project's
ansible.cfg for the OpenSSH settings: pipelining, ControlPersist) on the same hosts with the same probe
program and peers, prints both wall times and the ratio, then restores the usual 5-host lab
(unless --keep). pyctl's time includes reading NetBox and computing the plan; the play's inventory is
written beforehand (untimed), which favours Ansible.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pyctl import inventory as inv_mod  # noqa: E402
from pyctl.netbox import NetBox, settings_from_env  # noqa: E402
from pyctl.smoke import checks  # noqa: E402
from pyctl.smoke.run import cluster_values  # noqa: E402

PY = str(REPO / ".venv" / "bin" / "python")
CHECKS = ("--check", "time-sync", "--check", "nic-mtu", "--check", "path-mtu")


def sh(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=REPO, text=True, capture_output=True, check=False, **kw)  # type: ignore[call-overload, no-any-return]


def ansible_inventory(inventory: inv_mod.Inventory, tmp: Path) -> Path:
    """The lab as an Ansible inventory with, per host, the probe spec pyctl would send (same peers, sizes)."""
    listing = inv_mod.ansible_inventory(inventory)
    values = cluster_values(inventory, None, checks.SmokeSettings())
    settings = checks.SmokeSettings()
    hostvars = listing["_meta"]["hostvars"]
    for c in inventory.clusters:
        for h in c.hosts:
            peers = checks.probe_peers(c.hosts, h, full_mesh_max=settings.full_mesh_max_hosts)
            paths = [{"i": i, "kind": "underlay", "peer": p.name, "address": p.address,
                      "size": values[c.name].underlay_mtu} for i, p in enumerate(peers)]
            spec = base64.b64encode(json.dumps({"timeout": settings.probe_timeout_s, "paths": paths}).encode())
            hostvars[h.name]["smoke_probe_spec"] = spec.decode() if paths else ""
    inv_dir = tmp / "inventory"
    (inv_dir / "group_vars").mkdir(parents=True)
    hosts = {"all": {"hosts": hostvars, "vars": {"smoke_probe_script": checks.PROBE_SCRIPT,
                                                  "smoke_time_sync_command": checks.TIME_SYNC_COMMAND}}}
    (inv_dir / "hosts.json").write_text(json.dumps(hosts))
    conn = REPO / "inventories" / "lab" / "group_vars" / "all" / "connection.yml"
    (inv_dir / "group_vars" / "all.yml").write_text(conn.read_text())
    return inv_dir


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=50)
    ap.add_argument("--keep", action="store_true", help="leave the big lab up afterwards")
    ap.add_argument("--retries", type=int, default=2, help="`lab up` tries (sshd can be slow on a busy machine)")
    args = ap.parse_args()
    env = dict(os.environ)
    try:
        t0 = time.monotonic()
        for _ in range(max(args.retries, 1)):
            up = sh(PY, "-m", "pyctl", "dev", "lab", "up", str(args.hosts), env=env)
            if up.returncode == 0:
                break
        if up.returncode != 0:
            print(up.stderr, file=sys.stderr)
            return 1
        print(f"lab up: {args.hosts} hosts in {time.monotonic() - t0:.1f} s", file=sys.stderr)

        inventory = inv_mod.build(NetBox(settings_from_env()).site_records("lab"))
        with tempfile.TemporaryDirectory(prefix="pyctl-bench-") as tmp:
            inv_dir = ansible_inventory(inventory, Path(tmp))
            t0 = time.monotonic()
            smoke = sh(PY, "-m", "pyctl", "smoke", "lab", "--json", *CHECKS, env=env)
            pyctl_s = time.monotonic() - t0
            doc = json.loads(smoke.stdout)
            t0 = time.monotonic()
            play = sh(str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(inv_dir), "--forks", "5",
                      str(REPO / "benchmarks" / "smoke_play.yml"),
                      env={**env, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                           # no profile_tasks; an empty list is an error in ansible-core 2.20
                           "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.default"})
            ansible_s = time.monotonic() - t0
        recap = [ln for ln in play.stdout.splitlines() if " : ok=" in ln]
        ok_hosts = sum(" failed=0" in ln and " unreachable=0" in ln for ln in recap)
        result = {"hosts": len(inventory.hosts), "pyctl_smoke_s": round(pyctl_s, 2), "pyctl_exit": smoke.returncode,
                  "pyctl_counts": doc["counts"], "ansible_play_s": round(ansible_s, 2), "ansible_rc": play.returncode,
                  "ansible_hosts_ok": ok_hosts, "ratio": round(ansible_s / pyctl_s, 2)}
        print(json.dumps(result, indent=2))
        print(f"pyctl smoke {pyctl_s:.1f} s vs ansible-playbook (forks 5) {ansible_s:.1f} s on {len(inventory.hosts)} "
              f"hosts: {ansible_s / pyctl_s:.1f}x faster (goal >= 5x)", file=sys.stderr)
        if play.returncode != 0:
            print(play.stdout[-3000:] + play.stderr[-3000:], file=sys.stderr)
        return 0
    finally:
        if not args.keep:
            sh(PY, "-m", "pyctl", "dev", "lab", "up", "5", env=env)


if __name__ == "__main__":
    sys.exit(main())
