"""`pyctl smoke` on the lab: real hosts over SSH (host keys verified), a lowered MTU, a GPU count that
differs from NetBox (a fake nvidia-smi), a stopped host, a changed host key.

The bare lab has no etcd, apiserver or GPU driver until those roles run, so these tests select the
checks that apply to a bare host with --check (ssh always runs).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyctl.dev import lab
from pyctl.smoke.pool import ConnectError, SSHSettings, connect
from tests.integration.conftest import REPO, NetBoxBed, Result

pytestmark = [pytest.mark.lab, pytest.mark.netbox]

BARE = ("--check", "time-sync", "--check", "nic-mtu", "--check", "path-mtu")
FAKE_NVIDIA_SMI = """#!/bin/sh
# Test stand-in (tests/integration/lab/test_smoke_lab.py): a board with 7 H100s where NetBox says 8.
i=0
while [ $i -lt 7 ]; do
  echo "$i, NVIDIA H100 80GB HBM3, GPU-0000000$i-0000-0000-0000-000000000000, 550.127.08, Enabled, 0, Disabled"
  i=$((i + 1))
done
"""


def smoke(env: dict[str, str], *args: str) -> Result:
    proc = subprocess.run([sys.executable, "-m", "pyctl", "smoke", "lab", "--json", *args], env=env, cwd=REPO,
                          text=True, capture_output=True, timeout=300, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def podman(*args: str, input_text: str | None = None) -> None:
    subprocess.run(["podman", *args], input=input_text, text=True, capture_output=True, check=True, timeout=60)


@pytest.fixture
def env(registered: list[lab.LabHost], netbox_bed: NetBoxBed, tmp_path: Path) -> dict[str, str]:
    return netbox_bed.env(PYCTL_RUNS_DIR=str(tmp_path / "runs"))


def failures(result: Result) -> dict[tuple[str, str], str]:
    return {(f["host"], f["check"]): f["detail"] for f in result.json()["failures"]}


def test_bare_lab_passes_the_checks_that_apply(env: dict[str, str], registered: list[lab.LabHost]) -> None:
    result = smoke(env, *BARE)
    assert result.code == 0, result.stdout + result.stderr
    doc = result.json()
    assert {h["name"] for h in doc["hosts"]} == {h.name for h in registered}
    assert all(o["status"] in ("pass", "skip") for h in doc["hosts"] for o in h["checks"])
    assert sum(o["status"] == "pass" and o["check"] == "path-mtu" for h in doc["hosts"] for o in h["checks"]) >= 3
    run_dir = Path(doc["run_dir"])
    assert (run_dir / "report.json").is_file()
    assert (run_dir / "report.html").is_file()
    assert f"HTML report: {run_dir / 'report.html'}" in result.stderr


@pytest.fixture
def lowered_mtu(registered: list[lab.LabHost]) -> Iterator[lab.LabHost]:
    target = registered[1]
    podman("exec", target.name, "ip", "link", "set", lab.POD_NIC, "mtu", "1400")  # the pod-traffic NIC
    try:
        yield target
    finally:
        podman("exec", target.name, "ip", "link", "set", lab.POD_NIC, "mtu", "1500")


def test_lowered_mtu_fails_naming_both_numbers(env: dict[str, str], lowered_mtu: lab.LabHost) -> None:
    result = smoke(env, *BARE)
    assert result.code == 2, result.stderr
    found = failures(result)
    assert "1400" in found[(lowered_mtu.name, "nic-mtu")]
    assert "1500" in found[(lowered_mtu.name, "nic-mtu")]
    assert (lowered_mtu.name, "path-mtu") in found
    assert any(h != lowered_mtu.name and c == "path-mtu" and lowered_mtu.name in d for (h, c), d in found.items())


@pytest.fixture
def fake_gpu(registered: list[lab.LabHost]) -> Iterator[lab.LabHost]:
    target = registered[-1]  # with 5 hosts, the 5th is the lab's GPU worker (8× H100 in NetBox)
    install = "cat > /usr/local/bin/nvidia-smi && chmod 0755 /usr/local/bin/nvidia-smi"
    podman("exec", "-i", target.name, "sh", "-c", install, input_text=FAKE_NVIDIA_SMI)
    try:
        yield target
    finally:
        podman("exec", target.name, "rm", "-f", "/usr/local/bin/nvidia-smi")


def test_gpu_count_differs_from_netbox(env: dict[str, str], fake_gpu: lab.LabHost) -> None:
    result = smoke(env, "--check", "gpu-count", "--check", "gpu-model")
    assert result.code == 2, result.stderr
    found = failures(result)
    assert found[(fake_gpu.name, "gpu-count")] == "host has 7 GPUs, NetBox says 8"
    assert (fake_gpu.name, "gpu-model") not in found


def test_changed_host_key_is_refused(registered: list[lab.LabHost], tmp_path: Path) -> None:
    a, b = registered[0], registered[1]
    lines = [ln for ln in lab.KNOWN_HOSTS_FILE.read_text().splitlines() if ln.split(" ", 1)[0].split(",")[0] == b.ip]
    swapped = tmp_path / "known_hosts"
    swapped.write_text("\n".join(ln.replace(f"{b.ip},{b.name}", a.ip, 1) for ln in lines) + "\n")
    with pytest.raises(ConnectError) as exc:
        connect(a.ip, SSHSettings("root", lab.KEY_FILE, swapped, connect_timeout=5))
    assert exc.value.kind == "host-key"
    assert "CHANGED" in exc.value.message
    (tmp_path / "empty").write_text("")
    with pytest.raises(ConnectError) as exc:
        connect(a.ip, SSHSettings("root", lab.KEY_FILE, tmp_path / "empty", connect_timeout=5))
    assert exc.value.kind == "host-key"
    assert "not in" in exc.value.message


def test_stopped_host_is_unreachable_exit_4(env: dict[str, str], registered: list[lab.LabHost]) -> None:
    target = registered[-1]
    podman("stop", "-t", "0", target.name)
    try:
        result = smoke(env, *BARE, "--timeout", "3")
        assert result.code == 4, result.stdout + result.stderr
        doc = result.json()
        assert doc["unreachable"] == [target.name]
    finally:
        podman("start", target.name)
        lab.wait_for_ssh([target])
