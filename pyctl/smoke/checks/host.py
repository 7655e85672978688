"""Host checks: SSH, time sync, the pod-traffic NIC's MTU, and the overlay facts the pair check reads."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence

from pyctl.inventory import Host
from pyctl.smoke.checks.base import Check, CheckResult, Context, HostFacts, failed, passed, skipped

# --- host checks -------------------------------------------------------------------------------------

class SshReachable(Check):
    name = "ssh"
    remedy = "is the host up and sshd running? the host key must be the one in known_hosts"

    def run(self, ctx: Context, host: Host) -> CheckResult:
        res = ctx.run("true")
        if not res.ok:
            return failed(f"connected, but a command fails: rc {res.rc} {res.stderr.strip()[:200]}")
        return passed(f"{host.address}: host key verified against known_hosts, "
                      f"connected in {ctx.connect_seconds * 1000:.0f} ms")


TIME_SYNC_COMMAND = (
    "timedatectl show -p NTPSynchronized --value 2>/dev/null; echo --; "
    "for u in chrony chronyd systemd-timesyncd ntpsec ntp; do "
    "[ \"$(systemctl is-active $u 2>/dev/null)\" = active ] && echo $u; done; echo --; "
    "systemd-detect-virt --container 2>/dev/null || true"
)


class TimeSync(Check):
    name = "time-sync"
    remedy = "enable chrony or systemd-timesyncd with reachable NTP servers; etcd and TLS need synchronised clocks"

    def run(self, ctx: Context, host: Host) -> CheckResult:
        parts = (ctx.run(TIME_SYNC_COMMAND).stdout + "\n--\n--").split("--")
        synced = parts[0].strip()
        active = [u for u in parts[1].split() if u]
        container = parts[2].strip()
        if synced == "yes":
            return passed(f"NTPSynchronized=yes ({', '.join(active) or 'sync service not named'})")
        if container and container != "none":
            # A container's clock is the host kernel's: there is nothing to synchronise in here.
            return skipped(f"{container} container: its clock is the host kernel's (NTPSynchronized="
                           f"{synced or 'unknown'}); check time sync on the machine that runs it")
        services = ", ".join(active) or "none"
        return failed(f"NTPSynchronized={synced or 'unknown'}; active time sync services: {services}")


class NicMtu(Check):
    name = "nic-mtu"
    remedy = "set the pod-traffic NIC's MTU to NetBox's (netplan/systemd-networkd) or correct NetBox, then rerun"

    def run(self, ctx: Context, host: Host) -> CheckResult:
        nic = host.underlay_nic
        res = ctx.run(f"cat /sys/class/net/{shlex.quote(nic)}/mtu")
        if not res.ok:
            return failed(f"{nic}: no such interface on the host ({res.stderr.strip()[:120]}); NetBox says "
                          f"MTU {host.underlay_mtu}")
        mtu = int(res.stdout.strip())
        if mtu != host.underlay_mtu:
            return failed(f"{nic} MTU is {mtu}, NetBox says {host.underlay_mtu}", host_mtu=mtu,
                          netbox_mtu=host.underlay_mtu)
        return passed(f"{nic} MTU {mtu} = NetBox {host.underlay_mtu}", host_mtu=mtu, netbox_mtu=host.underlay_mtu)


def overlay_facts_command(devices: Sequence[str]) -> str:
    names = " ".join(shlex.quote(d) for d in devices)
    return f"for d in {names}; do ip -json address show dev \"$d\" 2>/dev/null && exit 0; done; echo '[]'"


def parse_overlay_facts(stdout: str) -> HostFacts:
    entries = json.loads(stdout.strip().splitlines()[0] if stdout.strip() else "[]")
    if not entries:
        return HostFacts()
    dev = entries[0]
    ipv4 = next((a.get("local") for a in dev.get("addr_info", []) if a.get("family") == "inet"), None)
    return HostFacts(overlay_device=dev.get("ifname"), overlay_ipv4=ipv4, overlay_mtu=dev.get("mtu"))
