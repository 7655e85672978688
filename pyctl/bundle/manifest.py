"""A bundle's manifest, its byte-identical tarball, and the offline check of both.

The manifest lists every file of the bundle but itself and its signature: path (relative, POSIX),
sha256, size and mode (``0644`` or ``0755``: nothing else is kept). It is canonical JSON (sorted keys,
two-space indent), so the same inputs give the same bytes, and the same signature (Ed25519 signatures
are deterministic). The tarball holds the files alone, sorted by path, each with mtime 0, owner 0:0,
no user or group names, and the mode from the manifest; the manifest and its signature come first, so a
reader meets them before any file it would have to hash.

:func:`verify` checks, in this order and before anything is unpacked: that the bundle has a manifest of
this format and a signature; the signature (by the function it is given, :func:`pyctl.bundle.sign.verifier`);
that every path, listed or present, stays inside the bundle and is a plain file; then every file's size
and sha256, and that no file is missing and none is extra. Each failure is a :class:`BundleError` of a
named kind (exit 3), naming every file it concerns.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pyctl.errors import ExitCode, PyctlError

FORMAT = "pyctl-bundle/1"
MANIFEST = "MANIFEST.json"
SIGNATURE = "MANIFEST.json.sig"
_OWN = (MANIFEST, SIGNATURE)

# The named failures of a check, as the operator reads them.
NOT_A_BUNDLE = "not a bundle"
UNSIGNED = "unsigned"
WRONG_SIGNER = "wrong signer"
BAD_SIGNATURE = "bad signature"
PATH_ESCAPE = "path escapes the bundle"
MISSING = "missing file"
EXTRA = "extra file"
TAMPERED = "tampered file"


class BundleError(PyctlError):
    """A bundle that is not what its signed manifest says; ``kind`` names which check failed."""

    exit_code = ExitCode.BAD_CONFIG

    def __init__(self, kind: str, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(f"{kind}: {message}", problems=problems)
        self.kind = kind


@dataclass(frozen=True)
class Entry:
    path: str
    sha256: str
    size: int
    mode: str  # "0644" or "0755"

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size, "mode": self.mode}


def safe_path(path: str) -> bool:
    """A relative POSIX path that stays inside the bundle: no leading ``/``, no ``..``, ``.`` or empty part."""
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def _mode(st_mode: int) -> str:
    return "0755" if st_mode & 0o111 else "0644"


def _sha256(fh: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: fh.read(1 << 20), b""):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def scan(root: Path) -> list[Entry]:
    """Every file under ``root`` but the manifest and its signature, sorted by path; a link or anything
    not a plain file is refused (a bundle holds plain files only)."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode) or not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
                raise BundleError(PATH_ESCAPE, f"{rel} is not a plain file or directory (a bundle holds plain files)")
            if stat.S_ISREG(st.st_mode) and rel not in _OWN:
                with path.open("rb") as fh:
                    sha, size = _sha256(fh)
                entries.append(Entry(rel, sha, size, _mode(st.st_mode)))
    return sorted(entries, key=lambda e: e.path)


def render(doc: Mapping[str, Any]) -> bytes:
    """The manifest's bytes: canonical, so the same document is the same file."""
    return (json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def document(dc: str, digest: Mapping[str, Any], entries: list[Entry], **fields: Any) -> dict[str, Any]:
    """The manifest of a bundle of ``dc``: its format, the input digest (``value`` and ``parts``) it is
    keyed by, every file, and ``fields`` (what the bundle carries, in words a diff can compare)."""
    return {"format": FORMAT, "dc": dc, "input_digest": dict(digest), **fields,
            "files": [e.to_dict() for e in entries]}


def _tarinfo(name: str, size: int, mode: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, int(mode, 8), 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info


def write_tar(root: Path, tar_path: Path) -> Path:
    """The bundle directory ``root`` as one tarball, byte-identical for the same files (written beside
    and moved into place, so a reader never sees half of one)."""
    doc = json.loads((root / MANIFEST).read_bytes())
    partial = tar_path.with_name(f".{tar_path.name}.partial")
    with tarfile.open(partial, "w", format=tarfile.GNU_FORMAT) as tar:
        for own in _OWN:
            if (root / own).is_file():
                data = (root / own).read_bytes()
                tar.addfile(_tarinfo(own, len(data), "0644"), io.BytesIO(data))
        for item in doc["files"]:
            with (root / item["path"]).open("rb") as fh:
                tar.addfile(_tarinfo(item["path"], int(item["size"]), item["mode"]), fh)
    partial.replace(tar_path)
    return tar_path


# --- reading and checking ------------------------------------------------------------------------------

class _Reader:
    """A bundle as a directory or a tarball: its members, read without unpacking."""

    def __init__(self, bundle: Path) -> None:
        self.bundle = bundle
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, tarfile.TarInfo] = {}
        self.unsafe: list[str] = []
        self.doubled: list[str] = []
        if bundle.is_dir():
            return
        try:
            self._tar = tarfile.open(bundle, "r:")  # noqa: SIM115 (closed by close())
        except (OSError, tarfile.TarError) as exc:
            raise BundleError(NOT_A_BUNDLE, f"{bundle}: neither a bundle directory nor a tarball ({exc})") from exc
        for member in self._tar.getmembers():
            name = member.name
            if not safe_path(name):
                self.unsafe.append(f"{name}: leaves the bundle")
            elif not (member.isreg() or member.isdir()):
                self.unsafe.append(f"{name}: a {'link' if member.issym() or member.islnk() else 'special file'}, "
                                   "not a plain file")
            elif member.isreg():
                if name in self._members:
                    self.doubled.append(name)
                self._members[name] = member

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()

    def read(self, name: str) -> bytes | None:
        if self._tar is None:
            path = self.bundle / name
            return path.read_bytes() if path.is_file() and not path.is_symlink() else None
        member = self._members.get(name)
        fh = self._tar.extractfile(member) if member is not None else None
        return fh.read() if fh is not None else None

    def files(self) -> Iterator[tuple[str, int]]:
        """Every plain file but the manifest and signature: (path, mode bits)."""
        if self._tar is None:
            try:
                entries = scan(self.bundle)
            except BundleError as exc:
                self.unsafe.append(exc.message.removeprefix(f"{PATH_ESCAPE}: "))
                return
            for e in entries:
                yield e.path, int(e.mode, 8)
            return
        for name, member in self._members.items():
            if name not in _OWN:
                yield name, member.mode

    def digest(self, path: str) -> tuple[str, int]:
        if self._tar is None:
            with (self.bundle / path).open("rb") as fh:
                return _sha256(fh)
        member = self._tar.extractfile(self._members[path])
        assert member is not None
        return _sha256(member)


@dataclass(frozen=True)
class Verified:
    bundle: Path
    manifest: dict[str, Any]
    signer: str

    @property
    def dc(self) -> str:
        return str(self.manifest["dc"])


# check_signature(manifest bytes, signature bytes) -> the signer's principal; raises BundleError
# (WRONG_SIGNER, BAD_SIGNATURE) otherwise.
SignatureCheck = Callable[[bytes, bytes], str]


def verify(bundle: Path, check_signature: SignatureCheck) -> Verified:
    """The bundle checked as the module docstring says; raises BundleError at the first failed step,
    naming every file that fails it."""
    if not bundle.exists():
        raise BundleError(NOT_A_BUNDLE, f"{bundle} does not exist")
    reader = _Reader(bundle)
    try:
        raw = reader.read(MANIFEST)
        if raw is None:
            raise BundleError(NOT_A_BUNDLE, f"{bundle} has no {MANIFEST}")
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise BundleError(NOT_A_BUNDLE, f"{bundle}: {MANIFEST} is not JSON ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("files"), list):
            got = doc.get("format") if isinstance(doc, dict) else None
            raise BundleError(NOT_A_BUNDLE, f"{bundle}: {MANIFEST} is not a {FORMAT} manifest (format {got!r})")
        signature = reader.read(SIGNATURE)
        if signature is None:
            raise BundleError(UNSIGNED, f"{bundle} has no {SIGNATURE}: an unsigned bundle is never used")
        signer = check_signature(raw, signature)
        listed = _listed(doc, bundle)
        present = dict(reader.files())
        escapes = sorted({*reader.unsafe, *(f"{p}: listed in the manifest, leaves the bundle"
                                            for p in listed if not safe_path(p))})
        if escapes:
            raise BundleError(PATH_ESCAPE, f"{bundle}: {len(escapes)} path(s) outside the bundle or not plain files",
                              problems=escapes)
        if reader.doubled:
            raise BundleError(TAMPERED, f"{bundle}: the tarball holds {len(reader.doubled)} file(s) twice",
                              problems=sorted(reader.doubled))
        missing = sorted(set(listed) - set(present))
        if missing:
            raise BundleError(MISSING, f"{bundle}: {len(missing)} file(s) of the manifest are not in the bundle",
                              problems=missing)
        extra = sorted(set(present) - set(listed))
        if extra:
            raise BundleError(EXTRA, f"{bundle}: {len(extra)} file(s) the manifest does not list", problems=extra)
        tampered = []
        for path, entry in listed.items():
            sha, size = reader.digest(path)
            if sha != entry.sha256 or size != entry.size:
                tampered.append(f"{path}: sha256 {sha} ({size} bytes), the manifest says {entry.sha256} "
                                f"({entry.size} bytes)")
            elif _mode(present[path]) != entry.mode:
                tampered.append(f"{path}: mode {_mode(present[path])}, the manifest says {entry.mode}")
        if tampered:
            raise BundleError(TAMPERED, f"{bundle}: {len(tampered)} file(s) differ from the manifest",
                              problems=tampered)
        return Verified(bundle, doc, signer)
    finally:
        reader.close()


def _listed(doc: Mapping[str, Any], bundle: Path) -> dict[str, Entry]:
    listed: dict[str, Entry] = {}
    for item in doc["files"]:
        try:
            entry = Entry(str(item["path"]), str(item["sha256"]), int(item["size"]), str(item["mode"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(NOT_A_BUNDLE, f"{bundle}: a manifest entry is malformed: {item!r}") from exc
        listed[entry.path] = entry
    return listed


def unpack(verified: Verified, dest: Path, check_signature: SignatureCheck) -> Verified:
    """A verified tarball unpacked into ``dest`` (which must not exist), then checked again as a directory
    (the tarball could have changed after its check); a directory bundle is returned as it is."""
    if verified.bundle.is_dir():
        return verified
    if dest.exists():
        raise BundleError(NOT_A_BUNDLE, f"{dest} exists: unpack into a new directory")
    staging = dest.with_name(f".{dest.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tarfile.open(verified.bundle, "r:") as tar:
            tar.extractall(staging, filter="data")
        again = verify(staging, check_signature)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    staging.rename(dest)
    return Verified(dest, again.manifest, again.signer)


def read_json(bundle: Path, path: str) -> Any:
    """A JSON file of a bundle (directory or tarball) read in place, e.g. ``inputs/plan.json``; check the
    bundle first (:func:`verify`)."""
    if not safe_path(path):
        raise BundleError(PATH_ESCAPE, f"{path} leaves the bundle")
    reader = _Reader(bundle)
    try:
        raw = reader.read(path)
    finally:
        reader.close()
    if raw is None:
        raise BundleError(MISSING, f"{bundle} has no {path}")
    return json.loads(raw)
