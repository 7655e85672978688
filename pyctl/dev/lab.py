"""The lab: N podman containers booting systemd, each a host with its own IP, MAC and sshd.

The hosts run the same image Molecule uses (``images/lab-host``), built on this machine without a
registry: ``debootstrap --variant=minbase`` → ``podman import`` → ``podman build``. The image is tagged
with a hash of its definition and rebuilt only when that changes.

Trust: the lab key is generated once into ``<repo>/.dev/lab/`` (mode 0600). Host keys are read through
``podman exec`` (a channel we trust, unlike a network key scan) into ``<repo>/.dev/lab/known_hosts``;
Ansible and pyctl connect with ``StrictHostKeyChecking=yes`` against that file only.

Labs side by side (the demo's ``lab``, a test session's ``test``: ``$PYCTL_LAB_NAME``, :mod:`pyctl.dev.lab_names`):
each verb acts on one lab's hosts, and only those this checkout made.

`pyctl dev lab up|down|status|image` (pyctl/cli/dev.py) is the command line; up also registers the hosts
in NetBox.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyctl.dev import lab_egress, lab_names
from pyctl.errors import ExitCode, PyctlError
from pyctl.paths import REPO

# Where the lab's hosts are and what marks them, as the lab's callers read them.
Lab = lab_names.Lab
LabHost = lab_names.LabHost
LABEL = lab_names.LABEL
SUBNET = lab_names.SUBNET
POD_SUBNET = lab_names.POD_SUBNET
GATEWAY = lab_names.GATEWAY

# The lab key and the known_hosts of every lab this checkout runs (what inventories/lab/group_vars name);
# each lab's own part of it and its inventory under labs/<name>/.
STATE_DIR = REPO / ".dev" / "lab"
KEY_FILE = STATE_DIR / "id_ed25519"
KNOWN_HOSTS_FILE = STATE_DIR / "known_hosts"
IMAGE_DIR = REPO / "images" / "lab-host"
CACHE_DIR = Path(os.environ.get("PYCTL_DEV_CACHE", "/var/lib/pyctl-dev/cache"))
# One lab change at a time on this machine: the labs of every checkout share the two networks.
LOCK_FILE = Path(os.environ.get("PYCTL_DEV_HOME", "/var/lib/pyctl-dev")) / "lab.lock"

# Shared by every lab (lab_names: why), created by the first `up` and removed with the last host.
NETWORK = "pyctl-lab"
# A second network whose eth1 carries pod traffic, as a data center's pod-traffic NIC apart from the
# management one: the host's pod address (NetBox's pod-traffic interface) differs from its primary IP.
POD_NETWORK = "pyctl-lab-pod"
# Bumped when the hosts' networking (or what is mounted into them) changes: a host made by an older
# definition is re-created.
NETWORK_GENERATION = "4"
# Where the image's calico-node stand-in keeps its datastore (images/lab-host/files/calico-node-standin.py):
# one directory per lab, mounted into each of its hosts, as one cluster's nodes share one Calico datastore.
CALICO_DATASTORE = "/var/lib/calico-node-standin"
IMAGE_REPO = "localhost/pyctl-lab-host"
BASE_IMAGE_REPO = "localhost/pyctl-lab-base"
POD_NIC = "eth1"

SUITE = "bookworm"
VARIANT = "minbase"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

SSH_WAIT_S = 90.0  # plus SSH_WAIT_PER_HOST_S per host: on 2 cores, 50 systemd boots queue
SSH_WAIT_PER_HOST_S = 3.0
# podman serialises much of its work on a lock; beyond a few workers on 2 cores nothing is gained.
PODMAN_WORKERS = 4


class LabError(PyctlError):
    """The lab could not be built, started or inspected."""

    exit_code = ExitCode.INTERNAL


@dataclass(frozen=True)
class ImageInfo:
    tag: str
    definition_hash: str
    built: bool
    seconds: float


def current(name: str | None = None) -> Lab:
    """The lab the verbs act on: ``name``, else ``$PYCTL_LAB_NAME``, else the demo's ``lab``."""
    return lab_names.lab(name, os.environ)


def host_spec(index: int, which: Lab | None = None) -> LabHost:
    """Name, IP and MAC of the lab's host ``index`` (1-based); fixed, so a re-created host keeps all three."""
    return (which or current()).host(index)


def inventory_file(which: Lab | None = None) -> Path:
    return STATE_DIR / "labs" / (which or current()).name / "inventory.json"


def calico_datastore(which: Lab | None = None) -> Path:
    return STATE_DIR / "labs" / (which or current()).name / "calico-datastore"


def _forget_calico_nodes(which: Lab, keep: set[str]) -> None:
    """Take the hosts not in ``keep`` out of the lab's Calico datastore (their node records and blocks), as
    deleting a node from a cluster does, so the others drop them as peers."""
    store = calico_datastore(which)
    for record in (store / "nodes").glob("*.json"):
        if record.stem not in keep:
            record.unlink()
    for claim in (store / "blocks").glob("*/*"):
        if claim.read_text(encoding="utf-8") not in keep:
            claim.unlink()


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run(
    args: Sequence[str], *, input_text: str | None = None, check: bool = True, timeout: float | None = 600
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(args), input=input_text, capture_output=True, text=True, check=False, timeout=timeout
        )
    except FileNotFoundError as exc:
        raise LabError(f"{args[0]} not found; run scripts/setup-host.sh first") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout} s: {' '.join(args)}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise LabError(f"command failed ({proc.returncode}): {' '.join(args)}\n{detail}")
    return proc


def _podman(*args: str, input_text: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(["podman", *args], input_text=input_text, check=check)


# --- image -------------------------------------------------------------------------------------------


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb.debian.org if none is named)."""
    if env := os.environ.get("PYCTL_LAB_MIRROR"):
        return env.rstrip("/")
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    pattern = re.compile(r"(https?://\S+/debian)/?(?:\s|$)")
    for path in sources:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            if line.lstrip().startswith("#"):
                continue
            if match := pattern.search(line):
                return match.group(1)
    return DEFAULT_MIRROR


def _base_key(mirror: str) -> str:
    return hashlib.sha256(f"debootstrap {VARIANT} {SUITE} amd64 {mirror}".encode()).hexdigest()[:16]


def definition_hash(mirror: str | None = None) -> str:
    """Hash of everything the image is made from: debootstrap inputs, Containerfile and its files."""
    digest = hashlib.sha256(_base_key(mirror or debian_mirror()).encode())
    for path in sorted(p for p in IMAGE_DIR.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(IMAGE_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def image_tag() -> str:
    return f"{IMAGE_REPO}:{definition_hash()}"


def _base_tarball(mirror: str) -> Path:
    """The debootstrap root as a tarball, cached by its inputs (suite, variant, arch, mirror)."""
    tarball = CACHE_DIR / f"lab-base-{SUITE}-{_base_key(mirror)}.tar"
    if tarball.exists():
        return tarball
    if shutil.which("debootstrap") is None:
        raise LabError("debootstrap not found; run scripts/setup-host.sh first")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pyctl-lab-root-", dir=CACHE_DIR) as tmp:
        root = Path(tmp) / "root"
        _log(f"lab: debootstrap --variant={VARIANT} {SUITE} from {mirror}")
        _run(["debootstrap", f"--variant={VARIANT}", "--arch=amd64", SUITE, str(root), mirror], timeout=1200)
        partial = Path(tmp) / "base.tar"
        _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."])
        partial.replace(tarball)
    return tarball


def ensure_image(*, force: bool = False) -> ImageInfo:
    """Build the lab host image unless an image of the same definition exists."""
    mirror = debian_mirror()
    digest = definition_hash(mirror)
    tag = f"{IMAGE_REPO}:{digest}"
    if not force and _podman("image", "exists", tag, check=False).returncode == 0:
        return ImageInfo(tag=tag, definition_hash=digest, built=False, seconds=0.0)
    started = time.monotonic()
    base_tag = f"{BASE_IMAGE_REPO}:{_base_key(mirror)}"
    if force or _podman("image", "exists", base_tag, check=False).returncode != 0:
        tarball = _base_tarball(mirror)
        _log(f"lab: podman import {tarball.name}")
        _podman("import", str(tarball), base_tag)
    _log(f"lab: podman build {tag}")
    _run(
        [
            "podman", "build", "--build-arg", f"BASE_IMAGE={base_tag}", "--label", f"{LABEL}.definition={digest}",
            "-t", tag, "-t", f"{IMAGE_REPO}:latest", "-f", str(IMAGE_DIR / "Containerfile"), str(IMAGE_DIR),
        ],
        timeout=1200,
    )  # fmt: skip
    return ImageInfo(tag=tag, definition_hash=digest, built=True, seconds=round(time.monotonic() - started, 1))


# --- keys --------------------------------------------------------------------------------------------


def ensure_key() -> Path:
    """The lab's SSH key, generated once; the private half never leaves the state dir."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    STATE_DIR.chmod(0o700)
    if not KEY_FILE.exists():
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pyctl-lab", "-f", str(KEY_FILE)])
    KEY_FILE.chmod(0o600)
    return KEY_FILE


def ssh_common_args() -> str:
    """OpenSSH options every lab connection uses: our known_hosts only, and never accept a new key."""
    return (
        f"-o UserKnownHostsFile={KNOWN_HOSTS_FILE} -o GlobalKnownHostsFile=/dev/null "
        "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"
    )


def ansible_inventory(hosts: Iterable[LabHost]) -> dict[str, Any]:
    """An Ansible inventory of the lab (group ``lab``); key and known_hosts go by path, never by content."""
    return {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_ssh_private_key_file": str(KEY_FILE),
                "ansible_ssh_common_args": ssh_common_args(),
            },
            "children": {"lab": {"hosts": {h.name: {"ansible_host": h.ip} for h in hosts}}},
        }
    }


# --- containers --------------------------------------------------------------------------------------


def _containers(*filters: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(
        _podman("ps", "-a", *(f"--filter={f}" for f in filters), "--format", "json").stdout or "[]")
    return found


def _sorted(which: Lab) -> lab_names.Sorted:
    """This lab's hosts, and the containers that only carry their names (every container is looked at:
    an unlabelled one of the same name would make `podman run` fail)."""
    return lab_names.sort_containers(_containers(), which, str(REPO))


def hosts_left() -> list[str]:
    """Every lab's hosts on this machine, whichever lab and checkout made them (the shared lab mirror
    stops with the last)."""
    return sorted(str(c["Names"][0]) for c in _containers(f"label={LABEL}"))


def _ensure_network() -> None:
    for name, subnet in ((NETWORK, SUBNET), (POD_NETWORK, POD_SUBNET)):
        if _podman("network", "exists", name, check=False).returncode == 0:
            continue
        _podman("network", "create", "--subnet", str(subnet), "--gateway", str(subnet[1]), "--label", f"{LABEL}=1",
                name)
    try:
        lab_egress.ensure([SUBNET, POD_SUBNET])  # no way out (lab_egress: why and how)
    except lab_egress.EgressError as exc:
        raise LabError(f"cannot close the lab's way out: {exc}") from exc


# /proc/sys is read-only in a container: a network namespace's sysctls are fixed when it is created. These are
# the ones the roles set on a real host (roles/calico/defaults: calico_sysctls), so the roles find them as
# they want them.
HOST_SYSCTLS = {"net.ipv4.ip_forward": 1, "net.ipv4.conf.all.rp_filter": 1}


def _create(host: LabHost, image: str, which: Lab) -> None:
    labels = {**which.labels(str(REPO)), f"{LABEL}.image": image, f"{LABEL}.net": NETWORK_GENERATION}
    _podman(
        "run", "-d", "--name", host.name, "--hostname", host.name, *(f"--label={k}={v}" for k, v in labels.items()),
        # Interface names pinned: podman orders a container's networks as it likes (eth0/eth1 swapped otherwise).
        "--systemd=always", "--network", f"{NETWORK}:ip={host.ip},mac={host.mac},interface_name=eth0",
        "--network", f"{POD_NETWORK}:ip={host.pod_ip},mac={host.pod_mac},interface_name={POD_NIC}",
        "--cap-add", "NET_ADMIN", *(f"--sysctl={k}={v}" for k, v in HOST_SYSCTLS.items()),
        "--volume", f"{calico_datastore(which)}:{CALICO_DATASTORE}", image,
    )  # fmt: skip


def _ssh_answers(ip: str, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((ip, 22), timeout=timeout) as sock:
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def wait_for_ssh(hosts: Sequence[LabHost], timeout: float = SSH_WAIT_S) -> None:
    pending = {h.name: h for h in hosts}
    deadline = time.monotonic() + timeout
    while pending:
        for name, host in list(pending.items()):
            if _ssh_answers(host.ip, timeout=0.5):
                del pending[name]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise LabError(f"sshd did not answer within {timeout:.0f} s on: {', '.join(sorted(pending))}")
        time.sleep(0.2)


def _authorize_and_read_host_keys(host: LabHost, public_key: str) -> list[str]:
    """Install the lab key and read the host keys, both through podman exec (not over the network)."""
    script = (
        "umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/authorized_keys && "
        "cat /etc/ssh/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ecdsa_key.pub /etc/ssh/ssh_host_rsa_key.pub"
    )
    out = _podman("exec", "-i", host.name, "sh", "-c", script, input_text=public_key).stdout
    entries = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            entries.append(f"{host.ip},{host.name} {fields[0]} {fields[1]}")
    if not entries:
        raise LabError(f"{host.name}: no SSH host keys found")
    return entries


def _write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(mode)
    tmp.replace(path)


def _parallel(func: Callable[[LabHost], Any], hosts: Sequence[LabHost]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=PODMAN_WORKERS) as pool:
        return list(pool.map(func, hosts))


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One lab change at a time on this machine (labs of several checkouts share the networks; a test
    session and `make demo` may both call up/down)."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOCK_FILE.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write_known_hosts(which: Lab, entries: Sequence[str] | None) -> None:
    """This lab's part of known_hosts (``None``: none any more), then the file every lab of this checkout
    shares, the parts together (host names and addresses of two labs never overlap)."""
    part = STATE_DIR / "labs" / which.name / "known_hosts"
    if entries is None:
        part.unlink(missing_ok=True)
    else:
        part.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(part, "".join(f"{line}\n" for line in entries), 0o644)
    parts = sorted((STATE_DIR / "labs").glob("*/known_hosts"))
    if parts:
        _write_atomic(KNOWN_HOSTS_FILE, "".join(p.read_text(encoding="utf-8") for p in parts), 0o644)
    else:
        KNOWN_HOSTS_FILE.unlink(missing_ok=True)


def up(n: int, which: Lab | None = None) -> list[LabHost]:
    """Make the lab exactly ``n`` running hosts with sshd answering; running it again changes nothing.
    Another lab's hosts, and hosts another checkout made, are never touched."""
    which = which or current()
    if not 1 <= n <= which.max_hosts:
        raise LabError(f"lab {which.name!r}: size must be 1..{which.max_hosts}, not {n}")
    with _locked():
        return _up(n, which)


def _up(n: int, which: Lab) -> list[LabHost]:
    wanted = [which.host(i) for i in range(1, n + 1)]
    wanted_names = {h.name for h in wanted}
    found = _sorted(which)
    if taken := [c for c in found.foreign if c["Names"][0] in wanted_names]:
        raise LabError(lab_names.describe_foreign(taken, which, str(REPO)))
    image = ensure_image()
    key = ensure_key()
    public_key = key.with_suffix(".pub").read_text(encoding="utf-8")
    _ensure_network()
    calico_datastore(which).mkdir(parents=True, exist_ok=True)
    _forget_calico_nodes(which, wanted_names)
    existing = {c["Names"][0]: c for c in found.ours}

    # Hosts beyond n, and hosts built from another image definition, are removed.
    stale = [
        name
        for name, c in existing.items()
        if name not in wanted_names or (c.get("Labels") or {}).get(f"{LABEL}.image") != image.tag
        or (c.get("Labels") or {}).get(f"{LABEL}.net") != NETWORK_GENERATION
    ]
    if stale:
        _podman("rm", "-f", "-t", "0", *stale)
    to_start = [h.name for h in wanted if h.name in existing and h.name not in stale
                and existing[h.name]["State"] != "running"]  # fmt: skip
    if to_start:
        _podman("start", *to_start)
    to_create = [h for h in wanted if h.name not in existing or h.name in stale]
    if to_create:
        _log(f"lab: creating {len(to_create)} host(s)")
        _parallel(lambda h: _create(h, image.tag, which), to_create)

    wait_for_ssh(wanted, SSH_WAIT_S + SSH_WAIT_PER_HOST_S * len(wanted))
    known = _parallel(lambda h: _authorize_and_read_host_keys(h, public_key), wanted)
    _write_known_hosts(which, [line for entries in known for line in entries])
    hosts = [dataclasses.replace(h, state="running") for h in wanted]
    _write_atomic(inventory_file(which), json.dumps(ansible_inventory(hosts), indent=2) + "\n", 0o644)
    return hosts


def nic_mtu(name: str, nic: str = "eth0") -> int:
    """The MTU the host's NIC really has (what NetBox is told when the lab registers)."""
    out = _podman("exec", name, "cat", f"/sys/class/net/{nic}/mtu").stdout.strip()
    return int(out)


GPU_EMULATION_FILE = "/etc/nvidia-standin/gpus.json"


def emulate_gpus(name: str, gpus: dict[str, Any] | None) -> None:
    """The hardware boundary of the lab: give host ``name`` the GPUs NetBox says it has (model,
    count, NVSwitch), read by the STAND-IN nvidia-smi/mig-parted once the gpu_driver role installed
    them. ``None`` removes them (a host without GPUs)."""
    if gpus is None:
        _podman("exec", name, "rm", "-f", GPU_EMULATION_FILE)
        return
    doc = json.dumps({"model": gpus["gpu_model"], "count": gpus["gpu_count"], "nvswitch": gpus["nvswitch"]})
    _podman("exec", "-i", name, "sh", "-c",
            f"mkdir -p {Path(GPU_EMULATION_FILE).parent} && cat > {GPU_EMULATION_FILE}.tmp && "
            f"mv {GPU_EMULATION_FILE}.tmp {GPU_EMULATION_FILE}", input_text=doc + "\n")


def down(which: Lab | None = None) -> list[str]:
    """Remove this lab's containers (the ones this checkout made), and the networks once no container is
    on them any more; keep key and image. Returns the names removed."""
    which = which or current()
    with _locked():
        return _down(which)


def _down(which: Lab) -> list[str]:
    names = sorted(str(c["Names"][0]) for c in _sorted(which).ours)
    if names:
        _podman("rm", "-f", "-t", "0", *names)
    networks = _podman("network", "ls", "--filter", f"label={LABEL}=1", "--format", "{{.Name}}").stdout.split()
    for name in (NETWORK, POD_NETWORK):
        if name in networks and not _containers(f"network={name}"):
            _podman("network", "rm", name)
    if not _containers(f"label={LABEL}"):
        lab_egress.remove()
    _write_known_hosts(which, None)
    inventory_file(which).unlink(missing_ok=True)
    shutil.rmtree(calico_datastore(which), ignore_errors=True)
    return names


def status(which: Lab | None = None) -> list[LabHost]:
    """This lab's hosts as podman sees them (state ``running`` only when sshd also answers)."""
    which = which or current()
    hosts = []
    for container in sorted(_sorted(which).ours, key=lambda c: str(c["Names"][0])):
        index = which.index_of(container["Names"][0])
        if index is None:
            continue
        spec = which.host(index)
        state = str(container["State"])
        if state == "running" and not _ssh_answers(spec.ip, timeout=0.5):
            state = "running (sshd not answering)"
        hosts.append(dataclasses.replace(spec, state=state))
    return hosts
