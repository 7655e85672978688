"""The lab has no way out: the machine forwards nothing from the lab's networks beyond them.

Podman uses CNI here, and a CNI ``--internal`` network leaves the machine without an address on the
bridge (no SSH from the controller, no mirror on the gateway). So the bridges stay, and the filter
table's FORWARD chain jumps first, before CNI's own rules (``CNI-FORWARD`` accepts its containers'
traffic), to a chain of pyctl's, ``PYCTL-LAB-EGRESS``: traffic that stays inside a lab subnet returns,
anything else from a lab subnet is rejected with ICMP "network unreachable", so a host that asks for
the internet fails at once and says so instead of timing out. What a lab host still reaches: the other
hosts on its subnets (bridged) and the controller at the gateway (input, not forwarding): SSH and the
lab mirror, which is where every package comes from.

CNI only inserts its jump when it is missing, so the jump put first stays first; :func:`ensure` puts it
back on top whenever the lab comes up, and :func:`remove` takes it away with the lab's networks.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Sequence

CHAIN = "PYCTL-LAB-EGRESS"
JUMP = ["FORWARD", "-j", CHAIN]


class EgressError(RuntimeError):
    """iptables could not set the rules."""


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(["iptables", "-w", "10", *args], capture_output=True, text=True, check=False,
                              timeout=30)
    except FileNotFoundError as exc:
        raise EgressError("iptables not found; run scripts/setup-host.sh first") from exc
    if check and proc.returncode != 0:
        raise EgressError(f"iptables {' '.join(args)}: {proc.stderr.strip() or proc.returncode}")
    return proc


def rules(subnets: Sequence[ipaddress.IPv4Network]) -> list[list[str]]:
    """The chain's rules: inside each subnet returns, anything else from it is rejected."""
    keep = [["-s", str(n), "-d", str(n), "-j", "RETURN"] for n in subnets]
    deny = [["-s", str(n), "-j", "REJECT", "--reject-with", "icmp-net-unreachable"] for n in subnets]
    return keep + deny


def ensure(subnets: Sequence[ipaddress.IPv4Network]) -> None:
    """The chain with exactly :func:`rules`, and the FORWARD chain's first rule a jump to it."""
    if _iptables("-n", "-L", CHAIN, check=False).returncode != 0:
        _iptables("-N", CHAIN)
    _iptables("-F", CHAIN)
    for rule in rules(subnets):
        _iptables("-A", CHAIN, *rule)
    while _iptables("-C", *JUMP, check=False).returncode == 0:
        _iptables("-D", *JUMP)
    _iptables("-I", "FORWARD", "1", "-j", CHAIN)


def active() -> bool:
    """The jump is FORWARD's first rule (nothing before it can accept a lab host's way out)."""
    proc = _iptables("-S", "FORWARD", check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("-A FORWARD")]
    return bool(lines) and lines[0] == f"-A FORWARD -j {CHAIN}"


def remove() -> None:
    """No jump and no chain left (the lab's networks are gone)."""
    while _iptables("-C", *JUMP, check=False).returncode == 0:
        _iptables("-D", *JUMP)
    if _iptables("-n", "-L", CHAIN, check=False).returncode == 0:
        _iptables("-F", CHAIN)
        _iptables("-X", CHAIN)
