"""What a data center's mirror must hold before a rollout, and whether it does (`pyctl artifacts`).

Air-gapped sites take every package and binary from a local mirror named per data center (RULES.md,
NVIDIA GPU nodes). :func:`bill_of_materials` computes the list from the inventory and the roles'
pinned versions; :func:`check` asks the mirrors for each item. Pure but for :func:`pyctl.config.load_role_vars`
(reads YAML files) and :func:`http_fetch` (the real network client ``check`` is given by the CLI).

Where the values come from (``role_vars``, as :func:`pyctl.config.load_role_vars` merges them, in Ansible's order
of precedence): ``roles/*/defaults/main.yml`` < ``inventories/<dc>/group_vars/all/*.yml`` <
``roles/*/vars/main.yml``, then per cluster the plan's ``group_vars`` (``cluster_vars``). The package
and binary *names* are read from the roles' own vars (``_gpu_driver_branch_packages``,
``_gpu_driver_fabricmanager_package``, ``_gpu_driver_os_packages``, ``etcd_packages``,
``_control_plane_binaries``), not repeated here. Jinja in those values is resolved by a tiny
resolver that knows only ``{{ name }}`` (a variable, nothing else: no filters, no expressions); a
value it cannot resolve is reported, never guessed. The one expression it needs past that is the
kernel of ``linux-modules-nvidia-<branch>-<kernel>`` (``gpu_driver_kernel_release or
ansible_facts['kernel']``): from ``gpu_driver_kernel_release`` or the DC's ``pyctl_kernel_releases``
(list); with neither, the item is the pattern ``linux-modules-nvidia-<branch>-*`` and the mirror must
carry the modules for at least one kernel at the driver version (the role's kernel guard then
names the running kernel on each host).

Which roles need what (as the roles install it):
- gpu_driver, on each gpu-worker: the branch packages at ``gpu_driver_version``, the kernel modules,
  ``nvidia-container-toolkit`` and ``nvidia-mig-manager`` (every GPU host: the role installs and holds
  mig-parted whether or not NetBox has a MIG layout, to switch MIG off as well as on), Fabric Manager
  at ``gpu_driver_fabricmanager_version`` only on NVSwitch hosts; from ``gpu_driver_mirror_url``
  (flat repository). Plus ``_gpu_driver_os_packages`` and ``gpu_driver_containerd_packages`` from
  the DC's OS mirror, any version.
- etcd, on each etcd host: ``etcd_packages`` (Debian's etcd-server/etcd-client at ``etcd_version*``),
  from the OS mirror.
- control_plane, on each control-plane host: ``_control_plane_binaries`` at
  ``control_plane_kubernetes_version`` from ``control_plane_artifact_mirror_url`` (dl.k8s.io layout),
  sha256 pinned in ``control_plane_artifact_checksums``.
No role pulls container images yet: ``kind="image"`` items are checked (OCI distribution API) when a
role lists them.

Mirrors are named the way apt names sources: ``URL`` alone is a flat repository (``deb URL /``, a
``Packages`` index at its root); ``URL SUITE COMPONENT…`` a Debian-layout one (``dists/SUITE/COMPONENT/
binary-amd64/Packages``). The DC's OS mirror is ``pyctl_os_mirror_url`` (+ ``pyctl_os_mirror_suite``,
default bookworm, ``pyctl_os_mirror_components``, default [main]) in its group_vars.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import lzma
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pyctl.errors import ConfigError
from pyctl.inventory import ROLE_CONTROL_PLANE, ROLE_ETCD, ROLE_GPU_WORKER, Inventory, group_name

Kind = Literal["apt", "binary", "image"]
KINDS: tuple[str, ...] = ("apt", "binary", "image")


# Named inside _gpu_driver_packages' expression (roles/gpu_driver/vars/main.yml), which combines them
# with the branch packages; the resolver does not evaluate combine(), so the two names are held here.
NVIDIA_CONTAINER_TOOLKIT = "nvidia-container-toolkit"
NVIDIA_MIG_MANAGER = "nvidia-mig-manager"
# control_plane/tasks/install.yml: the host packages the role installs from the OS mirror.
CONTROL_PLANE_OS_PACKAGES = ("python3-cryptography", "curl")
DEFAULT_OS_SUITE = "bookworm"
DEFAULT_OS_COMPONENTS = ("main",)
APT_ARCH = "amd64"


@dataclass(frozen=True)
class Artifact:
    """One thing a mirror must hold. ``version`` None: any version; a trailing ``*``: apt's prefix pin
    (``pkg=3.4.23*``). A ``*`` in an apt ``name``: at least one package matching it. ``mirror``: apt
    source (see the module docstring), the binary's URL, or the image's registry reference."""

    kind: Kind
    name: str
    version: str | None
    sha256: str | None
    mirror: str
    needed_by: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ResolveError(ValueError):
    """A role value holds Jinja the tiny resolver does not evaluate."""


_SIMPLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def resolve(value: Any, variables: Mapping[str, Any], _depth: int = 0) -> Any:
    """``value`` with every ``{{ name }}`` replaced by the (resolved) variable; lists and dicts
    element-wise. A string that is exactly ``{{ name }}`` keeps the variable's type. Any other Jinja
    (filters, expressions, a name not defined) raises :class:`ResolveError`."""
    if _depth > 20:
        raise ResolveError("variables refer to each other in a loop")
    if isinstance(value, list):
        return [resolve(v, variables, _depth) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, variables, _depth) for k, v in value.items()}
    if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
        return value

    def lookup(name: str) -> Any:
        if name not in variables:
            raise ResolveError(f"{{{{ {name} }}}}: {name} is not defined")
        return resolve(variables[name], variables, _depth + 1)

    whole = _SIMPLE.fullmatch(value.strip())
    if whole:
        return lookup(whole.group(1))
    out = _SIMPLE.sub(lambda m: str(lookup(m.group(1))), value)
    if "{{" in out or "{%" in out:
        raise ResolveError(f"not a plain {{{{ variable }}}}: {value!r}")
    return out


# --- the bill of materials ---------------------------------------------------------------------------

class _Collector:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str | None, str | None, str], Artifact] = {}
        self.problems: list[str] = []

    def add(self, kind: Kind, name: str, version: str | None, sha256: str | None, mirror: str, *, by: str) -> None:
        key = (kind, name, version, sha256, mirror)
        art = self.items.get(key)
        if art is None:
            art = self.items[key] = Artifact(kind, name, version, sha256, mirror, [])
        if by not in art.needed_by:
            art.needed_by.append(by)


def _str(vars_: Mapping[str, Any], name: str, problems: list[str], where: str) -> str | None:
    try:
        value = resolve(vars_.get(name), vars_)
    except ResolveError as exc:
        problems.append(f"{where}: {name}: {exc}")
        return None
    if value in (None, ""):
        return None
    return str(value)


def _list(vars_: Mapping[str, Any], name: str, problems: list[str], where: str) -> list[str]:
    try:
        value = resolve(vars_.get(name, []), vars_)
    except ResolveError as exc:
        problems.append(f"{where}: {name}: {exc}")
        return []
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{where}: {name} must be a list, got {value!r}")
        return []
    return [str(v) for v in value]


UNSET_PREFIX = "unset:"


def unset(var: str) -> str:
    """The ``mirror`` of an artifact whose mirror variable the DC does not set (listed, and missing in check)."""
    return f"{UNSET_PREFIX}{var}"


def os_mirror(vars_: Mapping[str, Any]) -> str:
    """The DC's OS (Debian) mirror as an apt source: ``URL SUITE COMPONENT…``; :func:`unset` when none is named."""
    url = str(vars_.get("pyctl_os_mirror_url") or "").rstrip("/")
    if not url:
        return unset("pyctl_os_mirror_url")
    suite = str(vars_.get("pyctl_os_mirror_suite") or DEFAULT_OS_SUITE)
    components = vars_.get("pyctl_os_mirror_components") or list(DEFAULT_OS_COMPONENTS)
    return " ".join([url, suite, *(str(c) for c in components)])


def _kernels(vars_: Mapping[str, Any]) -> list[str]:
    if vars_.get("gpu_driver_kernel_release"):
        return [str(vars_["gpu_driver_kernel_release"])]
    releases = vars_.get("pyctl_kernel_releases") or []
    return [str(k) for k in releases] if isinstance(releases, list) else [str(releases)]


def _gpu(c: _Collector, vars_: Mapping[str, Any], by: str, nvswitch: bool) -> None:
    where = "gpu_driver"
    mirror = (_str(vars_, "gpu_driver_mirror_url", c.problems, where) or "").rstrip("/")
    mirror = mirror or unset("gpu_driver_mirror_url")
    version = _str(vars_, "gpu_driver_version", c.problems, where)
    kernels = _kernels(vars_) or ["*"]
    names: list[str] = []
    for kernel in kernels:
        # _gpu_driver_kernel is `gpu_driver_kernel_release or ansible_facts['kernel']`: given here.
        kvars = {**vars_, "_gpu_driver_kernel": kernel}
        for name in _list(kvars, "_gpu_driver_branch_packages", c.problems, where):
            if name not in names:
                names.append(name)
    for name in names:
        c.add("apt", name, version, None, mirror, by=by)
    if nvswitch:
        fm = _str(vars_, "_gpu_driver_fabricmanager_package", c.problems, where)
        if fm:
            c.add("apt", fm, _str(vars_, "gpu_driver_fabricmanager_version", c.problems, where), None, mirror, by=by)
    c.add("apt", NVIDIA_CONTAINER_TOOLKIT, _str(vars_, "gpu_driver_container_toolkit_version", c.problems, where),
          None, mirror, by=by)
    c.add("apt", NVIDIA_MIG_MANAGER, _str(vars_, "gpu_driver_mig_manager_version", c.problems, where), None,
          mirror, by=by)
    for name in [*_list(vars_, "_gpu_driver_os_packages", c.problems, where),
                 *_list(vars_, "gpu_driver_containerd_packages", c.problems, where)]:
        c.add("apt", name, None, None, os_mirror(vars_), by=by)


def _apt_pin(spec: str) -> tuple[str, str | None]:
    name, sep, version = spec.partition("=")
    return name.strip(), (version.strip() or None) if sep else None


def _etcd(c: _Collector, vars_: Mapping[str, Any], by: str) -> None:
    for spec in _list(vars_, "etcd_packages", c.problems, "etcd"):
        name, version = _apt_pin(spec)
        c.add("apt", name, version, None, os_mirror(vars_), by=by)


def _control_plane(c: _Collector, vars_: Mapping[str, Any], by: str) -> None:
    where = "control_plane"
    base = (_str(vars_, "control_plane_artifact_mirror_url", c.problems, where) or "").rstrip("/")
    version = _str(vars_, "control_plane_kubernetes_version", c.problems, where) or ""
    arch = _str(vars_, "control_plane_artifact_arch", c.problems, where) or "amd64"
    try:
        sums = resolve(vars_.get("control_plane_artifact_checksums") or {}, vars_)
    except ResolveError as exc:
        c.problems.append(f"{where}: control_plane_artifact_checksums: {exc}")
        sums = {}
    pinned = sums.get(version) if isinstance(sums, dict) else None
    pinned = pinned if isinstance(pinned, dict) else {}
    for binary in _list(vars_, "_control_plane_binaries", c.problems, where):
        sha = pinned.get(binary)
        url = f"{base}/{version}/bin/linux/{arch}/{binary}" if base else unset("control_plane_artifact_mirror_url")
        c.add("binary", binary, version, str(sha).lower() if sha else None, url, by=by)
    for name in CONTROL_PLANE_OS_PACKAGES:
        c.add("apt", name, None, None, os_mirror(vars_), by=by)


def bill_of_materials(inventory: Inventory, role_vars: Mapping[str, Any],
                      cluster_vars: Mapping[str, Mapping[str, Any]] | None = None) -> list[Artifact]:
    """Every package, binary and image the DC's mirrors must hold for a rollout of ``inventory``.

    ``role_vars``: :func:`pyctl.config.load_role_vars`. ``cluster_vars``: per Ansible group (``cluster_<name>``)
    variables overlaid for that cluster's hosts (``pyctl.plan.group_vars(plan)``). ``needed_by``
    names ``<role>/<cluster>``. Sorted by kind, mirror, name, version. A mirror variable the DC does not
    set gives ``mirror="unset:<variable>"`` (listed; :func:`check` names it missing). Raises ConfigError
    when a role value cannot be read (Jinja past ``{{ name }}``, a name not defined)."""
    c = _Collector()
    for cluster in inventory.clusters:
        vars_ = {**role_vars, **(cluster_vars or {}).get(group_name("cluster", cluster.name), {})}
        workers = cluster.members(ROLE_GPU_WORKER)
        if workers:
            # Fabric Manager only where a host has NVSwitch; the rest once for the cluster.
            _gpu(c, vars_, f"gpu_driver/{cluster.name}", nvswitch=any(h.gpu and h.gpu.nvswitch for h in workers))
        if cluster.members(ROLE_ETCD):
            _etcd(c, vars_, f"etcd/{cluster.name}")
        if cluster.members(ROLE_CONTROL_PLANE):
            _control_plane(c, vars_, f"control_plane/{cluster.name}")
    if c.problems:
        raise ConfigError(f"cannot compute the artifacts of {inventory.site}: {len(c.problems)} problem(s)",
                          problems=sorted(set(c.problems)))
    return sorted(c.items.values(), key=lambda a: (KINDS.index(a.kind), a.mirror, a.name, a.version or ""))


# --- checking the mirrors -----------------------------------------------------------------------------

# fetch(url, head) -> the body (b"" for a HEAD), or None when the mirror answers "not found" (404/410,
# a missing file); raises OSError when the mirror cannot be reached or answers otherwise.
Fetch = Callable[[str, bool], bytes | None]


def apt_index_packages(index: str) -> dict[str, list[str]]:
    """Package name -> versions offered, from a Packages index (the parser of the ``pyctl_apt_packages``
    filter, for pyctl's own use; continuation lines ignored)."""
    found: dict[str, list[str]] = {}
    for fields in apt_stanzas(index):
        if "Package" in fields and "Version" in fields:
            found.setdefault(fields["Package"].strip(), []).append(fields["Version"].strip())
    return found


def apt_stanzas(index: str) -> list[dict[str, str]]:
    """Each stanza of a Packages index as its fields (continuation lines ignored)."""
    return [dict(line.split(": ", 1) for line in stanza.splitlines()
                 if ": " in line and not line.startswith((" ", "\t")))
            for stanza in index.split("\n\n")]


def decompress(url: str, body: bytes) -> str:
    """An index's text, by its name's compression (``.gz``, ``.xz``, none)."""
    if url.endswith(".gz"):
        body = gzip.decompress(body)
    elif url.endswith(".xz"):
        body = lzma.decompress(body)
    return body.decode("utf-8", errors="replace")


def index_urls(mirror: str) -> list[str]:
    """Where a source's Packages indexes are, best first, per component."""
    parts = mirror.split()
    url = parts[0].rstrip("/")
    if len(parts) == 1:
        return [f"{url}/Packages", f"{url}/Packages.gz", f"{url}/Packages.xz"]
    suite, components = parts[1], parts[2:] or list(DEFAULT_OS_COMPONENTS)
    return [f"{url}/dists/{suite}/{comp}/binary-{APT_ARCH}/Packages{ext}"
            for comp in components for ext in (".xz", ".gz", "")]


def read_apt_source(mirror: str, fetch: Fetch) -> dict[str, list[str]]:
    """Every package and version the apt source offers (all its components); raises OSError naming the
    source when no index answers."""
    offered: dict[str, list[str]] = {}
    parts = mirror.split()
    groups: list[list[str]]
    urls = index_urls(mirror)
    groups = [urls] if len(parts) == 1 else [urls[i:i + 3] for i in range(0, len(urls), 3)]
    for candidates in groups:
        for url in candidates:
            body = fetch(url, False)
            if body is not None:
                for name, versions in apt_index_packages(decompress(url, body)).items():
                    offered.setdefault(name, []).extend(versions)
                break
        else:
            raise OSError(f"no package index at {candidates[0].rsplit('/', 1)[0]}/ (Packages, .gz, .xz)")
    return offered


def _version_ok(wanted: str | None, versions: Sequence[str]) -> bool:
    if wanted is None:
        return bool(versions)
    if wanted.endswith("*"):
        return any(v.startswith(wanted[:-1]) for v in versions)
    return wanted in versions


def _apt_missing(art: Artifact, offered: Mapping[str, list[str]]) -> str | None:
    if "*" in art.name:
        matches = {n: v for n, v in offered.items() if fnmatch.fnmatchcase(n, art.name)}
        if any(_version_ok(art.version, v) for v in matches.values()):
            return None
        have = sorted(n for n, v in matches.items() if v)
        return f"apt {art.label}: no package matching it at that version (matching: {', '.join(have) or 'none'})"
    versions = offered.get(art.name, [])
    if _version_ok(art.version, versions):
        return None
    if not versions:
        return f"apt {art.label}: not in the index"
    return f"apt {art.label}: version not in the index (it has: {', '.join(versions)})"


def parse_sha256sums(text: str) -> dict[str, str]:
    """``sha256sum`` output (``HASH  NAME`` or ``HASH *NAME``) -> name -> lower-case hash."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and re.fullmatch(r"[0-9a-fA-F]{64}", parts[0]):
            out[parts[1].strip().lstrip("*")] = parts[0].lower()
    return out


def render_sha256sums(sums: Mapping[str, str]) -> str:
    """name -> hash as ``sha256sum`` prints it (``HASH  NAME``), sorted by name: the file
    :func:`parse_sha256sums` reads."""
    return "".join(f"{sha}  {name}\n" for name, sha in sorted(sums.items()))


def _image_manifest_url(ref: str) -> str:
    """``registry/name:tag`` (or ``@sha256:…``) -> its OCI distribution manifest URL (https unless the
    reference names a scheme)."""
    scheme = "https"
    if "://" in ref:
        scheme, ref = ref.split("://", 1)
    registry, _, rest = ref.partition("/")
    if "@" in rest:
        repo, _, tag = rest.partition("@")
    else:
        repo, _, tag = rest.rpartition(":") if ":" in rest else (rest, "", "latest")
    return f"{scheme}://{registry}/v2/{repo}/manifests/{tag}"


def check(artifacts: Sequence[Artifact], fetch: Fetch) -> list[str]:
    """One line per artifact the mirrors lack (or hold with another sha256), naming it; empty: all there.

    apt: the source's Packages index has the name at the exact version (``*``: prefix). binary: HTTP
    HEAD of its URL answers, and when the directory has a ``SHA256SUMS`` its line for the file equals the
    pinned sha256 (no pin is itself missing: the role installs only pinned binaries). image: HEAD of the
    registry's manifest URL. A mirror that cannot be read makes each of its items missing, with why."""
    missing: list[str] = []
    indexes: dict[str, dict[str, list[str]] | str] = {}
    sums: dict[str, dict[str, str] | str | None] = {}
    for art in artifacts:
        if art.mirror.startswith(UNSET_PREFIX) or not art.mirror.strip():
            var = art.mirror.removeprefix(UNSET_PREFIX) or "its mirror variable"
            missing.append(f"{art.kind} {art.label}: no mirror named for it (set {var} for the data center)")
            continue
        if art.kind == "apt":
            if art.mirror not in indexes:
                try:
                    indexes[art.mirror] = read_apt_source(art.mirror, fetch)
                except OSError as exc:
                    indexes[art.mirror] = f"mirror {art.mirror} unreadable: {exc}"
            offered = indexes[art.mirror]
            why = f"apt {art.label}: {offered}" if isinstance(offered, str) else _apt_missing(art, offered)
            if why:
                missing.append(why)
        elif art.kind == "binary":
            missing.extend(_binary_missing(art, fetch, sums))
        else:
            try:
                if fetch(_image_manifest_url(art.mirror), True) is None:
                    missing.append(f"image {art.mirror}: not in the registry")
            except OSError as exc:
                missing.append(f"image {art.mirror}: registry unreadable: {exc}")
    return missing


def _binary_missing(art: Artifact, fetch: Fetch, sums: dict[str, dict[str, str] | str | None]) -> list[str]:
    label = f"binary {art.label}"
    if not art.sha256:
        return [f"{label}: no sha256 pinned for it (control_plane_artifact_checksums)"]
    try:
        if fetch(art.mirror, True) is None:
            return [f"{label}: not on the mirror ({art.mirror})"]
    except OSError as exc:
        return [f"{label}: mirror unreadable ({art.mirror}): {exc}"]
    directory, _, filename = art.mirror.rpartition("/")
    if directory not in sums:
        try:
            body = fetch(f"{directory}/SHA256SUMS", False)
            sums[directory] = None if body is None else parse_sha256sums(body.decode("utf-8", errors="replace"))
        except OSError as exc:
            sums[directory] = str(exc)
    listed = sums[directory]
    if isinstance(listed, str):
        return [f"{label}: {directory}/SHA256SUMS unreadable: {listed}"]
    if listed is None:
        return []  # no SHA256SUMS: HEAD is all a mirror without one can tell
    have = listed.get(filename)
    if have is None:
        return [f"{label}: not listed in {directory}/SHA256SUMS"]
    if have != art.sha256.lower():
        return [f"{label}: wrong sha256 on the mirror: SHA256SUMS has {have}, pinned {art.sha256}"]
    return []


def http_fetch(timeout: float = 30.0) -> Fetch:
    """The real fetch: http(s) through urllib, file:// from the file system."""

    def fetch(url: str, head: bool) -> bytes | None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme == "file":
            path = Path(urllib.parse.unquote(parsed.path))
            if not path.is_file():
                return None
            return b"" if head else path.read_bytes()
        if parsed.scheme not in ("http", "https"):
            raise OSError(f"unsupported URL scheme {parsed.scheme!r}: {url}")
        req = urllib.request.Request(url, method="HEAD" if head else "GET")  # noqa: S310 (scheme checked above)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (scheme checked above)
                return b"" if head else bytes(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                return None
            raise OSError(f"HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            raise OSError(str(exc.reason)) from exc

    return fetch


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
