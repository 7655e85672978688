"""Benchmark: a no-change rollout (second run) over 20 lab hosts, pyctl against the same playbooks under
Ansible's defaults (forks 5, no pipelining, no ControlPersist), and a drift over the same hosts.

    eval "$(pyctl dev netbox env)"; .venv/bin/python benchmarks/rollout.py [--hosts 20] [--keep]

1. `pyctl dev lab up N` (registered in NetBox, GPU stand-in, lab mirror) and a first `pyctl rollout lab
   --yes` that converges the hosts (untimed).
2. Timed: `pyctl rollout lab --yes` again: NetBox read, plan, artifact check, canary-first batches of every
   phase, the smoke phase — the whole command as an engineer runs it.
3. Timed: `ansible-playbook` of the same phase playbooks (preflight, gpu, etcd, control_plane, calico), one
   run per phase over all its hosts (no canary batches, no artifact check, no smoke: less work than pyctl),
   with the inventory pyctl wrote for step 2, under Ansible's defaults: forks 5, ANSIBLE_PIPELINING=False,
   ssh_args without ControlMaster/ControlPersist and the default internal poll interval (0.001 s).
4. Timed: `pyctl rollout lab --yes --changed-only`: the hosts whose every role matches the state it recorded
   under today's inputs are left out of every playbook phase (the records are compared over the SSH pool);
   the smoke phase still checks every host.
5. Timed: `pyctl drift lab` over the same converged hosts.
Prints the wall times and the ratios; restores the usual 6-host lab unless --keep.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = str(REPO / ".venv" / "bin" / "python")
PHASE_PLAYBOOKS = ("preflight.yml", "gpu.yml", "etcd.yml", "control_plane.yml", "calico.yml")


def sh(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=REPO, text=True, capture_output=True, check=False, env=env)


def timed(*args: str, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.monotonic()
    proc = sh(*args, env=env)
    return time.monotonic() - t0, proc


def defaults_config(runs: Path) -> Path:
    """The project's ansible.cfg (its plugin and role paths, made absolute) with Ansible's defaults where
    pyctl tunes: the internal poll interval (no environment variable sets it); forks, pipelining and
    ControlPersist go by command line and environment."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(REPO / "ansible.cfg")
    for key in ("inventory_plugins", "filter_plugins", "roles_path"):
        config["defaults"][key] = str(REPO / config["defaults"][key])
    config.remove_option("defaults", "internal_poll_interval")
    path = runs / "ansible-defaults.cfg"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        config.write(f)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="leave the lab of --hosts hosts up afterwards")
    args = ap.parse_args()
    env = dict(os.environ)
    runs = REPO / "runs" / "bench-rollout"
    env["PYCTL_RUNS_DIR"] = str(runs)
    try:
        up = sh(PY, "-m", "pyctl", "dev", "lab", "up", str(args.hosts), env=env)
        if up.returncode != 0:
            print(up.stderr, file=sys.stderr)
            return 1
        first_s, first = timed(PY, "-m", "pyctl", "rollout", "lab", "--yes", env=env)
        print(f"first rollout (converge, untimed in the result): {first_s:.0f} s, exit {first.returncode}",
              file=sys.stderr)
        if first.returncode != 0:
            print(first.stderr[-4000:], file=sys.stderr)
            return 1

        pyctl_s, second = timed(PY, "-m", "pyctl", "rollout", "lab", "--yes", "--json", env=env)
        if second.returncode != 0:
            print(second.stderr[-4000:], file=sys.stderr)
            return 1
        run_dir = Path(json.loads(second.stdout)["run_dir"])
        inventory = run_dir / "inventory"

        defaults = {**env, "ANSIBLE_CONFIG": str(defaults_config(runs)), "ANSIBLE_PIPELINING": "False",
                    "ANSIBLE_SSH_ARGS": "-o ServerAliveInterval=5 -o ServerAliveCountMax=3",
                    "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.default"}
        ansible_s = 0.0
        changed = 0
        for book in PHASE_PLAYBOOKS:
            seconds, proc = timed(str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory),
                                  "--forks", "5", str(REPO / "playbooks" / book), env=defaults)
            ansible_s += seconds
            recap = [ln for ln in proc.stdout.splitlines() if " : ok=" in ln]
            changed += sum(int(ln.split("changed=")[1].split()[0]) for ln in recap)
            if proc.returncode != 0:
                print(f"{book}: rc {proc.returncode}\n{proc.stdout[-3000:]}", file=sys.stderr)
                return 1
            print(f"ansible defaults: {book} {seconds:.1f} s", file=sys.stderr)

        changed_only_s, changed_only = timed(PY, "-m", "pyctl", "rollout", "lab", "--yes", "--changed-only", "--json",
                                             env=env)
        if changed_only.returncode != 0:
            print(changed_only.stderr[-4000:], file=sys.stderr)
            return 1
        left = json.loads(changed_only.stdout)["phases"]
        drift_s, drift = timed(PY, "-m", "pyctl", "drift", "lab", "--json", env=env)
        drift_doc = json.loads(drift.stdout)
        result = {"hosts": args.hosts, "pyctl_rollout_no_change_s": round(pyctl_s, 1),
                  "ansible_defaults_s": round(ansible_s, 1), "ansible_changed_tasks": changed,
                  "ratio": round(ansible_s / pyctl_s, 2), "pyctl_drift_s": round(drift_s, 1),
                  "pyctl_rollout_changed_only_s": round(changed_only_s, 1),
                  "changed_only_ratio": round(ansible_s / changed_only_s, 2),
                  "changed_only_phases": [p["name"] for p in left],
                  "drift_exit": drift.returncode, "drift_counts": drift_doc["counts"]}
        print(json.dumps(result, indent=2))
        print(f"no-change rollout of {args.hosts} hosts: pyctl {pyctl_s:.1f} s vs the same playbooks under Ansible "
              f"defaults {ansible_s:.1f} s: {ansible_s / pyctl_s:.2f}x (goal >= 3x); with --changed-only "
              f"{changed_only_s:.1f} s: {ansible_s / changed_only_s:.1f}x; pyctl drift {drift_s:.1f} s",
              file=sys.stderr)
        return 0
    finally:
        if not args.keep:
            sh(PY, "-m", "pyctl", "dev", "lab", "up", "6", env=env)


if __name__ == "__main__":
    sys.exit(main())
