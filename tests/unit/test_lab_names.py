"""Labs side by side: each lab's names, addresses and labels, and that up/down touch only its own hosts."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from pyctl.dev import lab, lab_names
from pyctl.dev.lab_names import LABEL, NAME_ENV, OWNER_LABEL, POD_SUBNET, SUBNET
from pyctl.errors import ExitCode

OWNER = "/work/checkout-a"


def container(name: str, labels: dict[str, str] | None, state: str = "running") -> dict[str, Any]:
    return {"Names": [name], "Labels": labels, "State": state}


def made_by(which: lab_names.Lab, owner: str = OWNER, **extra: str) -> dict[str, str]:
    return {**which.labels(owner), **extra}


def test_the_demo_lab_keeps_its_names_addresses_and_macs() -> None:
    demo = lab_names.lab(env={})
    assert demo.name == "lab"
    assert demo.host(1) == lab_names.LabHost("pyctl-lab-01", "172.31.213.11", "02:00:ac:1f:d5:0b",
                                             pod_ip="172.31.214.11", pod_mac="02:00:ac:1f:d6:0b")
    assert demo.host(6).name == "pyctl-lab-06"


def test_the_test_lab_has_its_own_names_and_addresses() -> None:
    test = lab_names.lab(env={NAME_ENV: "test"})
    assert test.host(1) == lab_names.LabHost("pyctl-test-01", "172.31.213.131", "02:00:ac:1f:d5:83",
                                             pod_ip="172.31.214.131", pod_mac="02:00:ac:1f:d6:83")


def test_no_two_hosts_of_any_labs_share_a_name_address_or_mac() -> None:
    hosts = [which.host(i) for which in map(lab_names.lab, lab_names.BLOCKS)
             for i in range(1, which.max_hosts + 1)]
    for field in ("name", "ip", "mac", "pod_ip", "pod_mac"):
        values = [getattr(h, field) for h in hosts]
        assert len(set(values)) == len(values), field
    # Inside the subnets, never their network, gateway or broadcast address.
    reserved = {SUBNET.network_address, lab_names.GATEWAY, SUBNET.broadcast_address}
    assert all(ipaddress.IPv4Address(h.ip) in SUBNET for h in hosts)
    assert not {ipaddress.IPv4Address(h.ip) for h in hosts} & reserved
    assert all(ipaddress.IPv4Address(h.pod_ip) in POD_SUBNET for h in hosts)


def test_the_name_comes_from_the_argument_then_the_environment_then_the_default() -> None:
    assert lab_names.lab("test", {NAME_ENV: "lab"}).name == "test"
    assert lab_names.lab(None, {NAME_ENV: "test"}).name == "test"
    assert lab_names.lab(None, {}).name == "lab"


@pytest.mark.parametrize("name", ["demo", "Test", "lab-2", "x" * 13])
def test_an_unknown_lab_name_is_bad_configuration_naming_the_known_ones(name: str) -> None:
    with pytest.raises(lab_names.LabNameError) as caught:
        lab_names.lab(name)
    assert caught.value.exit_code is ExitCode.BAD_CONFIG
    assert repr(name) in caught.value.message
    assert "one of lab, test" in caught.value.message


def test_a_host_index_outside_the_labs_block_is_refused() -> None:
    test = lab_names.lab("test")
    with pytest.raises(lab_names.LabNameError, match=r"out of range 1\.\.120"):
        test.host(test.max_hosts + 1)


@pytest.mark.parametrize(("host_name", "index"), [
    ("pyctl-test-01", 1), ("pyctl-test-120", 120), ("pyctl-lab-01", None), ("pyctl-test-1", None),
    ("pyctl-test-121", None), ("pyctl-test-xx", None), ("pyctl-test-", None), ("gpu-driver-hgx-1", None),
])
def test_a_lab_knows_only_its_own_host_names(host_name: str, index: int | None) -> None:
    assert lab_names.lab("test").index_of(host_name) == index


def test_a_lab_sorts_out_its_own_hosts_and_leaves_every_other_container_alone() -> None:
    demo, test = lab_names.lab("lab"), lab_names.lab("test")
    found = lab_names.sort_containers([
        container("pyctl-lab-01", made_by(demo)),  # the demo lab, left up
        container("pyctl-test-01", made_by(test)),
        container("pyctl-test-02", made_by(test, **{f"{LABEL}.net": "3"})),
        container("pyctl-test-03", made_by(test, owner="/work/checkout-b")),  # another checkout's test lab
        container("pyctl-test-04", None),  # made by hand
        container("pyctl-test-05", {LABEL: "1"}),  # an older pyctl's, no owner
        container("gpu-driver-hgx-1", {}),  # a Molecule instance
    ], test, OWNER)
    assert test.labels(OWNER) == {LABEL: "test", OWNER_LABEL: OWNER}
    assert [c["Names"][0] for c in found.ours] == ["pyctl-test-01", "pyctl-test-02"]
    assert [c["Names"][0] for c in found.foreign] == ["pyctl-test-03", "pyctl-test-04", "pyctl-test-05"]


def test_the_refusal_says_whose_the_hosts_are_and_how_to_free_the_names() -> None:
    test = lab_names.lab("test")
    message = lab_names.describe_foreign([container("pyctl-test-03", made_by(test, owner="/work/checkout-b")),
                                          container("pyctl-test-05", {LABEL: "1"})], test, OWNER)
    assert "pyctl-test-03 (lab 'test' of /work/checkout-b)" in message
    assert "pyctl-test-05 (lab label '1', no owner (made by an older pyctl))" in message
    assert "podman rm -f pyctl-test-03 pyctl-test-05" in message
    assert NAME_ENV in message


# --- pyctl.dev.lab over a fake podman ------------------------------------------------------------------


class FakePodman:
    """What `podman` is asked, and the containers `ps` answers with (filtered as podman filters them)."""

    def __init__(self, containers: list[dict[str, Any]], networks: dict[str, list[str]]) -> None:
        self.containers = containers
        self.networks = networks  # network name -> the containers on it
        self.calls: list[tuple[str, ...]] = []

    def ps(self, *filters: str) -> list[dict[str, Any]]:
        found = self.containers
        for f in filters:
            key, _, value = f.partition("=")
            if key == "label":
                found = [c for c in found if value in (c.get("Labels") or {})]
            elif key == "network":
                found = [c for c in found if c["Names"][0] in self.networks.get(value, [])]
        return found

    def run(self, *args: str, **_: Any) -> Any:
        self.calls.append(args)
        if args[:2] == ("network", "ls"):
            return type("Proc", (), {"stdout": "\n".join(self.networks)})()
        return type("Proc", (), {"stdout": ""})()


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakePodman:
    podman = FakePodman([], {})
    monkeypatch.setattr(lab, "REPO", Path(OWNER))
    monkeypatch.setattr(lab, "STATE_DIR", tmp_path / "state")
    monkeypatch.setattr(lab, "KNOWN_HOSTS_FILE", tmp_path / "state" / "known_hosts")
    monkeypatch.setattr(lab, "LOCK_FILE", tmp_path / "lab.lock")
    monkeypatch.setattr(lab, "_containers", podman.ps)
    monkeypatch.setattr(lab, "_podman", podman.run)
    return podman


def test_up_refuses_names_another_checkout_holds_before_it_changes_anything(
        fake: FakePodman, monkeypatch: pytest.MonkeyPatch) -> None:
    test = lab_names.lab("test")
    fake.containers = [container("pyctl-test-02", made_by(test, owner="/work/checkout-b"))]
    monkeypatch.setattr(lab, "ensure_image", lambda: pytest.fail("built the image before refusing"))
    with pytest.raises(lab.LabError, match=r"pyctl-test-02 \(lab 'test' of /work/checkout-b\)"):
        lab.up(3, test)
    assert fake.calls == []


def test_down_removes_only_this_labs_own_hosts_and_keeps_the_networks_others_use(fake: FakePodman) -> None:
    demo, test = lab_names.lab("lab"), lab_names.lab("test")
    fake.containers = [container("pyctl-lab-01", made_by(demo)), container("pyctl-test-01", made_by(test)),
                       container("pyctl-test-02", made_by(test)),
                       container("pyctl-test-03", made_by(test, owner="/work/checkout-b"))]
    fake.networks = {lab.NETWORK: ["pyctl-lab-01", "pyctl-test-03"], lab.POD_NETWORK: ["pyctl-lab-01"]}
    assert lab.down(test) == ["pyctl-test-01", "pyctl-test-02"]
    assert [c for c in fake.calls if c[0] == "rm"] == [("rm", "-f", "-t", "0", "pyctl-test-01", "pyctl-test-02")]
    assert not [c for c in fake.calls if c[:2] == ("network", "rm")]


def test_the_last_lab_down_removes_the_networks(fake: FakePodman) -> None:
    fake.containers = [container("pyctl-lab-01", made_by(lab_names.lab("lab")))]
    fake.networks = {lab.NETWORK: [], lab.POD_NETWORK: []}
    assert lab.down(lab_names.lab("lab")) == ["pyctl-lab-01"]
    assert [c for c in fake.calls if c[:2] == ("network", "rm")] == [("network", "rm", lab.NETWORK),
                                                                      ("network", "rm", lab.POD_NETWORK)]


def test_known_hosts_holds_every_running_labs_keys_until_its_own_down(fake: FakePodman) -> None:
    demo, test = lab_names.lab("lab"), lab_names.lab("test")
    lab._write_known_hosts(demo, ["172.31.213.11,pyctl-lab-01 ssh-ed25519 AAAA1"])
    lab._write_known_hosts(test, ["172.31.213.131,pyctl-test-01 ssh-ed25519 AAAA2"])
    assert lab.KNOWN_HOSTS_FILE.read_text().splitlines() == [
        "172.31.213.11,pyctl-lab-01 ssh-ed25519 AAAA1", "172.31.213.131,pyctl-test-01 ssh-ed25519 AAAA2"]
    lab.down(test)
    assert lab.KNOWN_HOSTS_FILE.read_text().splitlines() == ["172.31.213.11,pyctl-lab-01 ssh-ed25519 AAAA1"]
    lab.down(demo)
    assert not lab.KNOWN_HOSTS_FILE.exists()
