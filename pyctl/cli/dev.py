"""`pyctl dev netbox|lab|mirror`: the local test beds that tests and the demo use."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from typing import Any

from pyctl.cli.common import eprint, print_result
from pyctl.dev import lab, mirror, seed
from pyctl.dev import netbox as bed_mod
from pyctl.errors import ConfigError, ExitCode


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p_dev = sub.add_parser("dev", help="local test beds: NetBox (and the lab hosts)",
                           description="Start, stop and seed the local test beds that tests and the demo use.")
    dev_sub = p_dev.add_subparsers(dest="dev_command", metavar="BED", required=True)
    p_nb = dev_sub.add_parser("netbox", help="the real NetBox 4.7 on loopback",
                              description="Manage the local NetBox: `up` starts PostgreSQL, Redis and gunicorn "
                              "(migrating once, then restoring the cached schema); `seed` loads a data set; "
                              "`env` prints the shell exports for NETBOX_URL and NETBOX_TOKEN_FILE; `down` stops "
                              "what `up` started; `prepare` only builds what is slow and shared by every bed "
                              "(NetBox's venv, the migrated schema's cached dump), leaving nothing running.")
    p_nb.add_argument("action", choices=["up", "down", "status", "seed", "env", "prepare"])
    p_nb.add_argument("--large", type=int, metavar="N",
                      help="with seed: the demo world plus N devices in the site `scale` (cached as a dump)")
    p_nb.add_argument("--json", action="store_true", help="machine-readable output")
    p_lab = dev_sub.add_parser("lab", help="lab hosts: podman containers booting systemd, reached over SSH",
                               description="`up N` makes exactly N lab hosts (systemd, sshd, fixed IP and MAC, "
                               "NET_ADMIN) and registers them in NetBox's `lab` site (eth0: the primary IP; eth1, "
                               "on a network of its own: pod traffic, with its real MTU), starting the NetBox test "
                               "bed if needed; `down` removes them; `status` lists them; `image` builds the lab "
                               "host image when its definition changed and prints its tag. PYCTL_LAB_NAME (`lab`, "
                               "the default, or `test`, a test session's) picks the lab: its hosts are "
                               "pyctl-NAME-01…, and no verb touches another lab's hosts.")
    p_lab.add_argument("action", choices=["up", "down", "status", "image"])
    p_lab.add_argument("hosts", nargs="?", type=int, default=5, help="with up: how many hosts (default 5)")
    p_lab.add_argument("--json", action="store_true", help="machine-readable output")
    _add_mirror_parser(dev_sub)


def _add_mirror_parser(dev_subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``mirror`` to ``pyctl dev``'s test beds."""
    p = dev_subparsers.add_parser(
        "mirror", help="the lab's artifact mirror (stand-in NVIDIA apt repository, stand-in kube binaries)",
        description=f"`up` assembles {mirror.MIRROR_ROOT}/<dc>/ (the stand-in NVIDIA apt repository, the "
        "control-plane stand-ins with SHA256SUMS) and serves it over HTTP on 127.0.0.1 and, when the podman "
        f"network {mirror.LAB_NETWORK} has its bridge, on its gateway {mirror.LAB_GATEWAY}; port "
        f"{mirror.DEFAULT_PORT}. Starting twice is harmless; `down` stops only what `up` started.")
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--dc", default="lab", help="the data center whose mirror tree to serve (default lab)")
    p.add_argument("--port", type=int, default=mirror.DEFAULT_PORT, help="TCP port (default %(default)s)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    if args.dev_command == "mirror":
        return _mirror(args)
    bed = bed_mod.Bed.from_env()
    if args.dev_command == "lab":
        return cmd_dev_lab(args, bed)
    result: dict[str, Any]
    try:
        if args.action == "up":
            bed_mod.up(bed)
            result = bed_mod.status(bed)
        elif args.action == "down":
            bed_mod.down(bed)
            result = bed_mod.status(bed)
        elif args.action == "status":
            result = bed_mod.status(bed)
        elif args.action == "prepare":
            result = {"venv": str(bed.venv), "migrated_dump": str(bed_mod.prepare(bed))}
        elif args.action == "seed":
            bed_mod.up(bed)
            spec = seed.large(args.large) if args.large else seed.demo()
            ds = {"dataset": spec}
            dump_path = bed_mod.seed(bed, ds, cache_key=bed_mod.spec_key(ds))
            result = {**bed_mod.status(bed), "devices": len(spec["devices"]), "dump": str(dump_path)}
        else:  # env
            print(f"export NETBOX_URL={bed.url}\nexport NETBOX_TOKEN_FILE={bed.token_file}")
            return ExitCode.OK
    except bed_mod.DevError as exc:
        raise ConfigError(f"netbox test bed: {exc}") from exc
    print_result(result, as_json=args.json)
    return ExitCode.OK


def cmd_dev_lab(args: argparse.Namespace, bed: bed_mod.Bed) -> int:
    started = time.monotonic()
    if args.action == "image":
        info = lab.ensure_image()
        print(json.dumps(asdict(info), indent=2) if args.json else info.tag)
        return ExitCode.OK
    if args.action == "up":
        hosts = lab.up(args.hosts)
        records = [(h.name, f"{h.ip}/{lab.SUBNET.prefixlen}", f"{h.pod_ip}/{lab.POD_SUBNET.prefixlen}",
                    lab.nic_mtu(h.name, lab.POD_NIC)) for h in hosts]
        try:
            bed_mod.up(bed)
            spec = seed.lab(records)
            bed_mod.load(bed, {"dataset": spec})
        except bed_mod.DevError as exc:
            raise ConfigError(f"lab hosts are up, but registering them in NetBox failed: {exc}") from exc
        for device in spec["devices"]:  # the hardware boundary: emulated GPUs as NetBox has them
            cf = device["custom_fields"]
            lab.emulate_gpus(device["name"], cf if cf.get("gpu_count") else None)
        try:  # the lab's artifact mirror, where the hosts reach it (inventories/lab/group_vars/all/mirror.yml)
            mirror_state = mirror.up("lab")
        except mirror.MirrorError as exc:
            raise ConfigError(f"lab hosts are up, but the lab's artifact mirror did not start: {exc}") from exc
        registered = [{**asdict(h), "mtu": mtu} for h, (_, _, _, mtu) in zip(hosts, records, strict=True)]
        result: dict[str, Any] = {"hosts": registered, "netbox_site": "lab", "mirror": mirror_state["urls"],
                                  "seconds": round(time.monotonic() - started, 1)}
    elif args.action == "down":
        result = {"removed": lab.down()}
        if not lab.hosts_left():  # the mirror serves every lab on this machine: it stops with the last host
            mirror.down("lab")
    else:
        result = {"hosts": [asdict(h) for h in lab.status()]}
    if args.json:
        print(json.dumps(result, indent=2))
    elif "hosts" in result:
        for h in result["hosts"]:
            mtu = f"  mtu {h['mtu']}" if "mtu" in h else ""
            print(f"{h['name']:<14} {h['ip']:<15} {h['mac']}  {h['state']}{mtu}")
        if args.action == "up":
            eprint(f"{len(result['hosts'])} lab hosts up and registered in NetBox site lab in {result['seconds']} s")
    else:
        eprint(f"removed {len(result['removed'])} lab host(s)")
    return ExitCode.OK


def _mirror(args: argparse.Namespace) -> int:
    """Run ``pyctl dev mirror ACTION``."""
    try:
        if args.action == "up":
            result = mirror.up(dc=args.dc, port=args.port)
        elif args.action == "down":
            result = mirror.down(dc=args.dc)
        else:
            result = mirror.status(dc=args.dc)
    except mirror.MirrorError as exc:
        raise ConfigError(f"artifact mirror: {exc}") from exc
    print_result(result, as_json=args.json)
    return ExitCode.OK
