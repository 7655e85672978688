"""The closure's parsers and checks, the NetBox snapshot's round trip, and what a bundle refuses before it
resolves anything (the resolving itself runs on the lab: tests/integration/lab/test_bundle_lab.py)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from pyctl import inventory
from pyctl.artifacts import Artifact, check
from pyctl.bundle import build, closure
from pyctl.errors import CheckFailed, ConfigError
from pyctl.inventory import DeviceRecord, InterfaceRecord, PrefixRecord, SiteRecords
from tests.unit.test_artifacts import device, site

# As Debian's dists/bookworm/InRelease lays it out (MD5Sum section first, then SHA256), shortened.
IN_RELEASE = """-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

Origin: Debian
Suite: stable
Codename: bookworm
Acquire-By-Hash: yes
MD5Sum:
 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 contrib/Contents-all
SHA256:
 a07bf5b346e9b6e7304d662cc359c0c4a07bf5b346e9b6e7304d662cc359c0c4  6107304 main/i18n/Translation-en.xz
 62f59c3cdca9786e4f7adf9002f9f5729a684adcb4667e58e448dec9b5a46c7f 32699363 main/binary-amd64/Packages
-----BEGIN PGP SIGNATURE-----
"""

PACKAGES = """Package: etcd-server
Version: 3.4.23-4+b4
Filename: pool/main/e/etcd/etcd-server_3.4.23-4+b4_amd64.deb
Size: 8438488
SHA256: 1111111111111111111111111111111111111111111111111111111111111111

Package: linux-modules-nvidia-550-6.1.0-28-amd64
Version: 550.127.08-1
Filename: ./pool/linux-modules-nvidia-550-6.1.0-28-amd64_550.127.08-1_amd64.deb

Package: linux-modules-nvidia-550-6.1.0-29-amd64
Version: 550.127.05-1
Filename: ./pool/linux-modules-nvidia-550-6.1.0-29-amd64_550.127.05-1_amd64.deb
"""


def test_release_hashes_reads_only_the_sha256_section():
    assert closure.release_hashes(IN_RELEASE) == {
        "main/i18n/Translation-en.xz": ("a07bf5b346e9b6e7304d662cc359c0c4a07bf5b346e9b6e7304d662cc359c0c4", 6107304),
        "main/binary-amd64/Packages": ("62f59c3cdca9786e4f7adf9002f9f5729a684adcb4667e58e448dec9b5a46c7f", 32699363),
    }


def test_packages_index_keys_by_filename_without_the_flat_repositorys_dot():
    index = closure.packages_index(PACKAGES)
    assert index["pool/main/e/etcd/etcd-server_3.4.23-4+b4_amd64.deb"]["SHA256"] == "1" * 64
    assert "pool/linux-modules-nvidia-550-6.1.0-28-amd64_550.127.08-1_amd64.deb" in index


def test_a_pattern_pin_becomes_the_packages_of_its_source_at_that_version_and_none_is_an_error():
    nv = "http://m/nvidia"
    index = closure.packages_index(PACKAGES)
    apt = [Artifact("apt", "linux-modules-nvidia-550-*", "550.127.08-1", None, nv),
           Artifact("apt", "etcd-server", "3.4.23*", None, nv), Artifact("apt", "curl", None, None, nv)]
    assert closure._pins(apt, [index], [nv]) == [
        "curl", "etcd-server=3.4.23*", "linux-modules-nvidia-550-6.1.0-28-amd64=550.127.08-1"]
    with pytest.raises(CheckFailed, match=r"apt linux-modules-nvidia-550-\* 550.127.09-1: no package of "):
        closure._pins([Artifact("apt", "linux-modules-nvidia-550-*", "550.127.09-1", None, nv)], [index], [nv])


def test_each_mirror_is_served_under_its_urls_path_and_one_without_a_path_is_refused():
    assert closure.served_path("http://172.31.213.1:18088/kubernetes/release/v1/kube-apiserver") == \
        "kubernetes/release/v1/kube-apiserver"
    assert closure.served_path("http://deb.debian.org/debian/") == "debian"
    with pytest.raises(ConfigError, match="a bundle serves each mirror under its URL's path"):
        closure.served_path("http://mirror.dc2.example:8080/")


def test_fetch_verified_names_a_wrong_hash_and_takes_a_cached_file_without_asking(tmp_path, monkeypatch):
    monkeypatch.setenv("PYCTL_CACHE_DIR", str(tmp_path))
    asked: list[str] = []

    def fetch(url: str, head: bool) -> bytes | None:
        asked.append(url)
        return b"body"

    good = hashlib.sha256(b"body").hexdigest()
    with pytest.raises(CheckFailed, match=re.escape(f"http://m/a.deb: sha256 {good}, expected {'0' * 64}")):
        closure.fetch_verified("http://m/a.deb", "0" * 64, None, fetch)
    with pytest.raises(CheckFailed, match=re.escape("http://m/a.deb: 4 bytes, the index says 5")):
        closure.fetch_verified("http://m/a.deb", good, 5, fetch)
    assert closure.fetch_verified("http://m/a.deb", good, 4, fetch) == b"body"
    asked.clear()
    assert closure.fetch_verified("http://m/a.deb", good, 4, fetch) == b"body"
    assert asked == []


def test_each_directory_of_binaries_gets_the_pinned_sha256sums_the_artifact_check_then_compares(
        tmp_path, monkeypatch):
    monkeypatch.setenv("PYCTL_CACHE_DIR", str(tmp_path / "cache"))
    base = "http://m:1/kubernetes/release/v1.31.4/bin/linux/amd64"
    bodies = {f"{base}/kube-scheduler": b"sched", f"{base}/kube-apiserver": b"api", "http://m:1/tools/pyctl": b"t"}
    items = [Artifact("binary", url.rsplit("/", 1)[1], "v1", hashlib.sha256(body).hexdigest(), url)
             for url, body in bodies.items()]
    fetched = closure.binaries(items, lambda url, head: bodies[url])
    sums = {f.path: f for f in fetched if f.kind == "index"}
    assert sorted(sums) == ["kubernetes/release/v1.31.4/bin/linux/amd64/SHA256SUMS", "tools/SHA256SUMS"]
    closure.place(fetched, tmp_path / "mirror")
    listed = (tmp_path / "mirror" / "kubernetes/release/v1.31.4/bin/linux/amd64/SHA256SUMS").read_text()
    assert listed == (f"{hashlib.sha256(b'api').hexdigest()}  kube-apiserver\n"
                      f"{hashlib.sha256(b'sched').hexdigest()}  kube-scheduler\n")  # sorted: byte-identical rebuilds

    def served(url: str, head: bool) -> bytes | None:  # the placed tree at the mirror's URLs
        path = tmp_path / "mirror" / closure.served_path(url)
        return (b"" if head else path.read_bytes()) if path.is_file() else None

    assert check(items, served) == []
    wrong = [Artifact("binary", "kube-apiserver", "v1", "e" * 64, f"{base}/kube-apiserver")]
    assert check(wrong, served) == [f"binary kube-apiserver v1: wrong sha256 on the mirror: SHA256SUMS has "
                                    f"{hashlib.sha256(b'api').hexdigest()}, pinned {'e' * 64}"]


def test_a_platform_whose_closure_cannot_be_resolved_is_refused_by_name():
    with pytest.raises(ConfigError, match="platform ubuntu-2204: pyctl cannot resolve its package closure here"):
        closure.resolve([], "img", "ubuntu-2204", {}, lambda url, head: None)
    with pytest.raises(ConfigError, match="platform ubuntu-2204 of dc2: its package closure cannot be resolved here"):
        build.resolver_image({"pyctl_bundle_resolver_images": {"ubuntu-2204": "img"}}, "ubuntu-2204", "dc2")
    with pytest.raises(ConfigError, match=r"set pyctl_bundle_resolver_images.debian-12 in inventories/dc9/group_vars"):
        build.resolver_image({}, "debian-12", "dc9")
    assert build.resolver_image({"pyctl_bundle_resolver_images": {"debian-12": "img"}}, "debian-12", "dc9") == "img"


def test_hosts_of_two_platforms_are_refused_naming_each():
    other = device("w2", ip="10.0.0.12/24")
    records = site(device("w1", ip="10.0.0.11/24"), DeviceRecord(**{**other.__dict__, "platform": "ubuntu-2204"}))
    with pytest.raises(ConfigError, match="must share one platform") as err:
        build.platform_of(inventory.build(records))
    assert err.value.problems == ["debian-12: w1", "ubuntu-2204: w2"]


def test_the_netbox_snapshot_reads_back_as_the_records_netbox_gave():
    bond = InterfaceRecord("bond0", 9000, type="lag", addresses=("10.0.0.11/24",),
                           members=(InterfaceRecord("ens1f0", 9000), InterfaceRecord("ens1f1", 9000)))
    vlan = InterfaceRecord("bond0.100", 9000, type="virtual", parent=bond)
    dev = DeviceRecord(name="w1", role="gpu-worker", device_type="hgx", rack="r01", platform="debian-12",
                       status="active", primary_ip4="10.0.0.11/24", custom_fields={"cluster": "c1", "mig_layout": None},
                       pod_interfaces=(bond, vlan), primary_ip6="2001:db8::11/64", id=7, gpu_capacity=8)
    records = SiteRecords(site="dc9", devices=(dev,), prefixes=(PrefixRecord("10.0.0.0/24", "node-network", None,
                                                                             "c1", "active", "dc9"),),
                          device_custom_fields=frozenset({"cluster", "mig_layout"}),
                          device_type_custom_fields=frozenset({"gpu_capacity"}))
    doc = json.loads(json.dumps(inventory.records_to_dict(records)))
    assert inventory.records_from_dict(doc) == records


def _records_bundle(tmp_path, keys, records, *, parts=None):
    from pyctl import digest
    from pyctl import site as site_mod
    from pyctl.bundle import manifest, sign

    root = tmp_path / "b"
    (root / "inputs").mkdir(parents=True)
    (root / "inputs" / "netbox-records.json").write_text(json.dumps(inventory.records_to_dict(records)))
    site = site_mod.load("dc9", inventory.build(records), site_mod.plan_settings("dc9", site_mod.SiteFlags()),
                         require_plan=False)
    want = digest.of_site(site).to_dict()
    want["parts"].update(parts or {})
    raw = manifest.render(manifest.document("dc9", want, manifest.scan(root), platform="debian-12"))
    (root / manifest.MANIFEST).write_bytes(raw)
    (root / manifest.SIGNATURE).write_bytes(sign.sign(raw, keys["ops"]))
    return root, site


def test_a_rollout_from_a_bundle_takes_its_snapshot_and_refuses_other_inputs_naming_each(tmp_path):
    from pyctl.bundle import inputs
    from pyctl.bundle.manifest import BundleError
    from pyctl.site import SiteFlags
    from tests.unit.test_bundle import _keygen

    _keygen(tmp_path / "ops", "ops@example.com")
    allowed = tmp_path / "allowed"
    allowed.write_text(f'ops@example.com namespaces="pyctl-bundle" {(tmp_path / "ops.pub").read_text()}')
    keys = {"ops": tmp_path / "ops"}
    records = site(device("w1", ip="10.0.1.11/24"), device("e1", "etcd", cluster="mgmt", ip="10.0.0.11/24"))
    bundle, live = _records_bundle(tmp_path, keys, records)
    got = inputs.load_site("dc9", bundle, allowed, SiteFlags(), require_plan=False)
    assert got.listing == live.listing
    assert got.hosts == ["e1", "w1"]
    other, _ = _records_bundle(tmp_path / "2", keys, records, parts={"roles": "0" * 64, "group_vars": "1" * 64})
    with pytest.raises(BundleError) as err:
        inputs.load_site("dc9", other, allowed, SiteFlags(), require_plan=False)
    assert err.value.message == (f"bundle mismatch: {other} was built from other inputs than this rollout would "
                                 "use: group_vars, roles")
    assert err.value.problems == [
        "group_vars: this checkout's inventories/dc9/group_vars differs from the bundle's",
        "roles: this checkout's roles, playbooks, plugins and ansible.cfg differs from the bundle's"]
    with pytest.raises(BundleError, match="is a bundle of dc9, not of dc2"):
        inputs.load_site("dc2", bundle, allowed, SiteFlags(), require_plan=False)
