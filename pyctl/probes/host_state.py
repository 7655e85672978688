"""Runs ON a managed host (``python3 -c``, standard library only): the current state of everything the
roles say they manage, as one JSON document on stdout.

Each role that converges a host writes ``/var/lib/pyctl/managed/<role>.json`` (a manifest: which files,
directories, packages, units, sysctls, kernel modules, NIC MTUs and whether the MIG layout are its own).
This program reads every manifest and reports, per role, what the host has now:

- ``files``: sha256, mode, owner and group of each file (``null``: absent);
- ``dirs``: each directory the role owns, every entry below it (files hashed, links with their target),
  so an entry nobody manages shows up as new;
- ``packages``: dpkg's version and selection (``hold``/``install``) of each package (``null``: not installed);
- ``units``: systemd's UnitFileState and ActiveState of each unit;
- ``sysctl``: the live value of each key; ``modules``: loaded (``/sys/module``) and parameter values;
- ``mtu``: each interface's MTU (``null``: no such interface); ``mig``: nvidia-smi's MIG mode and GPU
  instances, as text;
- ``certs``: the notAfter (epoch seconds) of every certificate among the files and dirs.

pyctl records this document after a converge and compares it with a fresh one (pyctl.desired_state).
"""

from __future__ import annotations

import glob
import grp
import hashlib
import json
import os
import pwd
import stat
import subprocess
import sys
from datetime import timezone
from typing import Any

try:  # the roles that make certificates install python3-cryptography; openssl reads them otherwise
    from cryptography import x509 as _x509
except ImportError:
    _x509 = None  # type: ignore[assignment]

MANIFEST_DIR = "/var/lib/pyctl/managed"
MAX_DIR_ENTRIES = 5000
CERT_SUFFIXES = (".crt", ".pem")


def _owner(st: os.stat_result) -> tuple[str, str]:
    try:
        user = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        user = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return user, group


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _entry(path: str) -> dict[str, Any] | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    user, group = _owner(st)
    out = {"mode": format(stat.S_IMODE(st.st_mode), "04o"), "owner": user, "group": group}
    if stat.S_ISLNK(st.st_mode):
        out.update(type="link", target=os.readlink(path))
    elif stat.S_ISDIR(st.st_mode):
        out["type"] = "dir"
    elif stat.S_ISREG(st.st_mode):
        out.update(type="file", sha256=_sha256(path))
    else:
        out["type"] = "other"
    return out


def _walk(top: str) -> dict[str, Any] | None:
    root = _entry(top)
    if root is None or root["type"] != "dir":
        return root
    entries: dict[str, Any] = {}
    for base, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(dirs + files):
            path = os.path.join(base, name)
            entries[os.path.relpath(path, top)] = _entry(path)
            if len(entries) > MAX_DIR_ENTRIES:
                root["truncated"] = True
                root["entries"] = entries
                return root
    root["entries"] = entries
    return root


def _run(argv: list[str]) -> tuple[int, str, str]:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, "", str(exc)
    return proc.returncode, proc.stdout, proc.stderr


def _packages(names: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = dict.fromkeys(names)
    if not names:
        return found
    _, out, _ = _run(["dpkg-query", "-W", "-f", "${Package}\\t${Version}\\t${db:Status-Abbrev}\\n", *names])
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0] in found and parts[2][1:2] == "i":
            found[parts[0]] = {"version": parts[1], "selection": {"h": "hold", "i": "install"}.get(parts[2][:1],
                                                                                                 parts[2][:1])}
    return found


def _units(names: list[str]) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    if not names:
        return found
    _, out, _ = _run(["systemctl", "show", "--property=Id,UnitFileState,ActiveState", "--", *names])
    blocks = [b for b in out.strip().split("\n\n") if b.strip()]
    for name, block in zip(names, blocks, strict=False):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        found[name] = {"enabled": props.get("UnitFileState", ""), "active": props.get("ActiveState", "")}
    for name in names:
        found.setdefault(name, {"enabled": "", "active": ""})
    return found


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return None


def _not_after(path: str) -> int | None:
    """notAfter of a PEM certificate (epoch seconds), by python3-cryptography (the roles that make
    certificates install it) or else openssl; None when neither can read it."""
    try:
        with open(path, "rb") as f:
            pem = f.read()
    except OSError:
        return None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        return None
    if _x509 is not None:
        try:
            cert = _x509.load_pem_x509_certificate(pem)
            when = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after
            return int((when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp())
        except ValueError:
            pass
    rc, out, _ = _run(["openssl", "x509", "-noout", "-enddate", "-in", path])
    if rc != 0:
        return None
    rc, epoch, _ = _run(["date", "-u", "-d", out.strip().split("=", 1)[-1], "+%s"])
    return int(epoch) if rc == 0 and epoch.strip().isdigit() else None


def _certs(paths: set[str]) -> dict[str, int | None]:
    """Every certificate among ``paths`` (by suffix; a .pem that holds no certificate is left out)."""
    out = {}
    for p in sorted(paths):
        if p.endswith(CERT_SUFFIXES):
            when = _not_after(p)
            if when is not None or p.endswith(".crt"):
                out[p] = when
    return out


def role_state(manifest: dict[str, Any]) -> dict[str, Any]:
    files = {p: _entry(p) for p in manifest.get("files", [])}
    dirs = {d: _walk(d) for d in manifest.get("dirs", [])}
    cert_paths = {p for p, e in files.items() if e and e.get("type") == "file"}
    for d, tree in dirs.items():
        for rel, e in ((tree or {}).get("entries") or {}).items():
            if e and e.get("type") == "file":
                cert_paths.add(os.path.join(d, rel))
    modules: dict[str, Any] = {}
    for name, params in sorted((manifest.get("modules") or {}).items()):
        loaded = os.path.isdir(f"/sys/module/{name}")
        modules[name] = {"loaded": loaded,
                         "params": {p: _read(f"/sys/module/{name}/parameters/{p}") for p in params or []}}
    state = {
        "files": files,
        "dirs": dirs,
        "packages": _packages(list(manifest.get("packages", []))),
        "units": _units(list(manifest.get("units", []))),
        "sysctl": {k: _read("/proc/sys/" + k.replace(".", "/")) for k in manifest.get("sysctl", [])},
        "modules": modules,
        "mtu": {i: (int(v) if (v := _read(f"/sys/class/net/{i}/mtu")) and v.isdigit() else None)
                for i in manifest.get("mtu", [])},
        "certs": _certs(cert_paths),
        "cert_renew_days": manifest.get("cert_renew_days"),
    }
    if manifest.get("mig"):
        rc_mode, mode, _ = _run(["nvidia-smi", "--query-gpu=index,mig.mode.current", "--format=csv,noheader"])
        _, gis, err = _run(["nvidia-smi", "mig", "-lgi"])
        state["mig"] = {"mode": mode.strip() if rc_mode == 0 else None,
                        "instances": (gis + err).strip() if rc_mode == 0 else None}
    return state


def main() -> None:
    out: dict[str, Any] = {"manifests": {}, "roles": {}, "errors": []}
    for path in sorted(glob.glob(os.path.join(MANIFEST_DIR, "*.json"))):
        try:
            with open(path, "rb") as f:
                raw = f.read()
            doc = json.loads(raw)
            role = doc["role"]
            out["manifests"][role] = hashlib.sha256(raw).hexdigest()
            out["roles"][role] = role_state(doc.get("manages") or {})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            out["errors"].append(f"{path}: {exc}")
    json.dump(out, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
