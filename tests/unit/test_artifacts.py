"""`pyctl artifacts`: the bill of materials a DC's mirrors must hold, and the check against the mirrors
(issue 10: "exactly which packages, binaries and images must be in our mirror before a rollout?")."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pyctl import artifacts, config
from pyctl.artifacts import Artifact, bill_of_materials, check, resolve
from pyctl.cli import artifacts as artifacts_cli
from pyctl.errors import ConfigError
from pyctl.inventory import DEVICE_CUSTOM_FIELDS, DeviceRecord, InterfaceRecord, Inventory, SiteRecords, build

REPO = Path(__file__).resolve().parents[2]
NV = "http://mirror.dc9.example/nvidia"
K8S = "http://mirror.dc9.example/kubernetes/release"
DEBIAN = "http://mirror.dc9.example/debian"
SHA_API = "a" * 64
SHA_KCM = "b" * 64
SHA_SCHED = "c" * 64


def device(name: str, role: str = "gpu-worker", *, cluster: str = "c1", ip: str, **cf: Any) -> DeviceRecord:
    """A NetBox device record, as tests/unit/test_inventory.py builds them."""
    fields: dict[str, Any] = {"cluster": cluster}
    if role == "gpu-worker":
        fields.update({"gpu_model": "H100-80GB", "gpu_count": 8, "nvswitch": True, "mig_layout": None})
    fields.update(cf)
    return DeviceRecord(name=name, role=role, device_type="hgx-h100-8gpu", rack="r01", platform="debian-12",
                        status="active", primary_ip4=ip, custom_fields=fields,
                        pod_interfaces=(InterfaceRecord("ens1f0", 9000, addresses=(ip,)),))


def site(*devices: DeviceRecord) -> SiteRecords:
    return SiteRecords(site="dc9", devices=devices, prefixes=(), device_custom_fields=frozenset(DEVICE_CUSTOM_FIELDS))


def role_vars(**overrides: Any) -> dict[str, Any]:
    """The roles' real defaults and vars, with a DC's mirror settings (as inventories/<dc>/group_vars/all)."""
    return config.load_role_vars("no-such-dc", extra=[{
        "gpu_driver_mirror_url": NV + "/",
        "control_plane_artifact_mirror_url": K8S,
        "control_plane_artifact_checksums": {"v1.31.4": {
            "kube-apiserver": SHA_API, "kube-controller-manager": SHA_KCM, "kube-scheduler": SHA_SCHED}},
        "pyctl_os_mirror_url": DEBIAN,
        "pyctl_os_mirror_suite": "bookworm",
        **overrides,
    }])


def full_site(*, nvswitch: bool = True) -> Inventory:
    return build(site(
        device("w1", ip="10.0.1.11/24", nvswitch=nvswitch), device("w2", ip="10.0.1.12/24", nvswitch=nvswitch),
        device("e1", "etcd", cluster="mgmt", ip="10.0.0.11/24"),
        device("e2", "etcd", cluster="mgmt", ip="10.0.0.12/24"),
        device("e3", "etcd", cluster="mgmt", ip="10.0.0.13/24"),
        device("cp1", "control-plane", cluster="mgmt", ip="10.0.0.14/24"),
    ))


def by_name(items: list[Artifact]) -> dict[str, Artifact]:
    return {a.name: a for a in items}


# --- the list ---------------------------------------------------------------------------------------

def test_full_site_lists_nvidia_etcd_and_control_plane_items_with_pins_and_needers() -> None:
    items = by_name(bill_of_materials(full_site(), role_vars()))
    for name in ("nvidia-driver-550", "nvidia-utils-550", "libnvidia-compute-550", "nvidia-compute-utils-550",
                 "nvidia-fabricmanager-550"):
        assert (items[name].kind, items[name].version, items[name].mirror) == ("apt", "550.127.08-1", NV)
        assert items[name].needed_by == ["gpu_driver/c1"]
    assert items["nvidia-container-toolkit"].version == "1.17.4-1"
    assert items["nvidia-mig-manager"].version == "0.10.0-1"
    # The running kernel is a fact of each host: without pyctl_kernel_releases, modules for some kernel.
    assert items["linux-modules-nvidia-550-*"].version == "550.127.08-1"
    assert (items["etcd-server"].version, items["etcd-client"].version) == ("3.4.23*", "3.4.23*")
    assert items["etcd-server"].mirror == f"{DEBIAN} bookworm main"
    assert items["etcd-server"].needed_by == ["etcd/mgmt"]
    api = items["kube-apiserver"]
    assert (api.kind, api.version, api.sha256) == ("binary", "v1.31.4", SHA_API)
    assert api.mirror == f"{K8S}/v1.31.4/bin/linux/amd64/kube-apiserver"
    assert api.needed_by == ["control_plane/mgmt"]
    assert items["kube-scheduler"].sha256 == SHA_SCHED
    assert items["initramfs-tools"].version is None  # OS packages the role installs unpinned
    assert not [a for a in items.values() if a.kind == "image"]  # no role pulls images yet


def test_a_change_of_driver_branch_changes_the_list() -> None:
    before = {(a.name, a.version) for a in bill_of_materials(full_site(), role_vars())}
    after = {(a.name, a.version) for a in bill_of_materials(
        full_site(), role_vars(gpu_driver_branch="535", gpu_driver_version="535.216.01-1"))}
    assert ("nvidia-driver-535", "535.216.01-1") in after
    assert ("nvidia-driver-550", "550.127.08-1") not in after
    # Fabric Manager follows the driver ({{ gpu_driver_version }} resolved), its name the branch.
    assert ("nvidia-fabricmanager-535", "535.216.01-1") in after
    assert ("linux-modules-nvidia-535-*", "535.216.01-1") in after
    assert before - after
    assert after - before
    assert ("etcd-server", "3.4.23*") in after  # the rest is untouched


def test_a_change_of_etcd_version_changes_the_list() -> None:
    items = by_name(bill_of_materials(full_site(), role_vars(etcd_version="3.5.16")))
    assert (items["etcd-server"].version, items["etcd-client"].version) == ("3.5.16*", "3.5.16*")


def test_fabric_manager_only_with_nvswitch() -> None:
    assert "nvidia-fabricmanager-550" not in by_name(bill_of_materials(full_site(nvswitch=False), role_vars()))
    mixed = build(site(device("w1", ip="10.0.1.11/24", nvswitch=False),
                       device("p1", cluster="pcie", ip="10.0.2.11/24", gpu_model="A100-40GB", nvswitch=False),
                       device("h1", cluster="hgx", ip="10.0.3.11/24", nvswitch=True)))
    items = by_name(bill_of_materials(mixed, role_vars()))
    assert items["nvidia-fabricmanager-550"].needed_by == ["gpu_driver/hgx"]
    assert items["nvidia-driver-550"].needed_by == ["gpu_driver/c1", "gpu_driver/hgx", "gpu_driver/pcie"]


def test_mig_manager_on_every_gpu_host_as_the_role_installs_it() -> None:
    # roles/gpu_driver installs and holds nvidia-mig-manager on every GPU host (to switch MIG off as well).
    items = by_name(bill_of_materials(full_site(), role_vars()))
    assert items["nvidia-mig-manager"].needed_by == ["gpu_driver/c1"]
    assert '"nvidia-mig-manager"' in (REPO / "roles/gpu_driver/vars/main.yml").read_text().replace("'", '"')
    assert '"nvidia-container-toolkit"' in (REPO / "roles/gpu_driver/vars/main.yml").read_text().replace("'", '"')


def test_only_what_the_inventory_needs() -> None:
    workers_only = build(site(device("w1", ip="10.0.1.11/24")))
    names = {a.name for a in bill_of_materials(workers_only, role_vars())}
    assert "nvidia-driver-550" in names
    assert not names & {"etcd-server", "kube-apiserver", "python3-cryptography"}
    mgmt_only = build(site(device("e1", "etcd", cluster="m", ip="10.0.0.11/24"),
                           device("e2", "etcd", cluster="m", ip="10.0.0.12/24"),
                           device("e3", "etcd", cluster="m", ip="10.0.0.13/24")))
    names = {a.name for a in bill_of_materials(mgmt_only, role_vars())}
    assert names == {"etcd-server", "etcd-client"}


def test_kernel_releases_name_the_module_packages() -> None:
    items = by_name(bill_of_materials(full_site(), role_vars(pyctl_kernel_releases=["6.1.0-28-amd64",
                                                                                      "6.1.0-31-amd64"])))
    assert "linux-modules-nvidia-550-6.1.0-28-amd64" in items
    assert "linux-modules-nvidia-550-6.1.0-31-amd64" in items
    assert "linux-modules-nvidia-550-*" not in items
    one = by_name(bill_of_materials(full_site(), role_vars(gpu_driver_kernel_release="6.12.9-amd64")))
    assert "linux-modules-nvidia-550-6.12.9-amd64" in one


def test_cluster_vars_from_the_plan_apply_per_cluster() -> None:
    two = build(site(device("w1", ip="10.0.1.11/24"), device("h1", cluster="hgx", ip="10.0.3.11/24")))
    items = bill_of_materials(two, role_vars(), {"cluster_hgx": {"gpu_driver_version": "550.127.05-1"}})
    drivers = {(a.version, tuple(a.needed_by)) for a in items if a.name == "nvidia-driver-550"}
    assert drivers == {("550.127.08-1", ("gpu_driver/c1",)), ("550.127.05-1", ("gpu_driver/hgx",))}


def test_unset_mirrors_are_listed_and_named_missing() -> None:
    rv = config.load_role_vars("no-such-dc")
    items = bill_of_materials(full_site(), rv)
    driver = by_name(items)["nvidia-driver-550"]
    assert driver.mirror == "unset:gpu_driver_mirror_url"
    missing = check(items, lambda url, head: pytest.fail(f"fetched {url}"))
    assert any("nvidia-driver-550 550.127.08-1: no mirror named for it (set gpu_driver_mirror_url" in m
               for m in missing)
    assert any("kube-apiserver" in m and "control_plane_artifact_mirror_url" in m for m in missing)
    assert any("etcd-server" in m and "pyctl_os_mirror_url" in m for m in missing)


def test_unresolvable_jinja_is_named_not_guessed() -> None:
    with pytest.raises(ConfigError) as err:
        bill_of_materials(full_site(), role_vars(gpu_driver_version="{{ lookup('env', 'V') }}"))
    assert any("gpu_driver_version" in p for p in err.value.problems)


def test_resolver_knows_only_plain_variables() -> None:
    v = {"a": "1", "b": "{{ a }}", "c": ["x-{{ b }}", "{{ n }}"], "n": 5}
    assert resolve("{{ b }}", v) == "1"
    assert resolve("{{ n }}", v) == 5
    assert resolve(v["c"], v) == ["x-1", 5]
    for bad in ("{{ a | default('x') }}", "{{ missing }}", "{% if a %}x{% endif %}"):
        with pytest.raises(artifacts.ResolveError):
            resolve(bad, v)
    with pytest.raises(artifacts.ResolveError):
        resolve("{{ x }}", {"x": "{{ x }}"})


def test_lab_mirror_pins_match_the_standin_binaries() -> None:
    doc = yaml.safe_load((REPO / "inventories/lab/group_vars/all/mirror.yml").read_text())
    pins = doc["control_plane_artifact_checksums"]["v1.31.4"]
    fixtures = REPO / "tests/fixtures/kube-apiserver-standin"
    assert pins["kube-apiserver"] == hashlib.sha256((fixtures / "kube-apiserver").read_bytes()).hexdigest()
    standin = hashlib.sha256((fixtures / "kube-component-standin").read_bytes()).hexdigest()
    assert pins["kube-controller-manager"] == pins["kube-scheduler"] == standin


# --- the check ---------------------------------------------------------------------------------------

def stanza(name: str, version: str) -> str:
    return f"Package: {name}\nVersion: {version}\nArchitecture: amd64\nDescription: x\n continuation: line\n"


def fake_mirror(items: list[Artifact], *, drop: frozenset[str] = frozenset(), sums: dict[str, str] | None = None,
                flat_gz: bool = False) -> tuple[dict[str, bytes], list[tuple[str, bool]]]:
    """A mirror that holds every item (less ``drop``), as URL -> body."""
    files: dict[str, bytes] = {}
    flat = [stanza(a.name.replace("*", "6.1.0-28-amd64"), a.version or "1.0-1")
            for a in items if a.kind == "apt" and a.mirror == NV and a.name not in drop]
    flat.append(stanza("nvidia-driver-550", "550.127.05-1"))  # an older pin the mirror also has
    index = "\n".join(flat).encode()
    if flat_gz:
        files[f"{NV}/Packages.gz"] = gzip.compress(index)
    else:
        files[f"{NV}/Packages"] = index
    debian = [stanza(a.name, (a.version or "1.0-1").replace("*", "-4+b6")) for a in items
              if a.kind == "apt" and a.mirror.startswith(DEBIAN) and a.name not in drop]
    files[f"{DEBIAN}/dists/bookworm/main/binary-amd64/Packages.gz"] = gzip.compress("\n".join(debian).encode())
    bindir = f"{K8S}/v1.31.4/bin/linux/amd64"
    listed = {a.name: a.sha256 or "" for a in items if a.kind == "binary" and a.name not in drop}
    for name in listed:
        files[f"{bindir}/{name}"] = b"binary"
    listed.update(sums or {})
    files[f"{bindir}/SHA256SUMS"] = "".join(f"{h}  {n}\n" for n, h in listed.items()).encode()
    return files, []


def fetcher(files: dict[str, bytes], calls: list[tuple[str, bool]]) -> artifacts.Fetch:
    def fetch(url: str, head: bool) -> bytes | None:
        calls.append((url, head))
        body = files.get(url)
        return None if body is None else (b"" if head else body)

    return fetch


def test_check_passes_when_the_mirror_has_everything() -> None:
    items = bill_of_materials(full_site(), role_vars())
    files, calls = fake_mirror(items)
    assert check(items, fetcher(files, calls)) == []
    # One index per source, one SHA256SUMS per directory, a HEAD per binary.
    assert sum(1 for u, _ in calls if u.endswith("SHA256SUMS")) == 1
    assert sorted(u.rsplit("/", 1)[1] for u, head in calls if head) == [
        "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    # The Debian mirror is read in its dists/ layout (.xz tried first, .gz found).
    assert (f"{DEBIAN}/dists/bookworm/main/binary-amd64/Packages.xz", False) in calls


def test_check_names_a_missing_package() -> None:
    items = bill_of_materials(full_site(), role_vars())
    files, calls = fake_mirror(items, drop=frozenset({"nvidia-fabricmanager-550", "etcd-server"}), flat_gz=True)
    missing = check(items, fetcher(files, calls))
    assert sorted(missing) == ["apt etcd-server 3.4.23*: not in the index",
                               "apt nvidia-fabricmanager-550 550.127.08-1: not in the index"]


def test_check_names_a_wrong_version() -> None:
    items = bill_of_materials(full_site(), role_vars(gpu_driver_version="550.127.05-1"))
    files, calls = fake_mirror(bill_of_materials(full_site(), role_vars()))
    missing = check(items, fetcher(files, calls))
    assert "apt nvidia-utils-550 550.127.05-1: version not in the index (it has: 550.127.08-1)" in missing
    assert not any(m.startswith("apt nvidia-driver-550 ") for m in missing)  # the mirror has both


def test_check_names_a_wrong_sha256_and_a_missing_binary() -> None:
    items = bill_of_materials(full_site(), role_vars())
    files, calls = fake_mirror(items, drop=frozenset({"kube-scheduler"}), sums={"kube-apiserver": "d" * 64})
    missing = check(items, fetcher(files, calls))
    assert missing == [
        f"binary kube-apiserver v1.31.4: wrong sha256 on the mirror: SHA256SUMS has {'d' * 64}, pinned {SHA_API}",
        f"binary kube-scheduler v1.31.4: not on the mirror ({K8S}/v1.31.4/bin/linux/amd64/kube-scheduler)",
    ]


def test_check_binary_without_pin_or_without_sha256sums() -> None:
    items = bill_of_materials(full_site(), role_vars(control_plane_artifact_checksums={}))
    files, calls = fake_mirror(items)
    missing = check([a for a in items if a.kind == "binary"], fetcher(files, calls))
    assert len(missing) == 3
    assert all("no sha256 pinned" in m for m in missing)
    items = [a for a in bill_of_materials(full_site(), role_vars()) if a.kind == "binary"]
    files, calls = fake_mirror(items)
    del files[f"{K8S}/v1.31.4/bin/linux/amd64/SHA256SUMS"]
    assert check(items, fetcher(files, calls)) == []  # HEAD is all such a mirror can tell


def test_check_module_pattern_needs_one_kernel_at_the_driver_version() -> None:
    art = Artifact("apt", "linux-modules-nvidia-550-*", "550.127.08-1", None, NV, ["gpu_driver/c1"])
    index = stanza("linux-modules-nvidia-550-6.1.0-28-amd64", "550.127.05-1").encode()
    missing = check([art], fetcher({f"{NV}/Packages": index}, []))
    assert missing == ["apt linux-modules-nvidia-550-* 550.127.08-1: no package matching it at that version "
                       "(matching: linux-modules-nvidia-550-6.1.0-28-amd64)"]


def test_unreachable_mirror_names_each_item() -> None:
    items = [a for a in bill_of_materials(full_site(), role_vars()) if a.mirror == NV]

    def down(url: str, head: bool) -> bytes | None:
        raise OSError("Connection refused")

    missing = check(items, down)
    assert len(missing) == len(items)
    assert all("Connection refused" in m for m in missing)
    assert check(items, lambda url, head: None)[0].endswith(f"no package index at {NV}/ (Packages, .gz, .xz)")


def test_image_items_are_checked_on_the_registry() -> None:
    art = Artifact("image", "calico/node", "v3.29.1", None, "registry.dc9.example/calico/node:v3.29.1", [])
    calls: list[tuple[str, bool]] = []
    assert check([art], fetcher({}, calls)) == ["image registry.dc9.example/calico/node:v3.29.1: not in the registry"]
    assert calls == [("https://registry.dc9.example/v2/calico/node/manifests/v3.29.1", True)]


def test_parsers() -> None:
    assert artifacts.apt_index_packages(stanza("a", "1") + "\n" + stanza("a", "2") + "\nPackage: b\n") == {
        "a": ["1", "2"]}
    assert artifacts.parse_sha256sums(f"{'A' * 64}  x\n{'b' * 64} *y\nnot a line\n") == {"x": "a" * 64, "y": "b" * 64}


def test_http_fetch_reads_file_urls(tmp_path: Path) -> None:
    (tmp_path / "Packages").write_text(stanza("a", "1"))
    fetch = artifacts.http_fetch()
    assert fetch(f"file://{tmp_path}/Packages", False) == stanza("a", "1").encode()
    assert fetch(f"file://{tmp_path}/Packages", True) == b""
    assert fetch(f"file://{tmp_path}/nope", False) is None
    with pytest.raises(OSError, match="unsupported"):
        fetch("ftp://x/y", True)


# --- the command ---------------------------------------------------------------------------------------

def run_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str,
            drop: frozenset[str] = frozenset()) -> tuple[int, str, str]:
    overlay = tmp_path / "vars.yml"
    overlay.write_text(yaml.safe_dump({
        "gpu_driver_mirror_url": NV, "control_plane_artifact_mirror_url": K8S, "pyctl_os_mirror_url": DEBIAN,
        "control_plane_artifact_checksums": {"v1.31.4": {
            "kube-apiserver": SHA_API, "kube-controller-manager": SHA_KCM, "kube-scheduler": SHA_SCHED}}}))
    parser = argparse.ArgumentParser()
    artifacts_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["artifacts", "lab", "--vars", str(overlay), *extra])
    items = bill_of_materials(full_site(), role_vars())
    files, calls = fake_mirror(items, drop=drop)
    code = artifacts_cli.run(args, lambda a: full_site(), fetcher(files, calls))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_table_json_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(tmp_path, capsys)
    assert code == 0
    assert "nvidia-driver-550" in out
    assert f"sha256:{SHA_API}" in out
    code, out, err = run_cli(tmp_path, capsys, "--check", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["ok"] is True
    assert doc["missing"] == []
    assert {a["name"] for a in doc["artifacts"]} >= {"etcd-server", "kube-apiserver", "nvidia-mig-manager"}
    code, out, err = run_cli(tmp_path, capsys, "--check", drop=frozenset({"nvidia-utils-550"}))
    assert code == 2
    assert "apt nvidia-utils-550 550.127.08-1: not in the index" in err
    assert "1 of " in err


def test_cli_bad_vars_file_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    artifacts_cli.add_parser(parser.add_subparsers(dest="command"))
    bad = tmp_path / "bad.yml"
    bad.write_text("- a list\n")
    args = parser.parse_args(["artifacts", "lab", "--vars", str(bad)])
    with pytest.raises(ConfigError, match=r"--vars .*bad.yml: expected a mapping at the top level") as exc:
        artifacts_cli.run(args, lambda a: full_site())
    assert exc.value.exit_code == 3
