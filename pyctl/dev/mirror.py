"""The lab's artifact mirror: a plain HTTP file tree, as an air-gapped data center's mirror would be.

``up`` assembles ``<root>/<dc>/`` (root: $PYCTL_DEV_MIRROR, default /var/lib/pyctl-dev/mirror):

- ``nvidia/``: the STAND-IN NVIDIA flat apt repository (scripts/build-nvidia-standin.sh; Packages,
  Packages.gz, Release, InRelease, key.asc, pool/);
- ``kubernetes/release/<version>/bin/linux/amd64/``: the control-plane STAND-INs of
  tests/fixtures/kube-apiserver-standin under the real names, with SHA256SUMS (dl.k8s.io's layout);
- ``debian/``: the Debian archive this machine's apt uses, fetched on demand and kept under
  ``.upstream/`` (the lab hosts have no route beyond the machine: this is their one Debian mirror);

and serves it with a small threaded HTTP server bound to 127.0.0.1 and, when the podman network
``pyctl-lab`` has its bridge up, also to its gateway 172.31.213.1 (where the lab hosts reach it) —
never to 0.0.0.0. A pid file beside the tree records what ``up`` started; ``up`` twice is harmless,
``down`` stops only that process.

    python -m pyctl.dev.mirror up|down|status [--dc lab] [--port 18088] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from pyctl.artifacts import render_sha256sums
from pyctl.bundle import serve as bundle_serve
from pyctl.dev.lab import debian_mirror
from pyctl.paths import REPO

MIRROR_ROOT = Path(os.environ.get("PYCTL_DEV_MIRROR", "/var/lib/pyctl-dev/mirror"))
DEFAULT_PORT = 18088
LOOPBACK = "127.0.0.1"
LAB_NETWORK = "pyctl-lab"
LAB_GATEWAY = "172.31.213.1"
KUBERNETES_VERSION = "v1.31.4"
STANDIN_DIR = REPO / "tests" / "fixtures" / "kube-apiserver-standin"
# The served name -> the stand-in file (README there: kube-component-standin serves both).
CONTROL_PLANE_STANDINS = {
    "kube-apiserver": "kube-apiserver",
    "kube-controller-manager": "kube-component-standin",
    "kube-scheduler": "kube-component-standin",
}
MARKER = "pyctl.dev.mirror"
# /debian/… is the lab's Debian mirror: fetched from the one this machine uses, kept under .upstream/.
DEBIAN_PREFIX = "debian"
UPSTREAM_CACHE = ".upstream"
RELEASE_TTL_S = 300.0


class MirrorError(RuntimeError):
    """The mirror could not be assembled or started."""


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _paths(dc: str, root: Path | None) -> tuple[Path, Path, Path]:
    base = root or MIRROR_ROOT
    return base / dc, base / f"{dc}.pid", base / f"{dc}.log"


# --- the tree --------------------------------------------------------------------------------------

def build_nvidia_standin() -> Path:
    proc = subprocess.run([str(REPO / "scripts" / "build-nvidia-standin.sh")], capture_output=True, text=True,
                          check=False, timeout=600)
    if proc.returncode != 0:
        raise MirrorError(f"scripts/build-nvidia-standin.sh failed ({proc.returncode}): {proc.stderr.strip()}")
    return Path(proc.stdout.strip().splitlines()[-1])


def assemble(tree: Path, nvidia_repo: Path | None = None) -> dict[str, Any]:
    """(Re)write ``tree`` from the stand-ins; returns what it holds. Each part is swapped in whole."""
    tree.mkdir(parents=True, exist_ok=True)
    nvidia = nvidia_repo or build_nvidia_standin()
    _swap_in(tree / "nvidia", lambda dst: shutil.copytree(nvidia, dst))
    binaries: dict[str, str] = {}
    if all((STANDIN_DIR / src).is_file() for src in CONTROL_PLANE_STANDINS.values()):
        def write_bins(dst: Path) -> None:
            bindir = dst / "release" / KUBERNETES_VERSION / "bin" / "linux" / "amd64"
            bindir.mkdir(parents=True)
            for name, src in CONTROL_PLANE_STANDINS.items():
                shutil.copyfile(STANDIN_DIR / src, bindir / name)
                (bindir / name).chmod(0o755)
                binaries[name] = hashlib.sha256((bindir / name).read_bytes()).hexdigest()
            (bindir / "SHA256SUMS").write_text(render_sha256sums(binaries))
        _swap_in(tree / "kubernetes", write_bins)
    return {"nvidia_repo": str(nvidia), "binaries": binaries}


def _swap_in(target: Path, write: Any) -> None:
    staging = target.with_name(f".{target.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    write(staging)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


# --- the server ------------------------------------------------------------------------------------

def lab_network_exists() -> bool:
    try:
        proc = subprocess.run(["podman", "network", "exists", LAB_NETWORK], capture_output=True, check=False,
                              timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def _can_bind(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EADDRINUSE):
                return False
            raise
    return True


class _Proxy(bundle_serve.Handler):
    """The tree, and ``/<prefix>/…`` fetched from an upstream mirror and kept under ``<tree>/.upstream/``:
    the lab's Debian mirror, as a data center's low side has its own (hosts reach nothing else)."""

    upstreams: dict[str, str] = {}  # noqa: RUF012 (set once per server, read by every request)

    def send_head(self) -> Any:
        path = urllib.parse.unquote(self.path.split("?", 1)[0]).lstrip("/")
        prefix, _, rest = path.partition("/")
        if prefix not in self.upstreams or not rest or ".." in rest.split("/"):
            return super().send_head()
        local = Path(self.directory) / UPSTREAM_CACHE / prefix / rest
        # Files named by content (pool/, by-hash/) never change; the Release files are fetched again.
        fresh = local.is_file() and ("/by-hash/" in rest or rest.startswith("pool/")
                                      or time.time() - local.stat().st_mtime < RELEASE_TTL_S)
        if not fresh:
            try:
                with urllib.request.urlopen(f"{self.upstreams[prefix]}/{urllib.parse.quote(rest)}",  # noqa: S310
                                            timeout=60) as resp:
                    body = resp.read()
            except urllib.error.HTTPError as exc:
                self.send_error(exc.code, f"upstream: {exc.reason}")
                return None
            except (urllib.error.URLError, OSError) as exc:
                self.send_error(502, f"upstream unreachable: {exc}")
                return None
            local.parent.mkdir(parents=True, exist_ok=True)
            partial = local.with_name(f".{local.name}.{threading.get_ident()}")
            partial.write_bytes(body)
            partial.replace(local)
        self.path = "/" + urllib.parse.quote(f"{UPSTREAM_CACHE}/{prefix}/{rest}")
        return super().send_head()


def serve(directory: Path, port: int, addresses: list[str], upstreams: dict[str, str] | None = None) -> None:
    """Serve ``directory`` on each address (blocking until SIGTERM/SIGINT): the mirror's own server;
    ``upstreams``: path prefix -> the mirror it is fetched from (:class:`_Proxy`)."""
    handler = type("Upstreams", (_Proxy,), {"upstreams": dict(upstreams or {})})
    try:
        bundle_serve.serve(directory, port, addresses, handler=handler)
    except bundle_serve.ServeError as exc:
        raise MirrorError(str(exc)) from exc


def _read_pid(pidfile: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(pidfile.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("pid"), int) else None


def _ours(pid: int, tree: Path) -> bool:
    """The process is alive and is the server ``up`` started for ``tree`` (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return MARKER.encode() in cmdline and str(tree).encode() in cmdline


def status(dc: str = "lab", root: Path | None = None) -> dict[str, Any]:
    tree, pidfile, log = _paths(dc, root)
    doc = _read_pid(pidfile)
    running = bool(doc and _ours(int(doc["pid"]), tree))
    out: dict[str, Any] = {"dc": dc, "root": str(tree), "running": running, "log": str(log)}
    if running and doc:
        out.update({"pid": doc["pid"], "port": doc["port"], "addresses": doc["addresses"],
                    "urls": [f"http://{a}:{doc['port']}/" for a in doc["addresses"]]})
    return out


def up(dc: str = "lab", port: int = DEFAULT_PORT, root: Path | None = None, *, lab_gateway: bool = True,
       nvidia_repo: Path | None = None, timeout: float = 15.0) -> dict[str, Any]:
    """Assemble the tree and serve it; a second ``up`` refreshes the tree and keeps the running server."""
    tree, pidfile, log = _paths(dc, root)
    contents = assemble(tree, nvidia_repo)
    current = status(dc, root)
    gateway_ready = lab_gateway and lab_network_exists() and _can_bind(LAB_GATEWAY, port)
    if current["running"] and not (gateway_ready and LAB_GATEWAY not in current["addresses"]):
        return {**current, **contents}
    if current["running"]:  # started before the lab's bridge was up: serve the lab hosts too
        down(dc, root)
    addresses = [LOOPBACK]
    if lab_gateway and lab_network_exists():
        if _can_bind(LAB_GATEWAY, port):
            addresses.append(LAB_GATEWAY)
        else:
            _say(f"mirror: network {LAB_NETWORK} exists but {LAB_GATEWAY}:{port} cannot be bound (bridge not up "
                 "until a lab host runs); serving on loopback only — run `up` again after `pyctl dev lab up`")
    if not _can_bind(LOOPBACK, port):
        raise MirrorError(f"port {port} on {LOOPBACK} is in use by another process")
    argv = [sys.executable, "-m", MARKER, "serve", "--directory", str(tree), "--port", str(port),
            "--upstream", f"{DEBIAN_PREFIX}={debian_mirror()}"]
    for a in addresses:
        argv += ["--bind", a]
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                                cwd=str(REPO))
    pidfile.write_text(json.dumps({"pid": proc.pid, "port": port, "addresses": addresses}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pidfile.unlink(missing_ok=True)
            raise MirrorError(f"the server exited ({proc.returncode}); see {log}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=1):
            return {**status(dc, root), **contents}
        time.sleep(0.1)
    raise MirrorError(f"the server did not answer on {LOOPBACK}:{port} within {timeout:.0f} s; see {log}")


def down(dc: str = "lab", root: Path | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """Stop the server ``up`` started (only that pid, only if it still is ours); the tree stays."""
    tree, pidfile, _ = _paths(dc, root)
    doc = _read_pid(pidfile)
    stopped = None
    if doc and _ours(int(doc["pid"]), tree):
        pid = int(doc["pid"])
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _ours(pid, tree) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        if _ours(pid, tree):
            os.kill(pid, signal.SIGKILL)
        stopped = pid
    pidfile.unlink(missing_ok=True)
    return {**status(dc, root), "stopped": stopped}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyctl.dev.mirror", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", required=True)
    for name in ("up", "down", "status"):
        p = sub.add_parser(name)
        p.add_argument("--dc", default="lab")
        p.add_argument("--json", action="store_true")
        if name == "up":
            p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p_serve = sub.add_parser("serve", help="(internal) the server process `up` starts")
    p_serve.add_argument("--directory", required=True)
    p_serve.add_argument("--port", type=int, required=True)
    p_serve.add_argument("--bind", action="append", required=True)
    p_serve.add_argument("--upstream", action="append", default=[], metavar="PREFIX=URL")
    args = parser.parse_args(argv)
    if args.action == "serve":
        serve(Path(args.directory), args.port, args.bind,
              dict(u.split("=", 1) for u in args.upstream))
        return 0
    try:
        result = (up(args.dc, args.port) if args.action == "up" else down(args.dc) if args.action == "down"
                  else status(args.dc))
    except MirrorError as exc:
        _say(f"mirror: {exc}")
        return 3
    print(json.dumps(result, indent=2) if args.json else "\n".join(f"{k:12} {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
