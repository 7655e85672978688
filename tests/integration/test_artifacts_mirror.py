"""`pyctl artifacts lab --check` against a real mirror server (pyctl.dev.mirror, on a test port with a tmp
root) and the lab read from the real NetBox: passes when the mirror holds everything, exit 2 naming the
package once its stanza is gone from the index (issue 10, "Done when").

"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from pyctl.dev import mirror, seed
from pyctl.dev import netbox as bed_mod
from tests.integration.conftest import REPO, NetBoxBed, Result

pytestmark = pytest.mark.netbox

PORT = int(os.environ.get("PYCTL_TEST_MIRROR_PORT", "18189"))
BASE = f"http://127.0.0.1:{PORT}"
# Stand-in Debian index for the OS mirror part (etcd, containerd, …): names and versions as bookworm has them.
DEBIAN_PACKAGES = {"etcd-server": "3.4.23-4+b6", "etcd-client": "3.4.23-4+b6", "containerd": "1.6.20~ds1-1+b1",
                   "initramfs-tools": "0.142+deb12u1", "python3-cryptography": "38.0.4-3+deb12u1",
                   "curl": "7.88.1-10+deb12u8"}
# Fake lab hosts (no containers): 3 etcd + 1 control plane of lab-mgmt, 2 GPU workers of lab-gpu.
HOSTS = [(f"pyctl-lab-{i:02d}", f"172.31.213.{10 + i}/24", f"172.31.214.{10 + i}/24", 1500)
         for i in range(1, 7)]


def artifacts_cmd(*args: str, env: dict[str, str]) -> Result:
    proc = subprocess.run([sys.executable, "-m", "pyctl", "artifacts", "lab", *args], env=env,
                          cwd=REPO, text=True, capture_output=True, timeout=300, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def lab_site(netbox_bed: NetBoxBed) -> Iterator[None]:
    bed_mod.load(netbox_bed.bed, {"dataset": seed.lab(HOSTS)})
    try:
        yield
    finally:
        netbox_bed.reset()


@pytest.fixture
def mirror_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "mirror"
    mirror.up("lab", PORT, root, lab_gateway=False)
    try:
        yield root / "lab"
    finally:
        mirror.down("lab", root)


def test_lab_check_passes_then_names_the_removed_package(netbox_bed: NetBoxBed, lab_site: None,
                                                          mirror_root: Path, tmp_path: Path) -> None:
    debian = mirror_root / "debian" / "dists" / "bookworm" / "main" / "binary-amd64"
    debian.mkdir(parents=True)
    (debian / "Packages").write_text("\n".join(
        f"Package: {n}\nVersion: {v}\nArchitecture: amd64\n" for n, v in DEBIAN_PACKAGES.items()))
    overlay = tmp_path / "mirror-vars.yml"
    overlay.write_text(yaml.safe_dump({
        "gpu_driver_mirror_url": f"{BASE}/nvidia",
        "control_plane_artifact_mirror_url": f"{BASE}/kubernetes/release",
        "pyctl_os_mirror_url": f"{BASE}/debian"}))
    env = netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path / "runs"))

    listed = artifacts_cmd("--json", "--vars", str(overlay), env=env)
    assert listed.code == 0, listed.stderr
    names = {a["name"]: a for a in listed.json()["artifacts"]}
    # The lab's checksums pins (inventories/lab/group_vars/all/mirror.yml) apply; the mirror URL is the test's.
    assert names["kube-apiserver"]["mirror"] == f"{BASE}/kubernetes/release/v1.31.4/bin/linux/amd64/kube-apiserver"
    assert names["nvidia-fabricmanager-550"]["needed_by"] == ["gpu_driver/lab-gpu"]
    assert names["etcd-server"]["needed_by"] == ["etcd/lab-mgmt"]

    ok = artifacts_cmd("--check", "--vars", str(overlay), env=env)
    assert ok.code == 0, ok.stderr
    assert "all " in ok.stderr

    # Drop nvidia-fabricmanager-550 at the pinned version from the mirror's index (the older one stays).
    index = mirror_root / "nvidia" / "Packages"
    stanzas = index.read_text().split("\n\n")
    kept = [s for s in stanzas
            if not ("Package: nvidia-fabricmanager-550\n" in s + "\n" and "Version: 550.127.08-1" in s)]
    assert len(kept) == len(stanzas) - 1
    index.write_text("\n\n".join(kept))
    (mirror_root / "nvidia" / "Packages.gz").write_bytes(gzip.compress("\n\n".join(kept).encode()))

    bad = artifacts_cmd("--check", "--vars", str(overlay), env=env)
    assert bad.code == 2, bad.stderr
    assert "apt nvidia-fabricmanager-550 550.127.08-1: version not in the index (it has: 550.127.05-1)" in bad.stderr
    assert "1 of " in bad.stderr
