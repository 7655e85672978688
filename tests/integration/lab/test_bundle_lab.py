"""A bundle of the lab, end to end: built from the real NetBox and the lab mirror, its package closure
resolved by apt in the lab hosts' own image, byte-identical when built again, checked, served, and
used by a lab host's apt — which gets every package the roles install and fails loudly on anything else.

The host's own apt configuration is left alone (the test's apt uses a private sources and lists
directory), so the tests after this one see the hosts as they were.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctl.dev import lab, mirror
from pyctl.paths import REPO
from tests.integration.conftest import NetBoxBed, run_pyctl
from tests.integration.lab.test_lab import ssh

pytestmark = pytest.mark.lab

PORT = 18096  # not the lab mirror's 18088 nor the test NetBox's 18090: they all run at once here


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("keys")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@lab", "-f", str(tmp / "ops")],
                   check=True)
    allowed = tmp / "allowed_signers"
    allowed.write_text(f'ops@lab namespaces="pyctl-bundle" {(tmp / "ops.pub").read_text()}')
    return {"key": tmp / "ops", "allowed": allowed, "out": tmp / "bundles"}


@pytest.fixture(scope="module")
def built(registered: list[lab.LabHost], netbox_bed: NetBoxBed, signing: dict[str, Path]) -> dict[str, object]:
    env = netbox_bed.env()
    start = time.monotonic()
    first = run_pyctl("bundle", "build", "lab", "--key", str(signing["key"]), "--out", str(signing["out"]),
                      "--json", env=env)
    seconds = time.monotonic() - start
    assert first.code == 0, first.stderr
    doc = first.json()
    print(f"\nlab bundle: {doc['tarball_bytes'] / 1e6:.1f} MB, {doc['files']} files, built in {seconds:.1f} s "
          "(closure fetched or cached)", file=sys.stderr)
    return {"doc": doc, "env": env}


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_the_bundle_holds_the_inputs_and_the_closure_and_rebuilds_byte_identical(built, signing):
    doc = built["doc"]
    directory = Path(doc["directory"])
    for part in ("inputs/netbox-records.json", "inputs/inventory.json", "inputs/plan.json",
                 "inputs/group_vars/all/mirror.yml", "project/roles/etcd/tasks/main.yml", "project/ansible.cfg",
                 "mirror/debian/dists/bookworm/InRelease", "mirror/nvidia/InRelease",
                 "mirror/kubernetes/release/v1.31.4/bin/linux/amd64/kube-apiserver"):
        assert (directory / part).is_file(), part
    debs = sorted(p.name for p in (directory / "mirror").rglob("*.deb"))
    # The roles' packages, and their dependencies the hosts' image lacks (resolved by apt there).
    assert any(n.startswith("etcd-server_3.4.23") for n in debs)
    assert any(n.startswith("runc_") for n in debs), "containerd's dependency runc"
    assert any(n.startswith("nvidia-driver-550_550.127.08-1") for n in debs)
    assert not any(n.startswith("python3_") for n in debs), "the image has python3: not in the closure"
    again = run_pyctl("bundle", "build", "lab", "--key", str(signing["key"]), "--out", str(signing["out"]),
                      "--json", env=built["env"])
    assert again.code == 0, again.stderr
    assert again.json()["tarball"] == doc["tarball"]
    assert _sha(again.json()["tarball"]) == _sha(doc["tarball"]) or pytest.fail("not byte-identical")
    assert again.json()["changes"]["same"] is True


def test_a_data_center_of_ubuntu_hosts_is_refused_by_platform(built, signing):
    result = run_pyctl("bundle", "build", "dc2", "--key", str(signing["key"]), "--out", str(signing["out"]),
                       env=built["env"])
    assert result.code == 3
    assert ("platform ubuntu-2204 of dc2: its package closure cannot be resolved here (only debian-12 hosts can "
            "be run); the bundle refuses it") in result.stderr
    assert not list(signing["out"].glob("dc2-*")), "nothing of dc2 is left behind"


@pytest.fixture(scope="module")
def served(built, signing) -> Iterator[Path]:
    log = signing["out"] / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pyctl", "mirror", "serve", built["doc"]["tarball"], "--allowed-signers",
             str(signing["allowed"]), "--bind", "127.0.0.1", "--bind", mirror.LAB_GATEWAY, "--port", str(PORT)],
            cwd=REPO, env={**os.environ, **built["env"]}, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            with contextlib.suppress(OSError), socket.create_connection((mirror.LAB_GATEWAY, PORT), timeout=1):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"pyctl mirror serve did not answer on {mirror.LAB_GATEWAY}:{PORT}: {log.read_text()}")
        yield log
    finally:
        proc.terminate()
        proc.wait(15)


APT = ("O='-o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts=/tmp/bundle-apt "
       "-o Dir::State::Lists=/tmp/bundle-apt/lists -o Dir::Cache::archives=/tmp/bundle-apt/archives'; ")


def test_a_lab_host_gets_every_package_from_the_served_bundle_and_nothing_else(registered, served):
    host = registered[-1]
    setup = ssh(host, "rm -rf /tmp/bundle-apt && mkdir -p /tmp/bundle-apt/lists/partial "
                "/tmp/bundle-apt/archives/partial && printf '%s\\n' 'Types: deb' "
                f"'URIs: http://{mirror.LAB_GATEWAY}:{PORT}/debian' 'Suites: bookworm' 'Components: main' "
                "'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' > /tmp/bundle-apt/bundle.sources && "
                + APT + "apt-get update --error-on=any $O")
    assert setup.returncode == 0, setup.stdout + setup.stderr
    got = ssh(host, APT + "apt-get install -y -q --download-only --no-install-recommends $O etcd-server etcd-client "
              "containerd curl python3-cryptography")
    assert got.returncode == 0, got.stdout + got.stderr
    outside = ssh(host, APT + "apt-get install -y -q --download-only --no-install-recommends $O nginx")
    assert outside.returncode != 0
    assert "404  not in the bundle" in outside.stdout + outside.stderr
    assert "OUTSIDE THE BUNDLE: /debian/pool/main/n/nginx/nginx" in served.read_text()
    ssh(host, "rm -rf /tmp/bundle-apt")
