"""The whole chain on the lab: `pyctl rollout lab` through every phase (artifact check, preflight, gpu,
etcd, control_plane, calico, smoke) as an air-gapped high side runs it — from a signed bundle, served by
`pyctl mirror serve` in place of the lab mirror, to hosts with no way out — then what on-call does with
a converged data center: drift against the bundle is clean and names a hand-changed package; smoke
catches a stopped etcd member and a GPU count that differs from NetBox; drift finds exactly a
hand-edited file and a stopped service on two hosts, reapply touches only those two, and then drift
finds everything in sync, three times in a row (no false positives).

The lab's GPUs are the hardware stand-in (/etc/nvidia-standin/gpus.json, written from NetBox by
`pyctl dev lab up`); everything else is real: NetBox, SSH, Ansible, etcd, systemd.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyctl.dev import lab, mirror
from tests.integration.conftest import REPO, NetBoxBed, Result

pytestmark = [pytest.mark.lab, pytest.mark.netbox]


def pyctl(env: dict[str, str], *args: str, timeout: float = 900) -> Result:
    proc = subprocess.run([sys.executable, "-m", "pyctl", *args], env=env, cwd=REPO, text=True,
                          capture_output=True, timeout=timeout, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def podman(*args: str, input_text: str | None = None) -> str:
    return subprocess.run(["podman", *args], input=input_text, text=True, capture_output=True, check=True,
                          timeout=120).stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def env(registered: list[lab.LabHost], netbox_bed: NetBoxBed, runs: Path) -> dict[str, str]:
    return netbox_bed.env(PYCTL_RUNS_DIR=str(runs))


@pytest.fixture(scope="module")
def bundle(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """The lab's bundle, built while the lab mirror serves (the low side), then served in the lab mirror's
    place at the same URLs (the high side) for the whole module; the lab mirror is back afterwards."""
    keys = tmp_path_factory.mktemp("bundle-keys")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@lab", "-f", str(keys / "ops")],
                   check=True)
    allowed = keys / "allowed_signers"
    allowed.write_text(f'ops@lab namespaces="pyctl-bundle" {(keys / "ops.pub").read_text()}')
    built = pyctl(env, "bundle", "build", "lab", "--key", str(keys / "ops"), "--out", str(keys / "out"), "--json")
    assert built.code == 0, built.stderr
    tarball = Path(built.json()["tarball"])
    log = keys / "serve.log"
    mirror.down("lab")
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "pyctl", "mirror", "serve", str(tarball), "--allowed-signers",
                                   str(allowed), "--bind", "127.0.0.1", "--bind", mirror.LAB_GATEWAY], cwd=REPO,
                                  env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while "files at" not in log.read_text():
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield {"tarball": tarball, "allowed": allowed, "log": log}
    finally:
        server.terminate()
        server.wait(15)
        mirror.up("lab")


def from_bundle(bundle: dict[str, Path]) -> list[str]:
    return ["--bundle", str(bundle["tarball"]), "--allowed-signers", str(bundle["allowed"])]


@pytest.fixture(scope="module")
def rolled_out(env: dict[str, str], bundle: dict[str, Path]) -> Result:
    started = time.monotonic()
    result = pyctl(env, "rollout", "lab", "--yes", "--batches", "1,100%", "--json", *from_bundle(bundle))
    print(f"full rollout of the lab from its bundle: {time.monotonic() - started:.0f} s", file=sys.stderr)
    return result


def workers(registered: list[lab.LabHost]) -> list[lab.LabHost]:
    return registered[4:]  # seed.lab: 3 etcd, 1 control plane, then GPU workers


def test_full_rollout_is_green_through_every_phase(rolled_out: Result, registered: list[lab.LabHost],
                                                   runs: Path, bundle: dict[str, Path]) -> None:
    assert rolled_out.code == 0, rolled_out.stderr[-4000:]
    state = rolled_out.json()
    assert state["status"] == "done"
    assert [p["name"] for p in state["phases"]] == ["preflight", "gpu", "etcd", "control_plane", "calico", "smoke"]
    assert all(b["done"] and not b["failed"] and not b["unreachable"] for p in state["phases"] for b in p["batches"])
    assert "preflight: checking 17 artifacts on the mirrors of lab" in rolled_out.stderr
    assert "OUTSIDE THE BUNDLE" not in bundle["log"].read_text()  # every file the hosts asked for was in it
    # canary first: one host, then the rest of the phase
    gpu = next(p for p in state["phases"] if p["name"] == "gpu")
    assert [len(b["hosts"]) for b in gpu["batches"]] == [1, len(workers(registered)) - 1]
    # the smoke phase's report: every check that applies passes on every host
    smoke_dir = Path(next(p for p in state["phases"] if p["name"] == "smoke")["batches"][0]["run_dir"])
    report = json.loads((smoke_dir / "report.json").read_text())
    assert report["failures"] == []
    checks = {(h["name"], o["check"]): o["status"] for h in report["hosts"] for o in h["checks"]}
    assert checks[(registered[0].name, "etcd-members")] == "pass"
    assert checks[(registered[3].name, "apiserver-readyz")] == "pass"
    assert checks[(workers(registered)[0].name, "gpu-count")] == "pass"
    assert checks[(workers(registered)[0].name, "path-mtu")] == "pass"
    # ... over calico-node's tunnel too (the image's stand-in built it from the resources the role wrote):
    # the plan's overlay MTU to every other worker of the cluster, not only the underlay
    path_mtu = next(o for h in report["hosts"] if h["name"] == workers(registered)[0].name
                    for o in h["checks"] if o["check"] == "path-mtu")
    overlay = {(p["peer"], p["size"]) for p in path_mtu["data"]["paths"] if p["kind"] == "overlay vxlan.calico"}
    assert {peer for peer, _ in overlay} == {w.name for w in workers(registered)[1:]}, path_mtu
    underlay = {p["size"] for p in path_mtu["data"]["paths"] if p["kind"] == "underlay"}
    assert {size for _, size in overlay} == {u - 50 for u in underlay}, path_mtu  # VXLAN's 50 bytes
    assert (smoke_dir / "report.html").is_file()
    # every role that converged a host left its record, under today's inputs
    records = runs / "lab" / "desired-state"
    for host in registered:
        doc = json.loads((records / f"{host.name}.json").read_text())
        want = {"gpu_driver", "calico"} if host in workers(registered) else \
            {"etcd"} if host in registered[:3] else {"control_plane"}
        assert set(doc["roles"]) == want, host.name


def test_the_lab_hosts_have_no_way_out_but_the_mirror(rolled_out: Result, registered: list[lab.LabHost]) -> None:
    # Two internet addresses (Debian's CDN, a public resolver), then the mirror at the gateway.
    probe = ("import socket, sys\n"
             "for addr, port in zip(sys.argv[1::2], sys.argv[2::2]):\n"
             "    try:\n"
             "        socket.create_connection((addr, int(port)), timeout=5).close()\n"
             "        print(addr, 'ok')\n"
             "    except OSError as e:\n"
             "        print(addr, e.errno)\n")
    out = podman("exec", registered[-1].name, "python3", "-c", probe, "151.101.2.132", "80", "1.1.1.1", "53",
                 mirror.LAB_GATEWAY, str(mirror.DEFAULT_PORT))
    assert out.split("\n")[:3] == ["151.101.2.132 101", "1.1.1.1 101", f"{mirror.LAB_GATEWAY} ok"]  # ENETUNREACH


def test_drift_against_the_bundle_is_clean_then_names_a_package_changed_by_hand(
        env: dict[str, str], rolled_out: Result, registered: list[lab.LabHost], bundle: dict[str, Path]) -> None:
    assert rolled_out.code == 0
    result, doc = drift(env, *from_bundle(bundle))
    assert result.code == 0, result.stderr[-3000:]
    assert doc["counts"]["in-sync"] == len(registered)
    host = workers(registered)[0]
    podman("exec", host.name, "apt-mark", "unhold", "nvidia-utils-550")
    try:
        result, doc = drift(env, *from_bundle(bundle))
        assert result.code == 2, result.stderr[-3000:]
        [drifted] = [h for h in doc["hosts"] if h["status"] != "in-sync"]
        assert drifted["name"] == host.name
        assert any(c["kind"] == "package" and "nvidia-utils-550" in c["task"] + (c.get("diff") or "")
                   for c in drifted["changes"]), drifted
    finally:
        podman("exec", host.name, "apt-mark", "hold", "nvidia-utils-550")


@pytest.fixture
def stopped_etcd_member(rolled_out: Result, registered: list[lab.LabHost]) -> Iterator[lab.LabHost]:
    member = registered[1]
    podman("exec", member.name, "systemctl", "stop", "etcd")
    try:
        yield member
    finally:
        podman("exec", member.name, "systemctl", "start", "etcd")


def test_smoke_catches_a_stopped_etcd_member(env: dict[str, str], stopped_etcd_member: lab.LabHost,
                                             registered: list[lab.LabHost]) -> None:
    result = pyctl(env, "smoke", "lab", "--json", "--check", "etcd-health", "--check", "etcd-leader")
    assert result.code == 2, result.stderr
    failed = {(f["host"], f["check"]) for f in result.json()["failures"]}
    assert failed == {(stopped_etcd_member.name, "etcd-health"), (stopped_etcd_member.name, "etcd-leader")}


@pytest.fixture
def seven_gpus(rolled_out: Result, registered: list[lab.LabHost]) -> Iterator[lab.LabHost]:
    host = workers(registered)[1]
    before = podman("exec", host.name, "cat", lab.GPU_EMULATION_FILE)
    doc = json.loads(before)
    podman("exec", "-i", host.name, "sh", "-c", f"cat > {lab.GPU_EMULATION_FILE}",
           input_text=json.dumps({**doc, "count": 7}))
    try:
        yield host
    finally:
        podman("exec", "-i", host.name, "sh", "-c", f"cat > {lab.GPU_EMULATION_FILE}", input_text=before)


def test_smoke_catches_a_gpu_count_that_differs_from_netbox(env: dict[str, str], seven_gpus: lab.LabHost) -> None:
    result = pyctl(env, "smoke", "lab", "--json", "--check", "gpu-count", "--check", "gpu-model")
    assert result.code == 2, result.stderr
    assert {(f["host"], f["check"]): f["detail"] for f in result.json()["failures"]} == {
        (seven_gpus.name, "gpu-count"): "host has 7 GPUs, NetBox says 8"}


def test_a_failed_health_gate_stops_the_rollout_before_the_next_batch_and_resume_goes_on(
        env: dict[str, str], rolled_out: Result, registered: list[lab.LabHost], bundle: dict[str, Path]) -> None:
    # The gpu phase on two workers, canary first. The canary's board loses a GPU (the hardware stand-in):
    # Ansible converges it (the driver is fine), its health gate fails gpu-count, and the second batch
    # never starts. Repaired, `--resume` runs the canary batch and its gate again, then the second batch.
    assert rolled_out.code == 0
    args = ["--phase", "gpu", "--limit", ",".join(w.name for w in workers(registered)[:2]), "--batches", "1,100%",
            "--skip-artifact-check", *from_bundle(bundle)]
    planned = pyctl(env, "rollout", "lab", "--dry-run", "--json", *args)
    assert planned.code == 0, planned.stderr
    (canary,), (second,) = [b["hosts"] for b in planned.json()["phases"][0]["batches"]]
    assert "gate after each batch, on the batch's hosts: gpu-count, gpu-model, gpu-driver" in planned.stderr
    before = podman("exec", canary, "cat", lab.GPU_EMULATION_FILE)
    podman("exec", "-i", canary, "sh", "-c", f"cat > {lab.GPU_EMULATION_FILE}",
           input_text=json.dumps({**json.loads(before), "count": 7}))
    try:
        stopped = pyctl(env, "rollout", "lab", "--yes", "--json", *args)
    finally:
        podman("exec", "-i", canary, "sh", "-c", f"cat > {lab.GPU_EMULATION_FILE}", input_text=before)
    assert stopped.code == 2, stopped.stderr[-3000:]
    gpu = stopped.json()["phases"][0]
    assert stopped.json()["status"] == "stopped"
    assert [b["done"] for b in gpu["batches"]] == [False, False]
    assert not gpu["batches"][0]["failed"]  # Ansible converged it: the gate is what caught it
    assert gpu["batches"][0]["gate"]["failed"] == {canary: "gpu-count: host has 7 GPUs, NetBox says 8"}
    assert f"  FAILED {canary}: gate gpu-count: host has 7 GPUs, NetBox says 8" in stopped.stderr
    assert f"stopped: the health gate after gpu batch 1 failed on {canary} " in stopped.stderr
    assert "gpu: batch 2/2" not in stopped.stderr
    report = json.loads((Path(gpu["batches"][0]["gate"]["run_dir"]) / "report.json").read_text())
    assert [h["name"] for h in report["hosts"]] == [canary]  # the gate checks the batch's hosts only

    resumed = pyctl(env, "rollout", "lab", "--yes", "--resume", "--json", *from_bundle(bundle), "--skip-artifact-check")
    assert resumed.code == 0, resumed.stderr[-3000:]
    assert resumed.json()["status"] == "done"
    assert f"gpu: batch 1/2 (1 host: {canary})" in resumed.stderr
    assert f"gpu: batch 2/2 (1 host: {second})" in resumed.stderr
    gates = [b["gate"] for b in resumed.json()["phases"][0]["batches"]]
    assert [g["failed"] for g in gates] == [{}, {}]
    assert resumed.stderr.count("  health gate after gpu batch ") == 2


def drift(env: dict[str, str], *args: str) -> tuple[Result, dict[str, Any]]:
    result = pyctl(env, "drift", "lab", "--json", *args)
    return result, result.json()


NOUVEAU = "/etc/modprobe.d/blacklist-nouveau.conf"


def run_dirs(runs: Path, marker: str, *, since: frozenset[Path] = frozenset()) -> list[Path]:
    """The run directories whose name contains ``marker``, less those in ``since`` (the earlier tests')."""
    return sorted(set(runs.glob(f"lab/*{marker}*")) - since)


def hosts_in_runs(runs: Path, marker: str, *, since: frozenset[Path] = frozenset()) -> set[str]:
    """Every host any Ansible event mentions, in the run directories whose name contains ``marker`` (less
    those in ``since``)."""
    seen: set[str] = set()
    for event_file in (e for d in run_dirs(runs, marker, since=since) for e in d.glob("artifacts/*/job_events/*.json")):
        host = json.loads(event_file.read_text()).get("event_data", {}).get("host")
        if host:
            seen.add(host)
    return seen


def test_hand_made_drift_on_two_hosts_is_found_and_reapplied_only_there(
        env: dict[str, str], rolled_out: Result, registered: list[lab.LabHost], runs: Path) -> None:
    assert rolled_out.code == 0
    edited, stopped = workers(registered)[1], workers(registered)[-1]
    podman("exec", edited.name, "sed", "-i", "s/modeset=0/modeset=1/", NOUVEAU)
    podman("exec", stopped.name, "systemctl", "stop", "nvidia-persistenced")
    earlier = frozenset(runs.glob("lab/*"))  # the earlier tests' runs (drift against the bundle ran check mode)

    result, doc = drift(env)
    assert result.code == 2, result.stderr[-3000:]
    by_host = {h["name"]: h for h in doc["hosts"]}
    assert sorted(n for n, h in by_host.items() if h["status"] != "in-sync") == sorted([edited.name, stopped.name]), \
        json.dumps([h for h in doc["hosts"] if h["status"] != "in-sync"], indent=1)[:6000]
    assert [(c["role"], c["task"], c["kind"]) for c in by_host[edited.name]["changes"]] == [
        ("gpu_driver", "Blacklist nouveau persistently", "config")]
    # the diff goes from what the host has to what the role would write
    diff = by_host[edited.name]["changes"][0]["diff"]
    assert diff.startswith(f"--- {NOUVEAU}\n+++ {NOUVEAU} (as the role renders it)\n")
    assert "-options nouveau modeset=1\n+options nouveau modeset=0" in diff
    assert [(c["role"], c["task"], c["kind"], c["diff"]) for c in by_host[stopped.name]["changes"]] == [
        ("gpu_driver", "Enable nvidia-persistenced, started while the pinned driver runs", "service",
         "nvidia-persistenced.service: inactive → started")]
    assert doc["by_kind"] == {"config": [edited.name], "service": [stopped.name]}
    # the records found the two; check mode ran only the gpu role, only there
    assert doc["check_mode"] == sorted([edited.name, stopped.name])
    assert doc["by_record"] == sorted(h.name for h in registered if h not in (edited, stopped))
    assert set(doc["records"][edited.name]["differs"]) == {"gpu_driver"}
    assert hosts_in_runs(runs, "-drift-gpu", since=earlier) == {edited.name, stopped.name}
    assert not run_dirs(runs, "-drift-etcd", since=earlier)
    assert not run_dirs(runs, "-drift-calico", since=earlier)
    assert by_host[edited.name]["netbox"] == []
    assert by_host[stopped.name]["netbox"] == []

    fixed = pyctl(env, "reapply", "lab", "--drifted", "--yes", "--json")
    assert fixed.code == 0, fixed.stderr[-3000:]
    out = fixed.json()
    assert out["reapplied"] == {edited.name: ["gpu"], stopped.name: ["gpu"]}
    assert sorted(out["fixed"]) == sorted([edited.name, stopped.name])
    assert out["still_drifted"] == []
    # The other hosts saw no task: no Ansible event of the reapply names them.
    assert hosts_in_runs(runs, "-reapply-", since=earlier) == {edited.name, stopped.name}
    assert "modeset=0" in podman("exec", edited.name, "cat", NOUVEAU)
    assert podman("exec", stopped.name, "systemctl", "is-active", "nvidia-persistenced").strip() == "active"


def nsenter_net(host: lab.LabHost, script: str) -> str:
    """Run ``script`` in the host's network namespace from outside: /proc/sys is read-only inside."""
    pid = podman("inspect", "-f", "{{.State.Pid}}", host.name).strip()
    return subprocess.run(["nsenter", "-t", pid, "-n", "sh", "-c", script], check=True, timeout=30,
                          capture_output=True, text=True).stdout


@pytest.fixture
def tampered(rolled_out: Result, registered: list[lab.LabHost]) -> Iterator[dict[str, tuple[str, str, str]]]:
    """One of each kind of hand-made change, on several hosts; everything undone afterwards.
    Yields ``label -> (host, role, item)``: the item the records must name."""
    assert rolled_out.code == 0
    w = workers(registered)
    control_plane = registered[3]
    extra = "/etc/kubernetes/lab-gpu/extra.conf"  # the hosted cluster lab-gpu's directory (seed.lab)
    mig_file = "/var/lib/nvidia-standin/mig.json"
    mig_before = podman("exec", w[3].name, "cat", mig_file)
    podman("exec", w[2].name, "cp", "-p", "/var/lib/dpkg/status", "/root/dpkg-status.before")
    mtu_before = lab.nic_mtu(w[2].name, "eth1")
    rp_filter = "/proc/sys/net/ipv4/conf/all/rp_filter"
    rp_before = nsenter_net(w[2], f"cat {rp_filter}").strip()
    undo = [
        lambda: podman("exec", w[0].name, "chmod", "0644", NOUVEAU),
        lambda: podman("exec", w[2].name, "cp", "-p", "/root/dpkg-status.before", "/var/lib/dpkg/status"),
        lambda: podman("exec", w[2].name, "systemctl", "enable", "pyctl-mig-layout.service"),
        lambda: podman("exec", "-i", w[3].name, "sh", "-c", f"cat > {mig_file}", input_text=mig_before),
        lambda: nsenter_net(w[2], f"echo {rp_before} > {rp_filter}"),
        lambda: podman("exec", w[2].name, "ip", "link", "set", "eth1", "mtu", str(mtu_before)),
        lambda: podman("exec", control_plane.name, "rm", "-f", extra),
    ]
    try:
        podman("exec", w[0].name, "chmod", "0600", NOUVEAU)
        podman("exec", w[2].name, "python3", "-c",
               "import re, pathlib; p = pathlib.Path('/var/lib/dpkg/status'); s = p.read_text(); "
               "p.write_text(re.sub(r'(Package: nvidia-mig-manager\\n(?:[^\\n]+\\n)*?Version: )[^\\n]+', "
               "r'\\g<1>0.0.1-tampered', s))")
        podman("exec", w[2].name, "systemctl", "disable", "pyctl-mig-layout.service")
        podman("exec", "-i", w[3].name, "sh", "-c", f"cat > {mig_file}",
               input_text=json.dumps({"enabled": True, "devices": {}}) + "\n")
        nsenter_net(w[2], f"echo {2 if rp_before == '1' else 1} > {rp_filter}")
        podman("exec", w[2].name, "ip", "link", "set", "eth1", "mtu", str(mtu_before - 100))
        podman("exec", control_plane.name, "sh", "-c", f"echo '--v=4' > {extra}")
        yield {
            "mode": (w[0].name, "gpu_driver", NOUVEAU),
            "package": (w[2].name, "gpu_driver", "nvidia-mig-manager"),
            "disabled": (w[2].name, "gpu_driver", "pyctl-mig-layout.service"),
            "mig": (w[3].name, "gpu_driver", "MIG layout"),
            "sysctl": (w[2].name, "calico", "net.ipv4.conf.all.rp_filter"),
            "mtu": (w[2].name, "calico", "eth1"),
            "not-managed": (control_plane.name, "control_plane", extra),
        }
    finally:
        for step in undo:
            step()


def test_the_records_flag_every_kind_of_tampering(env: dict[str, str], tampered: dict[str, tuple[str, str, str]],
                                                  registered: list[lab.LabHost]) -> None:
    result, doc = drift(env)
    assert result.code == 2, result.stderr[-3000:]
    by_host = {h["name"]: h for h in doc["hosts"]}
    for label, (host, role, item) in tampered.items():
        differs = doc["records"][host]["differs"].get(role, [])
        assert item in [d["item"] for d in differs], (label, differs)
        assert by_host[host]["status"] == "drifted", label
    host, role, path = tampered["not-managed"]
    flagged = {d["item"]: d for d in doc["records"][host]["differs"][role]}
    assert flagged[path]["kind"] == "not-managed"
    # control_plane ran in check mode there and, the file being outside what it manages, found nothing of its
    # own: check mode is quiet on a converged control-plane host (.config/molecule/drift.yml counts on this).
    assert host in doc["check_mode"]
    assert [(c["kind"], c["task"]) for c in by_host[host]["changes"]] == [
        ("not-managed", f"(recorded state) dirs: {path}")]
    assert "not managed by any role" in by_host[host]["changes"][0]["diff"]
    assert "not-managed" in doc["by_kind"]
    kinds = {d["item"]: d["kind"] for r in doc["records"].values() for ds in r["differs"].values() for d in ds}
    assert (kinds[NOUVEAU], kinds["nvidia-mig-manager"], kinds["pyctl-mig-layout.service"],
            kinds["net.ipv4.conf.all.rp_filter"]) == ("config", "package", "service", "config")
    # the hosts nobody touched are vouched for by their records alone
    touched = {host for host, _, _ in tampered.values()}
    assert set(doc["by_record"]) == {h.name for h in registered} - touched
    assert sorted(h["name"] for h in doc["hosts"] if h["status"] != "in-sync") == sorted(touched)


def test_then_the_lab_has_no_drift_three_times_in_a_row(env: dict[str, str], rolled_out: Result,
                                                        registered: list[lab.LabHost], runs: Path) -> None:
    # Runs after the reapply and the undone tampering above (tests run in file order): the first drift
    # is "a second drift reports all in sync", the three together "no false positives on a converged
    # lab". The first one runs without one host's record: that host takes the full check, in sync too.
    assert rolled_out.code == 0
    no_record = workers(registered)[1]
    record = runs / "lab" / "desired-state" / f"{no_record.name}.json"
    saved = record.read_bytes()
    record.unlink()
    try:
        for attempt in range(3):
            result, doc = drift(env)
            assert result.code == 0, f"attempt {attempt + 1}: " + json.dumps(
                [h for h in doc["hosts"] if h["status"] != "in-sync"], indent=1)[:4000]
            assert doc["counts"] == {"in-sync": len(registered), "drifted": 0, "failed": 0, "unreachable": 0}
            expect_checked = [no_record.name] if attempt == 0 else []
            assert doc["check_mode"] == expect_checked, attempt
            assert len(doc["by_record"]) == len(registered) - len(expect_checked)
            if attempt == 0:
                assert doc["records"][no_record.name]["unusable"] == {
                    r: "no record (never converged by pyctl since records were kept)" for r in ("gpu_driver", "calico")}
                record.write_bytes(saved)
            print(f"drift #{attempt + 1} over {len(registered)} hosts: {doc['seconds']} s", file=sys.stderr)
    finally:
        record.write_bytes(saved)


def json_document(stdout: str) -> dict[str, Any]:
    """The ansible.posix.json callback's document ({} if none): its lines from the first ``{`` to the last
    ``}`` (the callbacks ansible.cfg enables, profile_tasks, print their own lines around it)."""
    lines = stdout.splitlines()
    if "{" not in lines or "}" not in lines:
        return {}
    start, end = lines.index("{"), len(lines) - 1 - lines[::-1].index("}")
    doc: dict[str, Any] = json.loads("\n".join(lines[start:end + 1]))
    return doc


def plain_site_playbook(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], dict[str, list[str]]]:
    """`ansible-playbook -i inventories/lab/netbox.yml playbooks/site.yml`, pyctl's CLI unused: the inventory
    plugin gives the hosts and the plan's variables, Ansible merges the site's group_vars. Returns the run
    and, per host, the tasks that changed it (ansible.posix.json callback); a failed task is under
    ``"FAILED <task>"`` with its message."""
    venv_bin = Path(sys.executable).parent
    proc = subprocess.run(
        [str(venv_bin / "ansible-playbook"), "-i", "inventories/lab/netbox.yml", "playbooks/site.yml"],
        cwd=REPO, text=True, capture_output=True, timeout=900, check=False,
        env={**env, "PATH": f"{venv_bin}:{env.get('PATH', '')}", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
             "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"})
    changed: dict[str, list[str]] = {}
    doc = json_document(proc.stdout)
    if doc:
        for play in doc["plays"]:
            for task in play["tasks"]:
                for host, res in task["hosts"].items():
                    if res.get("changed"):
                        changed.setdefault(host, []).append(task["task"]["name"])
                    if res.get("failed") and not res.get("ignore_errors"):
                        changed.setdefault(host, []).append(f"FAILED {task['task']['name']}: {res.get('msg')}")
    return proc, changed


def test_plain_ansible_site_playbook_repairs_the_lab_and_changes_nothing_else(
        env: dict[str, str], rolled_out: Result, registered: list[lab.LabHost]) -> None:
    # Runs last (file order), on the lab pyctl converged: plain Ansible with the inventory plugin must see the
    # same variables pyctl's runs get (the plan's included), or it would rewrite the templates they feed.
    # One hand-edited file gives it something to converge.
    assert rolled_out.code == 0
    edited = workers(registered)[0]
    podman("exec", edited.name, "sed", "-i", "s/modeset=0/modeset=1/", NOUVEAU)
    started = time.monotonic()
    proc, changed = plain_site_playbook(env)
    print(f"plain ansible-playbook site.yml over {len(registered)} hosts: {time.monotonic() - started:.0f} s",
          file=sys.stderr)
    assert proc.returncode == 0, [t for ts in changed.values() for t in ts if t.startswith("FAILED")] or \
        proc.stdout[-3000:] + proc.stderr[-3000:]
    stats = json_document(proc.stdout)["stats"]
    assert set(stats) == {h.name for h in registered}  # every host, from NetBox through the plugin
    assert all(s["failures"] == 0 and s["unreachable"] == 0 for s in stats.values()), stats
    # The edited file, put back, and the handler it notifies; nothing else anywhere.
    assert changed == {edited.name: ["gpu_driver : Blacklist nouveau persistently",
                                     "gpu_driver : Rebuild the initramfs"]}
    assert "modeset=0" in podman("exec", edited.name, "cat", NOUVEAU)
    # The etcd role found a running cluster and snapshotted it first (verified, root's alone), on the first
    # member holding data, without reporting a change (the changed tasks above are all).
    listings = {m.name: podman("exec", m.name, "sh", "-c", "stat -c '%a %U %n' /var/lib/etcd-backup/etcd-*.db "
                               "2>/dev/null || true").split("\n")[:-1] for m in registered[:3]}
    [(member, snapshots)] = [(m, ls) for m, ls in listings.items() if ls]
    assert all(line.startswith("600 root /var/lib/etcd-backup/etcd-") for line in snapshots), listings
    status = podman("exec", member, "sh", "-c", "ETCDCTL_API=3 etcdctl snapshot status "
                    f"{snapshots[-1].split()[-1]} -w json")
    assert json.loads(status)["totalKey"] > 0, status
    # What plain Ansible left is what pyctl recorded: the drift fast path vouches for every host.
    result, doc = drift(env)
    assert result.code == 0, result.stderr[-3000:]
    assert doc["check_mode"] == []
