#!/usr/bin/python3
"""Largest don't-fragment packet each path carries, for pyctl's calico role (tasks/check_path_mtu.yml).

    calico-path-mtu.py BASE64_JSON
    JSON: {"host": "lab-01", "timeout": 0.5,
           "underlay": {"mtu": 1500, "source": "NetBox", "peers": {"lab-02": "172.31.213.12", ...}},
           "overlay": {"mtu": 1450, "source": "the plan", "device": "vxlan.calico", "peers": {"lab-02": "10.20.64.65"}}}

For each path it sends ICMP echo requests of the full size (``mtu`` bytes of IPv4 packet: 20 IP + 8 ICMP +
payload) with don't-fragment set, as ``ping -M probe -s <mtu - 28>`` would. When they go unanswered it
searches for the largest size that is answered. Prints {"results": [{"kind", "peer", "address", "mtu",
"ok", "largest", "message"}]} and exits 0; the role decides what fails. Read-only: it changes nothing on the host.

``-M probe`` (IP_PMTUDISC_PROBE) rather than ``-M do``: both set DF, but ``do`` also obeys the kernel's cached
path MTU, which one failed probe lowers for ten minutes (net.ipv4.route.mtu_expires) and which would then fail
good paths too. ICMP datagram sockets need no CAP_NET_RAW where net.ipv4.ping_group_range admits root (podman
sets it so); elsewhere root's raw socket is used.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import select
import socket
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor

IP_MTU_DISCOVER = getattr(socket, "IP_MTU_DISCOVER", 10)
IP_PMTUDISC_PROBE = getattr(socket, "IP_PMTUDISC_PROBE", 3)
HEADERS = 28  # IPv4 20 + ICMP 8
ECHO_REQUEST, ECHO_REPLY = 8, 0
FULL_SIZE_TRIES = 3  # one lost packet on a good path is not a finding
WORKERS = 16


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def open_socket() -> tuple[socket.socket, bool]:
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP), False
    except PermissionError:
        return socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP), True


def echo(address: str, size: int, timeout: float, seq: int) -> bool:
    """One echo of an IPv4 packet of ``size`` bytes with DF set; True when answered within ``timeout``."""
    payload = os.urandom(max(size - HEADERS, 0))
    sock, raw = open_socket()
    ident = os.getpid() & 0xFFFF  # a datagram socket replaces it with its own; the kernel matches replies
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)
        header = struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, seq)
        packet = struct.pack("!BBHHH", ECHO_REQUEST, 0, checksum(header + payload), ident, seq) + payload
        try:
            sock.sendto(packet, (address, 0))
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:  # larger than the local interface's MTU
                return False
            raise
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                return False
            try:
                data, (source, _) = sock.recvfrom(65535)
            except OSError:  # an ICMP error queued on the socket (e.g. fragmentation needed)
                return False
            if raw:
                data = data[(data[0] & 0x0F) * 4:]
            if len(data) < 8 or source != address:
                continue
            kind, _, _, got_ident, got_seq = struct.unpack("!BBHHH", data[:8])
            if kind == ECHO_REPLY and got_seq == seq and (not raw or got_ident == ident) \
                    and len(data) - 8 == len(payload):
                return True
        return False
    finally:
        sock.close()


def largest(path: dict, timeout: float) -> dict:
    address, mtu = path["address"], int(path["mtu"])
    seq = iter(range(1, 65536))
    if any(echo(address, mtu, timeout, next(seq)) for _ in range(FULL_SIZE_TRIES)):
        return {**path, "ok": True, "largest": mtu}
    if not any(echo(address, HEADERS, timeout, next(seq)) for _ in range(FULL_SIZE_TRIES)):
        return {**path, "ok": False, "largest": 0}
    good, bad = HEADERS, mtu
    while bad - good > 1:
        mid = (good + bad) // 2
        if echo(address, mid, timeout, next(seq)):
            good = mid
        else:
            bad = mid
    return {**path, "ok": False, "largest": good}


def paths_of(spec: dict) -> list[dict]:
    paths = []
    for kind in ("underlay", "overlay"):
        part = spec.get(kind) or {}
        for peer, address in sorted((part.get("peers") or {}).items()):
            if address and int(part.get("mtu") or 0) > HEADERS:
                paths.append({"kind": kind, "peer": peer, "address": address, "mtu": int(part["mtu"]),
                              "source": part.get("source", ""), "device": part.get("device", "")})
    return paths


def message(host: str, result: dict) -> str:
    via = f" over {result['device']}" if result["device"] else ""
    return (f"{result['kind']} path {host} \u2192 {result['peer']} carries {result['largest']} bytes, "
            f"{result['source']} says MTU {result['mtu']} (don't-fragment probes to {result['address']}{via})")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(base64.b64decode(argv[1]))
    timeout = float(spec.get("timeout", 0.5))
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = list(pool.map(lambda p: largest(p, timeout), paths_of(spec)))
    for r in results:
        r["message"] = "" if r["ok"] else message(spec.get("host", "this host"), r)
    print(json.dumps({"results": results}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
