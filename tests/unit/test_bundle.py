"""Bundles: the manifest, the byte-identical tarball, the signature checks (real ssh-keygen), every
tamper case as a named error, the diff, and the mirror server that serves only what the bundle lists."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pyctl.bundle import diff, manifest, serve, sign
from pyctl.bundle.manifest import BundleError
from pyctl.cli.main import main
from tests.serving import serving


def _keygen(path: Path, comment: str) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return path


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    ops = _keygen(tmp_path / "ops", "ops@example.com")
    other = _keygen(tmp_path / "other", "mallory@example.com")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f'ops@example.com namespaces="pyctl-bundle" {(tmp_path / "ops.pub").read_text()}')
    return {"ops": ops, "other": other, "allowed": allowed}


PLAN = {"dc": "lab", "clusters": [{"name": "lab-gpu", "calico": {"mtu": 1450, "block_size": 26}}]}
ARTIFACTS = {"files": [{"path": "debian/pool/a_1_amd64.deb", "kind": "deb", "package": "a", "version": "1",
                        "sha256": "aa" * 32, "url": "http://m/debian/pool/a_1_amd64.deb", "size": 3}],
             "resolver": {"platform": "debian-12", "image": "img", "image_id": "1"}}


def make_bundle(root: Path, key: Path, *, plan: dict | None = None, artifacts: dict | None = None,
                parts: dict | None = None) -> Path:
    """A small bundle as build writes one: inputs, an executable in project/, a mirror file; signed."""
    (root / "inputs").mkdir(parents=True)
    (root / "inputs" / "plan.json").write_text(json.dumps(plan or PLAN))
    (root / "artifacts.json").write_text(json.dumps(artifacts or ARTIFACTS))
    (root / "project" / "roles").mkdir(parents=True)
    (root / "project" / "roles" / "run.sh").write_text("#!/bin/sh\n")
    (root / "project" / "roles" / "run.sh").chmod(0o755)
    (root / "mirror" / "debian" / "pool").mkdir(parents=True)
    (root / "mirror" / "debian" / "pool" / "a_1_amd64.deb").write_bytes(b"deb")
    return resign(root, key, parts=parts)


def resign(root: Path, key: Path, *, parts: dict | None = None) -> Path:
    """The manifest of what ``root`` holds now, signed."""
    digest = {"value": "d" * 64, "parts": parts or {"netbox": "n" * 64, "plan": "p" * 64}}
    raw = manifest.render(manifest.document("lab", digest, manifest.scan(root), platform="debian-12"))
    (root / manifest.MANIFEST).write_bytes(raw)
    (root / manifest.SIGNATURE).write_bytes(sign.sign(raw, key))
    return root


@pytest.fixture
def bundle(tmp_path: Path, keys: dict[str, Path]) -> Path:
    return make_bundle(tmp_path / "b", keys["ops"])


def _check(keys: dict[str, Path]) -> manifest.SignatureCheck:
    return sign.verifier(keys["allowed"])


def test_a_good_bundle_verifies_as_a_directory_and_as_its_tarball_naming_the_signer(bundle, keys, tmp_path):
    tar = manifest.write_tar(bundle, tmp_path / "b.tar")
    for path in (bundle, tar):
        verified = manifest.verify(path, _check(keys))
        assert verified.signer == "ops@example.com"
        assert verified.dc == "lab"
        assert [f["path"] for f in verified.manifest["files"]] == [
            "artifacts.json", "inputs/plan.json", "mirror/debian/pool/a_1_amd64.deb", "project/roles/run.sh"]
        assert {f["path"]: f["mode"] for f in verified.manifest["files"]}["project/roles/run.sh"] == "0755"


def test_the_tarball_is_byte_identical_whatever_the_files_times_and_the_builds_order(bundle, tmp_path):
    first = (manifest.write_tar(bundle, tmp_path / "1.tar")).read_bytes()
    for path in bundle.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    second = manifest.write_tar(bundle, tmp_path / "2.tar").read_bytes()
    assert first == second
    with tarfile.open(tmp_path / "2.tar") as tar:
        members = tar.getmembers()
    assert [m.name for m in members[:2]] == [manifest.MANIFEST, manifest.SIGNATURE]
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}


def test_signing_the_same_manifest_twice_gives_the_same_signature(bundle, keys):
    raw = (bundle / manifest.MANIFEST).read_bytes()
    assert sign.sign(raw, keys["ops"]) == sign.sign(raw, keys["ops"]) == (bundle / manifest.SIGNATURE).read_bytes()


def _fails(path: Path, keys: dict[str, Path], kind: str) -> BundleError:
    with pytest.raises(BundleError) as err:
        manifest.verify(path, _check(keys))
    assert err.value.kind == kind
    assert err.value.exit_code == 3
    return err.value


def test_a_changed_file_is_a_tampered_file_naming_it_and_both_hashes(bundle, keys):
    deb = bundle / "mirror" / "debian" / "pool" / "a_1_amd64.deb"
    want = manifest.scan(bundle)[2].sha256
    deb.write_bytes(b"evil")
    err = _fails(bundle, keys, manifest.TAMPERED)
    assert err.message == f"tampered file: {bundle}: 1 file(s) differ from the manifest"
    assert err.problems == [f"mirror/debian/pool/a_1_amd64.deb: sha256 {manifest.scan(bundle)[2].sha256} (4 bytes), "
                            f"the manifest says {want} (3 bytes)"]


def test_a_mode_change_is_a_tampered_file(bundle, keys):
    (bundle / "project" / "roles" / "run.sh").chmod(0o644)
    err = _fails(bundle, keys, manifest.TAMPERED)
    assert err.problems == ["project/roles/run.sh: mode 0644, the manifest says 0755"]


def test_a_missing_and_an_extra_file_are_named(bundle, keys, tmp_path):
    (bundle / "inputs" / "plan.json").unlink()
    err = _fails(bundle, keys, manifest.MISSING)
    assert err.problems == ["inputs/plan.json"]
    other = make_bundle(tmp_path / "c", keys["ops"])
    (other / "mirror" / "debian" / "pool" / "b_1_amd64.deb").write_bytes(b"more")
    err = _fails(other, keys, manifest.EXTRA)
    assert err.message == f"extra file: {other}: 1 file(s) the manifest does not list"
    assert err.problems == ["mirror/debian/pool/b_1_amd64.deb"]


def test_a_key_not_allowed_is_a_wrong_signer(tmp_path, keys):
    signed = make_bundle(tmp_path / "m", keys["other"])
    err = _fails(signed, keys, manifest.WRONG_SIGNER)
    assert err.message.startswith(f"wrong signer: the manifest is signed by a key {keys['allowed']} does not allow")


def test_a_manifest_changed_after_signing_is_a_bad_signature(bundle, keys):
    doc = json.loads((bundle / manifest.MANIFEST).read_bytes())
    doc["dc"] = "dc2"
    (bundle / manifest.MANIFEST).write_bytes(manifest.render(doc))
    err = _fails(bundle, keys, manifest.BAD_SIGNATURE)
    assert err.message.startswith("bad signature: the manifest does not match its signature by ops@example.com")


def test_no_signature_is_refused_as_unsigned_and_no_manifest_is_not_a_bundle(bundle, keys, tmp_path):
    (bundle / manifest.SIGNATURE).unlink()
    err = _fails(bundle, keys, manifest.UNSIGNED)
    assert err.message == f"unsigned: {bundle} has no {manifest.SIGNATURE}: an unsigned bundle is never used"
    (tmp_path / "empty").mkdir()
    err = _fails(tmp_path / "empty", keys, manifest.NOT_A_BUNDLE)
    assert err.message == f"not a bundle: {tmp_path / 'empty'} has no {manifest.MANIFEST}"


def _tar_with(tmp_path: Path, bundle: Path, extra: tarfile.TarInfo, data: bytes = b"") -> Path:
    tar_path = manifest.write_tar(bundle, tmp_path / "x.tar")
    with tarfile.open(tar_path, "a") as tar:
        tar.addfile(extra, io.BytesIO(data) if extra.isreg() else None)
    return tar_path


def test_a_tar_member_that_leaves_the_bundle_or_is_a_link_is_refused_before_any_hash(bundle, keys, tmp_path):
    evil = tarfile.TarInfo("../../etc/cron.d/evil")
    evil.size = 1
    err = _fails(_tar_with(tmp_path, bundle, evil, b"x"), keys, manifest.PATH_ESCAPE)
    assert err.problems == ["../../etc/cron.d/evil: leaves the bundle"]
    link = tarfile.TarInfo("mirror/debian/passwd")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    err = _fails(_tar_with(tmp_path, bundle, link), keys, manifest.PATH_ESCAPE)
    assert err.problems == ["mirror/debian/passwd: a link, not a plain file"]


def test_a_symlink_in_a_bundle_directory_and_a_signed_path_with_dotdot_are_refused(bundle, keys, tmp_path):
    (bundle / "mirror" / "debian" / "shadow").symlink_to("/etc/shadow")
    err = _fails(bundle, keys, manifest.PATH_ESCAPE)
    assert err.problems == ["mirror/debian/shadow is not a plain file or directory (a bundle holds plain files)"]
    signed = make_bundle(tmp_path / "d", keys["ops"])
    doc = json.loads((signed / manifest.MANIFEST).read_bytes())
    doc["files"].append({"path": "../outside", "sha256": "0" * 64, "size": 0, "mode": "0644"})
    raw = manifest.render(doc)
    (signed / manifest.MANIFEST).write_bytes(raw)
    (signed / manifest.SIGNATURE).write_bytes(sign.sign(raw, keys["ops"]))
    err = _fails(signed, keys, manifest.PATH_ESCAPE)
    assert err.problems == ["../outside: listed in the manifest, leaves the bundle"]


def test_unpack_checks_again_and_refuses_an_existing_directory(bundle, keys, tmp_path):
    tar = manifest.write_tar(bundle, tmp_path / "b.tar")
    verified = manifest.verify(tar, _check(keys))
    out = manifest.unpack(verified, tmp_path / "out", _check(keys))
    assert out.bundle == tmp_path / "out"
    assert (tmp_path / "out" / "mirror" / "debian" / "pool" / "a_1_amd64.deb").read_bytes() == b"deb"
    with pytest.raises(BundleError, match="exists: unpack into a new directory"):
        manifest.unpack(verified, tmp_path / "out", _check(keys))


def test_verify_on_the_command_line_exits_3_naming_the_error(bundle, keys, capsys):
    (bundle / "inputs" / "plan.json").write_text("{}")
    code = main(["bundle", "verify", str(bundle), "--allowed-signers", str(keys["allowed"]), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 3
    assert out["error"] == f"tampered file: {bundle}: 1 file(s) differ from the manifest"
    assert out["problems"][0].startswith("inputs/plan.json: sha256 ")


def test_mirror_serve_refuses_a_tampered_tarball_and_unpacks_and_binds_nothing(bundle, keys, tmp_path, capsys):
    (bundle / "mirror" / "debian" / "pool" / "a_1_amd64.deb").write_bytes(b"evil")
    tar = manifest.write_tar(bundle, tmp_path / "b.tar")
    root = tmp_path / "served"
    code = main(["mirror", "serve", str(tar), "--allowed-signers", str(keys["allowed"]), "--root", str(root),
                 "--port", "18097"])
    assert code == 3
    assert "pyctl: error: tampered file:" in capsys.readouterr().err
    assert not root.exists()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen("http://127.0.0.1:18097/", timeout=2)


def test_the_server_serves_the_listed_files_by_path_and_by_hash_and_nothing_else(tmp_path):
    (tmp_path / "debian" / "dists" / "bookworm").mkdir(parents=True)
    (tmp_path / "debian" / "dists" / "bookworm" / "InRelease").write_text("signed")
    (tmp_path / "debian" / "pool").mkdir()
    (tmp_path / "debian" / "pool" / "a_1+b1_amd64.deb").write_bytes(b"deb")
    (tmp_path / "debian" / "pool" / "unlisted.deb").write_bytes(b"no")
    listed = {"debian/dists/bookworm/InRelease": "ab" * 32, "debian/pool/a_1+b1_amd64.deb": "cd" * 32}
    with serving(tmp_path, 18098, listed=listed):
        base = "http://127.0.0.1:18098/debian"
        assert urllib.request.urlopen(f"{base}/pool/a_1%2bb1_amd64.deb", timeout=5).read() == b"deb"
        assert urllib.request.urlopen(f"{base}/./pool/a_1%2bb1_amd64.deb", timeout=5).read() == b"deb"  # flat repo
        by_hash = f"{base}/dists/bookworm/by-hash/SHA256/{'ab' * 32}"
        assert urllib.request.urlopen(by_hash, timeout=5).read() == b"signed"
        for missing in (f"{base}/pool/unlisted.deb", f"{base}/pool/by-hash/SHA256/{'ab' * 32}", f"{base}/"):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(missing, timeout=5)
            assert err.value.code == 404


def test_the_server_never_binds_a_wildcard(tmp_path):
    with pytest.raises(serve.ServeError, match=re.escape("refusing to bind a wildcard address '0.0.0.0'")):
        serve.serve(tmp_path, 18099, ["0.0.0.0"])


def test_diff_names_the_inputs_plan_values_artifacts_and_files_that_differ(tmp_path, keys):
    a = make_bundle(tmp_path / "a", keys["ops"])
    plan = {"dc": "lab", "clusters": [{"name": "lab-gpu", "calico": {"mtu": 8950, "block_size": 26}}]}
    arts = json.loads(json.dumps(ARTIFACTS))
    arts["files"][0]["version"] = "2"
    arts["files"].append({"path": "debian/pool/c_1_amd64.deb", "kind": "deb", "package": "c", "version": "1",
                          "sha256": "cc" * 32})
    b = make_bundle(tmp_path / "b", keys["ops"], plan=plan, artifacts=arts,
                    parts={"netbox": "n" * 64, "plan": "q" * 64})
    (b / "project" / "roles" / "run.sh").write_text("#!/bin/sh\nexit 1\n")
    resign(b, keys["ops"], parts={"netbox": "n" * 64, "plan": "q" * 64})
    d = diff.compare(a, b)
    assert d.inputs == ["plan: pppppppppppp… → qqqqqqqqqqqq…"]
    assert d.plan == ["clusters[lab-gpu].calico.mtu: 1450 → 8950"]
    assert d.artifacts == ["deb a: 1 → 2", "deb c 1: added"]
    assert d.files == ["project/roles/run.sh: changed"]
    assert diff.compare(a, a).same
    assert main(["bundle", "diff", str(a), str(a)]) == 0
    assert main(["bundle", "diff", str(a), str(b)]) == 2
