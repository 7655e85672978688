"""The artifact closure: every file a data center's hosts fetch during a rollout, resolved and fetched.

apt packages are resolved by apt itself on a host of the target distribution — a container of the image
named for the hosts' platform (``pyctl_bundle_resolver_images``), never guessed on the controller:

1. For each apt source of the bill of materials the controller fetches the source's index as the hosts
   would: ``InRelease`` (signed: by the distribution's archive key for the OS mirror, by
   ``gpu_driver_mirror_key`` for the NVIDIA mirror) and the ``Packages`` index it lists, checked against
   the sha256 the ``InRelease`` gives.
2. A container of the resolver image, with no network, gets those indexes as ``file:`` sources (with
   the same ``Signed-By`` keys, so apt checks the signatures itself) and runs ``apt-get install
   --print-uris --no-install-recommends`` on the pinned packages, as the roles install them: what it
   prints is exactly what the image lacks, dependencies included.
3. The controller fetches each ``.deb`` from the source and checks its size and sha256 against the index.

The packages already in the resolver image are not in the closure: the hosts' image must be that image
(the manifest records its name and the packages it holds). Binaries are fetched from their URLs and
must match their pinned sha256. Container images: none is pulled by a role yet, so none is listed.

Everything fetched is kept in a cache by sha256 (``$PYCTL_CACHE_DIR``, default ``~/.cache/pyctl``), so a
second bundle of the same inputs fetches nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyctl.artifacts import APT_ARCH, Artifact, Fetch, apt_stanzas, decompress, render_sha256sums
from pyctl.errors import CheckFailed, ConfigError

# The platforms (NetBox platform slugs) whose closure can be resolved, and the os-release they must show.
DISTRIBUTIONS: Mapping[str, tuple[str, str]] = {"debian-12": ("debian", "12")}
DEFAULT_OS_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
_MNT = "/pyctl-bundle"
_RESOLVE_TIMEOUT_S = 600


@dataclass(frozen=True)
class Source:
    """One apt source of the bill of materials, as the hosts name it, and where the bundle serves it."""

    spec: str  # "URL" (flat) or "URL SUITE COMPONENT…"
    served: str  # the URL's path, e.g. "debian", "nvidia"
    keyring: str  # Signed-By inside the resolver: a path there

    @property
    def url(self) -> str:
        return self.spec.split()[0].rstrip("/")

    @property
    def flat(self) -> bool:
        return len(self.spec.split()) == 1


@dataclass(frozen=True)
class Fetched:
    """A file of the closure: where it is served (``mirror/<path>``), its origin and its hash."""

    path: str
    url: str
    sha256: str
    size: int
    kind: str  # "index", "deb", "binary"
    package: str | None = None
    version: str | None = None
    needed_by: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, [])}


def served_path(url: str) -> str:
    """Where the bundle's mirror serves what ``url`` names: its path (``http://h:1/nvidia`` → ``nvidia``)."""
    path = urllib.parse.urlparse(url).path.strip("/")
    if not path or any(part in (".", "..") for part in path.split("/")):
        raise ConfigError(f"mirror URL {url}: a bundle serves each mirror under its URL's path, and this one has "
                          "none (name the mirror as http://HOST:PORT/PATH)")
    return path


def cache_dir() -> Path:
    return Path(os.environ.get("PYCTL_CACHE_DIR") or Path.home() / ".cache" / "pyctl") / "sha256"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_verified(url: str, sha256: str | None, size: int | None, fetch: Fetch) -> bytes:
    """``url``'s body, from the cache when its sha256 is known and cached; checked against ``sha256`` and
    ``size`` when given (CheckFailed naming the difference)."""
    cached = cache_dir() / sha256 if sha256 else None
    if cached is not None and cached.is_file():
        return cached.read_bytes()
    body = _get(url, fetch)
    if body is None:
        raise CheckFailed(f"{url}: not on the mirror (404)")
    got = _sha256(body)
    if sha256 and got != sha256:
        raise CheckFailed(f"{url}: sha256 {got}, expected {sha256}")
    if size is not None and len(body) != size:
        raise CheckFailed(f"{url}: {len(body)} bytes, the index says {size}")
    _store(body)
    return body


def _get(url: str, fetch: Fetch) -> bytes | None:
    try:
        return fetch(url, False)
    except OSError as exc:
        raise CheckFailed(f"{url}: the mirror cannot be read: {exc}") from exc


def _store(body: bytes) -> str:
    sha = _sha256(body)
    cache_dir().mkdir(parents=True, exist_ok=True)
    path = cache_dir() / sha
    if not path.is_file():
        partial = path.with_name(f".{sha}.partial")
        partial.write_bytes(body)
        partial.replace(path)
    return sha


# --- indexes -------------------------------------------------------------------------------------------

def release_hashes(release: str) -> dict[str, tuple[str, int]]:
    """The ``SHA256:`` section of a Release/InRelease: path -> (sha256, size)."""
    out: dict[str, tuple[str, int]] = {}
    section = False
    for line in release.splitlines():
        if not line.startswith(" "):
            section = line.strip() == "SHA256:"
            continue
        if section:
            parts = line.split()
            if len(parts) == 3:
                out[parts[2]] = (parts[0], int(parts[1]))
    return out


def packages_index(text: str) -> dict[str, dict[str, str]]:
    """A Packages index: Filename (without ``./``) -> its stanza's fields."""
    return {fields["Filename"].removeprefix("./"): fields for fields in apt_stanzas(text) if "Filename" in fields}


def fetch_index(source: Source, fetch: Fetch) -> tuple[list[Fetched], dict[str, dict[str, str]]]:
    """The source's signed index files (as fetched) and its packages by Filename."""
    parts = source.spec.split()
    base = f"{source.url}/" if source.flat else f"{source.url}/dists/{parts[1]}/"
    release_url = base + "InRelease"
    body = _get(release_url, fetch)
    if body is None:
        raise CheckFailed(f"apt source {source.spec}: no InRelease at {release_url} (a bundle carries signed "
                          "indexes only)")
    files = [Fetched(f"{source.served}/{release_url.removeprefix(source.url + '/')}", release_url, _store(body),
                     len(body), "index")]
    listed = release_hashes(body.decode("utf-8", errors="replace"))
    compressions = (".xz", ".gz", "")
    packages: dict[str, dict[str, str]] = {}
    for comp in [""] if source.flat else parts[2:]:
        where = "" if source.flat else f"{comp}/binary-{APT_ARCH}/"
        name = next((f"{where}Packages{c}" for c in compressions if f"{where}Packages{c}" in listed), None)
        if name is None:
            raise CheckFailed(f"apt source {source.spec}: its InRelease lists no {where}Packages index")
        # apt asks for the English descriptions too where the archive has them (Acquire::Languages).
        i18n = next((f"{comp}/i18n/Translation-en{c}" for c in compressions
                     if not source.flat and f"{comp}/i18n/Translation-en{c}" in listed), None)
        # A flat repository's every Packages index: the gpu_driver role reads the plain one itself.
        every = [f"{where}Packages{c}" for c in compressions if f"{where}Packages{c}" in listed] if source.flat else []
        for index in dict.fromkeys(filter(None, (name, *every, i18n))):
            sha, size = listed[index]
            data = fetch_verified(base + index, sha, size, fetch)
            files.append(Fetched(f"{source.served}/{(base + index).removeprefix(source.url + '/')}", base + index,
                                 sha, size, "index"))
            if index == name:
                packages.update(packages_index(decompress(name, data)))
    return files, packages


# --- resolving on the target distribution ------------------------------------------------------------

_URI = re.compile(r"^'(?P<uri>[^']+)' (?P<file>\S+) (?P<size>\d+) (?P<hash>\S*)$")


def _script(sources: Sequence[Source], indexes: Sequence[Sequence[Fetched]], names: Sequence[str]) -> str:
    stanzas = []
    for i, (src, files) in enumerate(zip(sources, indexes, strict=True)):
        parts = src.spec.split()
        lines = ["Types: deb", f"URIs: file:{_MNT}/src-{i}"]
        lines += ["Suites: /"] if src.flat else [f"Suites: {parts[1]}", f"Components: {' '.join(parts[2:])}"]
        lines.append(f"Signed-By: {src.keyring}")
        del files
        stanzas.append("\n".join(lines))
    sources_text = "\n\n".join(stanzas) + "\n"
    return "\n".join([
        "set -eu",
        ". /etc/os-release; echo \"os-release $ID $VERSION_ID\"",
        "rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*",
        "rm -rf /var/lib/apt/lists/*",
        f"printf '%s' {shlex.quote(sources_text)} > /etc/apt/sources.list.d/pyctl-bundle.sources",
        "apt-get update -qq -o Acquire::Languages=none >&2",
        "apt-get install -qq -y --print-uris --no-install-recommends " + " ".join(shlex.quote(n) for n in names),
        "dpkg-query -W -f='installed ${Package} ${Version}\\n'",
    ])


@dataclass(frozen=True)
class Resolution:
    files: list[Fetched]
    base_packages: dict[str, str]  # what the resolver image already has: name -> version


def resolve(apt: Sequence[Artifact], image: str, platform: str, keys: Mapping[str, Path | str],
            fetch: Fetch, *, os_keyring: str = DEFAULT_OS_KEYRING) -> Resolution:
    """The apt closure of ``apt`` (the bill of materials' apt items) on ``image``, for hosts of ``platform``.

    ``keys``: per source URL, the key that signs it (a path on the controller or armored text); a source
    without one is signed by the distribution (``os_keyring`` in the image). CheckFailed when apt cannot
    resolve a pin, a source lacks it, or a file does not match its index."""
    if platform not in DISTRIBUTIONS:
        raise ConfigError(f"platform {platform}: pyctl cannot resolve its package closure here (resolvable: "
                          f"{', '.join(DISTRIBUTIONS)}); a bundle for it is refused")
    specs = sorted({a.mirror for a in apt})
    with tempfile.TemporaryDirectory(prefix="pyctl-closure-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)  # apt reads the sources and keys as its own user (_apt) in the container
        sources, indexes, packages = [], [], []
        served: dict[str, str] = {}
        for i, spec in enumerate(specs):
            url = spec.split()[0].rstrip("/")
            path = served_path(url)
            if path in served and served[path] != url:
                raise ConfigError(f"mirrors {served[path]} and {url} would be served under the same path /{path}")
            served[path] = url
            keyring = os_keyring
            if url in keys:
                key = keys[url]
                text = key if isinstance(key, str) and "BEGIN PGP" in key else Path(key).read_text()
                (root / "keys").mkdir(exist_ok=True)
                (root / "keys" / f"src-{i}.asc").write_text(text)
                keyring = f"{_MNT}/keys/src-{i}.asc"
            src = Source(spec, path, keyring)
            files, index = fetch_index(src, fetch)
            for f in files:
                dest = root / f"src-{i}" / f.url.removeprefix(src.url + "/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes((cache_dir() / f.sha256).read_bytes())
            sources.append(src)
            indexes.append(files)
            packages.append(index)
        names = _pins(apt, packages, specs)
        out = _podman_resolve(image, root, _script(sources, indexes, names))
    release = next((line.split()[1:] for line in out if line.startswith("os-release ")), [])
    if tuple(release) != DISTRIBUTIONS[platform]:
        raise ConfigError(f"resolver image {image} is {' '.join(release) or 'of no known release'}, not "
                          f"{' '.join(DISTRIBUTIONS[platform])} (platform {platform})")
    base = {p[1]: p[2] for p in (line.split() for line in out if line.startswith("installed ")) if len(p) == 3}
    closure: list[Fetched] = []
    for line in out:
        m = _URI.match(line)
        if not m:
            continue
        local = urllib.parse.unquote(m["uri"]).removeprefix("file:")
        src_dir, _, filename = local.removeprefix(f"{_MNT}/").partition("/")
        i = int(src_dir.removeprefix("src-"))
        src, index = sources[i], packages[i]
        fields = index.get(filename.removeprefix("./"))
        if fields is None or "SHA256" not in fields:
            raise CheckFailed(f"apt printed {m['uri']}, which {src.spec}'s index has no sha256 for")
        url = f"{src.url}/{filename.removeprefix('./')}"
        sha, size = fields["SHA256"].strip(), int(fields["Size"])
        fetch_verified(url, sha, size, fetch)
        closure.append(Fetched(f"{src.served}/{filename.removeprefix('./')}", url, sha, size, "deb",
                               package=fields.get("Package"), version=fields.get("Version")))
    index_files = [f for files in indexes for f in files]
    return Resolution(sorted([*index_files, *closure], key=lambda f: f.path), base)


def _pins(apt: Sequence[Artifact], packages: Sequence[Mapping[str, Mapping[str, str]]],
          specs: Sequence[str]) -> list[str]:
    """``name=version`` as apt takes it; a ``*`` name becomes every package of its source matching it at
    the version (CheckFailed when none does); a ``*`` version stays apt's prefix pin."""
    names: list[str] = []
    for art in apt:
        if "*" not in art.name:
            names.append(f"{art.name}={art.version}" if art.version else art.name)
            continue
        index = packages[specs.index(art.mirror)]
        pattern = re.compile(re.escape(art.name).replace(r"\*", ".*") + "$")
        found = sorted({f["Package"] for f in index.values() if pattern.match(f.get("Package", ""))
                        and (art.version is None or f.get("Version") == art.version)})
        if not found:
            raise CheckFailed(f"apt {art.label}: no package of {art.mirror} matches it at that version")
        names += [f"{n}={art.version}" if art.version else n for n in found]
    return sorted(set(names))


def _podman_resolve(image: str, root: Path, script: str) -> list[str]:
    argv = ["podman", "run", "--rm", "--network", "none", "--entrypoint", "/bin/sh",
            "--volume", f"{root}:{_MNT}:ro", image, "-c", script]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=_RESOLVE_TIMEOUT_S)
    except FileNotFoundError as exc:
        raise ConfigError("podman not found: the closure is resolved in a container of the hosts' image") from exc
    except subprocess.TimeoutExpired as exc:
        raise CheckFailed(f"resolving the packages in {image} took over {_RESOLVE_TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr + proc.stdout).strip().splitlines() if ln.strip()]
        raise CheckFailed(f"apt on {image} could not resolve the packages (exit {proc.returncode})",
                          problems=lines[-15:])
    return proc.stdout.splitlines()


def binaries(items: Sequence[Artifact], fetch: Fetch) -> list[Fetched]:
    """Each pinned binary fetched and checked; served under its URL's path. Each directory of them gets
    a ``SHA256SUMS`` of its binaries' pinned sums (dl.k8s.io's layout), so the artifact check of a rollout
    from the bundle compares the served files with the pins (:func:`pyctl.artifacts.check`) as it does
    on a mirror that has one."""
    out = []
    sums: dict[str, dict[str, str]] = {}
    for art in items:
        if not art.sha256:
            raise CheckFailed(f"binary {art.label}: no sha256 pinned for it (control_plane_artifact_checksums)")
        body = fetch_verified(art.mirror, art.sha256.lower(), None, fetch)
        out.append(Fetched(served_path(art.mirror), art.mirror, art.sha256.lower(), len(body), "binary",
                           package=art.name, version=art.version, needed_by=list(art.needed_by)))
        directory, _, filename = art.mirror.rpartition("/")
        sums.setdefault(directory, {})[filename] = art.sha256.lower()
    for directory, listed in sorted(sums.items()):
        body = render_sha256sums(listed).encode()
        out.append(Fetched(served_path(f"{directory}/SHA256SUMS"), f"{directory}/SHA256SUMS", _store(body),
                           len(body), "index"))
    return out


def place(files: Sequence[Fetched], mirror: Path) -> None:
    """Copy each fetched file from the cache to ``mirror/<path>`` (mode 0644)."""
    for f in files:
        dest = mirror / f.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache_dir() / f.sha256, dest)
        dest.chmod(0o644)
