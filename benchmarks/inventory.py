"""Benchmark: `pyctl inventory` against netbox.netbox.nb_inventory, same NetBox, same run.

Both read the `scale` site of a large data set (the demo world plus N devices, built once by
`pyctl dev netbox seed --large N` and cached as a database dump) from a NetBox test bed of its own
(ports apart from the tests'), at NetBox's stock settings (MAX_PAGE_SIZE 1000: every list takes
several pages). A read that does not return every device stops the benchmark. nb_inventory runs
with `interfaces: true`, the only way it sees NIC MTUs, which pyctl needs. Prints both times and
the ratio; then pyctl alone on the larger set to show how it scales. Not a test: numbers only.

    .venv/bin/python benchmarks/inventory.py [--devices 3000] [--scale 30000] [--runs 3] [--skip-nb]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pyctl.dev import netbox as bed_mod  # noqa: E402
from pyctl.dev import seed  # noqa: E402

BIN = Path(sys.executable).parent
NB_CONFIG = """plugin: netbox.netbox.nb_inventory
api_endpoint: {url}
token:
  type: Bearer
  value: "{{{{ lookup('ansible.builtin.env', 'NETBOX_TOKEN') }}}}"
validate_certs: false
# One request for all ~39,000 interfaces takes minutes on a small server: the default 60 s is too short.
timeout: 900
interfaces: true
services: false
config_context: false
query_filters:
  - site: scale
group_by:
  - device_roles
  - sites
"""


def bench_bed() -> bed_mod.Bed:
    return bed_mod.Bed(home=Path(os.environ.get("PYCTL_DEV_HOME", "/var/lib/pyctl-dev")),
                       state=REPO / ".dev" / "netbox-bench", pg_port=54330, redis_port=63800, http_port=18081)


def load(bed: bed_mod.Bed, devices: int) -> None:
    started = time.monotonic()
    spec = {"dataset": seed.large(devices)}
    bed_mod.seed(bed, spec, cache_key=bed_mod.spec_key(spec))
    print(f"  data set of {devices:,} devices ready in {time.monotonic() - started:.1f} s "
          "(restored from the cached dump when it exists)", file=sys.stderr)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.monotonic()
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def pyctl_time(env: dict[str, str], runs: int) -> tuple[float, int]:
    times = []
    hosts = 0
    for _ in range(runs):
        elapsed, out = timed([str(BIN / "pyctl"), "inventory", "scale", "--ansible"], env)
        times.append(elapsed)
        hosts = len(json.loads(out)["_meta"]["hostvars"])
    return statistics.median(times), hosts


def _plain(value: object) -> object:
    return value.get("__ansible_unsafe") if isinstance(value, dict) else value


def nb_inventory_time(bed: bed_mod.Bed, env: dict[str, str]) -> tuple[float, int, float | None]:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "nb.netbox.yml"
        config.write_text(NB_CONFIG.format(url=bed.url))
        elapsed, out = timed([str(BIN / "ansible-inventory"), "-i", str(config), "--list"],
                             {**env, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    hostvars = json.loads(out)["_meta"]["hostvars"]
    sample = next(iter(hostvars.values()), {})
    # Strings read from an API come back marked untrusted: {"__ansible_unsafe": "ens1f0"}.
    mtu = next((i.get("mtu") for i in sample.get("interfaces") or [] if _plain(i.get("name")) == "ens1f0"), None)
    return elapsed, len(hostvars), mtu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=3000)
    parser.add_argument("--scale", type=int, default=30000, help="a larger set for pyctl alone (0: skip)")
    parser.add_argument("--runs", type=int, default=3, help="pyctl runs per set (median)")
    parser.add_argument("--skip-nb", action="store_true", help="skip nb_inventory (~2 min on 3,000 devices)")
    args = parser.parse_args()

    bed = bench_bed()
    bed_mod.up(bed)
    env = {**os.environ, "NETBOX_URL": bed.url, "NETBOX_TOKEN_FILE": str(bed.token_file),
           "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    try:
        load(bed, args.devices)
        env["NETBOX_TOKEN"] = bed.token_file.read_text().strip()
        ours, hosts = pyctl_time(env, args.runs)
        if hosts != args.devices:
            raise SystemExit(f"pyctl read {hosts:,} of {args.devices:,} hosts: not a complete read")
        print(f"pyctl inventory, {hosts:,} hosts of {args.devices:,} devices: {ours:.2f} s (median of {args.runs})")
        if not args.skip_nb:
            theirs, nb_hosts, mtu = nb_inventory_time(bed, env)
            print(f"nb_inventory (interfaces: true), {nb_hosts:,} hosts: {theirs:.2f} s (sample ens1f0 mtu {mtu})")
            if nb_hosts != args.devices:
                print(f"  nb_inventory read {nb_hosts:,} of {args.devices:,} hosts", file=sys.stderr)
            print(f"ratio nb_inventory / pyctl: {theirs / ours:.1f}x")
        if args.scale:
            load(bed, args.scale)
            env["NETBOX_TOKEN"] = bed.token_file.read_text().strip()
            big, big_hosts = pyctl_time(env, args.runs)
            print(f"pyctl inventory, {big_hosts:,} hosts of {args.scale:,} devices: {big:.2f} s "
                  f"(median of {args.runs}); {big / ours:.1f}x the time for {big_hosts / hosts:.1f}x the hosts")
    finally:
        bed_mod.down(bed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
