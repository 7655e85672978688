"""The lab end to end: real systemd hosts over SSH, host keys verified, ansible-runner over them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paramiko
import pytest

from pyctl import runner
from pyctl.dev import lab
from pyctl.errors import ExitCode
from pyctl.runner import HostStatus, Progress

pytestmark = pytest.mark.lab

HOLD_PLAYBOOK = Path(__file__).parent / "playbooks" / "hold.yml"


def ssh(host: lab.LabHost, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ssh", "-i", str(lab.KEY_FILE), "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
         *lab.ssh_common_args().split(), f"root@{host.ip}", command],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def container_ids() -> dict[str, str]:
    out = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"label={lab.LABEL}={lab.current().name}", "--format", "{{.Names}} {{.ID}}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return dict(line.split() for line in out.splitlines())


def ansible_processes(marker: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                found.append(f"{proc.name}: {cmdline[:200]}")
    return found


def ansible_processes_left(marker: str, grace_s: float = 10.0) -> list[str]:
    """The processes of ``marker`` still there after ``grace_s``: a process group killed with SIGKILL takes a
    moment to vanish from /proc on a loaded machine; one that outlives the grace was left behind."""
    deadline = time.monotonic() + grace_s
    while (found := ansible_processes(marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def test_each_host_has_its_fixed_name_ip_and_mac(lab_hosts: list[lab.LabHost]) -> None:
    for index, host in enumerate(lab_hosts, start=1):
        assert host == lab.LabHost(**{**lab.host_spec(index).__dict__, "state": "running"})
        out = ssh(host, "hostname; cat /sys/class/net/eth0/address; ip -4 -o addr show eth0; "
                        "cat /sys/class/net/eth1/address; ip -4 -o addr show eth1")
        assert out.returncode == 0, out.stderr
        name, mac, addr, pod_mac, pod_addr = out.stdout.splitlines()
        assert (name, mac, pod_mac) == (host.name, host.mac, host.pod_mac)
        assert f" {host.ip}/24 " in addr
        assert f" {host.pod_ip}/24 " in pod_addr  # the pod-traffic network, apart from eth0


def test_ssh_with_the_lab_key_verifies_known_hosts(lab_hosts: list[lab.LabHost]) -> None:
    # OpenSSH (what Ansible uses) with StrictHostKeyChecking=yes against our known_hosts only ...
    for host in lab_hosts:
        out = ssh(host, "systemctl is-system-running --wait")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "running"
    # ... and paramiko (what pyctl.smoke uses), refusing any host not in that file.
    client = paramiko.SSHClient()
    client.load_host_keys(str(lab.KNOWN_HOSTS_FILE))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    for host in lab_hosts:
        client.connect(host.ip, username="root", key_filename=str(lab.KEY_FILE), look_for_keys=False,
                       allow_agent=False, timeout=10)  # fmt: skip
        _, stdout, _ = client.exec_command("hostname")
        assert stdout.read().decode().strip() == host.name
        client.close()


def test_starting_again_changes_nothing(lab_hosts: list[lab.LabHost]) -> None:
    before = container_ids()
    started = time.monotonic()
    assert lab.up(len(lab_hosts)) == lab_hosts
    assert container_ids() == before
    assert time.monotonic() - started < 30


def test_a_host_of_this_labs_name_that_another_checkout_made_is_refused_and_left_alone(
        lab_hosts: list[lab.LabHost], lab_size: int) -> None:
    which = lab.current()
    intruder = which.host(lab_size + 1).name
    labels = which.labels("/elsewhere/pyctl")
    subprocess.run(["podman", "create", "--name", intruder, *(f"--label={k}={v}" for k, v in labels.items()),
                    lab.ensure_image().tag, "sleep", "infinity"], check=True, capture_output=True)
    try:
        before = container_ids()
        with pytest.raises(lab.LabError, match=rf"{intruder} \(lab '{which.name}' of /elsewhere/pyctl\)"):
            lab.up(lab_size + 1)
        assert container_ids() == before  # nothing created, started or removed
        assert lab.status() == lab_hosts
        assert intruder in lab.hosts_left()
    finally:
        subprocess.run(["podman", "rm", "-f", intruder], check=True, capture_output=True)


def test_ping_reports_every_host_ok(lab_hosts: list[lab.LabHost], tmp_path: Path) -> None:
    seen: list[Progress] = []
    result = runner.run_playbook("ping.yml", inventory=lab.ansible_inventory(lab_hosts), dc="lab", verb="ping",
                                 on_event=seen.append, runs_dir=tmp_path)  # fmt: skip
    assert result.exit_code() is ExitCode.OK, result.as_dict()
    assert {h: r.status for h, r in result.hosts.items()} == {h.name: HostStatus.OK for h in lab_hosts}
    assert {p.host for p in seen if p.kind == "ok" and p.task == "Ping"} == {h.name for h in lab_hosts}
    assert result.run_dir.parent == tmp_path / "lab"
    assert result.run_dir.name.endswith("-ping")
    # The run dir records the key's path, never the key.
    key_body = lab.KEY_FILE.read_text().splitlines()[1]
    for path in result.run_dir.rglob("*"):
        if path.is_file():
            assert key_body not in path.read_text(errors="replace"), path


def test_host_stopped_mid_run_is_unreachable_and_others_finish(
    lab_hosts: list[lab.LabHost], lab_size: int, tmp_path: Path
) -> None:
    victim = lab_hosts[-1]
    stopper: list[threading.Thread] = []

    def on_event(progress: Progress) -> None:
        if progress.kind == "task" and progress.task == "Hold the connection open" and not stopper:
            stopper.append(threading.Thread(target=subprocess.run, args=(["podman", "stop", victim.name],),
                                            kwargs={"capture_output": True}))  # fmt: skip
            stopper[0].start()

    try:
        result = runner.run_playbook(HOLD_PLAYBOOK, inventory=lab.ansible_inventory(lab_hosts), dc="lab",
                                     verb="hold", on_event=on_event, runs_dir=tmp_path)  # fmt: skip
        stopper[0].join()
    finally:
        lab.up(lab_size)  # starts the stopped host again
    assert result.unreachable_hosts == [victim.name], result.as_dict()
    others = {h.name for h in lab_hosts} - {victim.name}
    assert all(result.hosts[h].status is HostStatus.OK and result.hosts[h].ok == 3 for h in others)
    assert result.exit_code() is ExitCode.UNREACHABLE


def test_changed_host_key_is_refused_with_a_clear_message(
    lab_hosts: list[lab.LabHost], lab_size: int, tmp_path: Path
) -> None:
    victim = lab_hosts[0]
    subprocess.run(
        ["podman", "exec", victim.name, "sh", "-c",
         "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A && systemctl restart ssh"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        out = ssh(victim, "true")
        assert out.returncode == 255
        assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in out.stderr
        result = runner.run_playbook("ping.yml", inventory=lab.ansible_inventory(lab_hosts), dc="lab", verb="ping",
                                     runs_dir=tmp_path)  # fmt: skip
        assert result.unreachable_hosts == [victim.name]
        message = result.hosts[victim.name].failures[0].message
        assert message.startswith(f"{victim.name}: SSH host key does not match known_hosts; refusing to connect")
        assert len(result.hosts) == len(lab_hosts)
        assert len(result.failed_hosts) == 0
    finally:
        lab.up(lab_size)  # re-collects the new key through podman exec
    assert ssh(victim, "true").returncode == 0


def test_cancel_stops_the_run_and_leaves_no_ansible_process(lab_hosts: list[lab.LabHost], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # This run's SSH ControlPath dir: other runs on the machine (another lab's) have masters of their own.
    control_dirs: list[str] = []
    mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args: Any, **kwargs: Any) -> str:
        made = mkdtemp(*args, **kwargs)
        if kwargs.get("prefix") == "pyctl-cp-":
            control_dirs.append(made)
        return made

    monkeypatch.setattr(runner.tempfile, "mkdtemp", recording_mkdtemp)
    cancel = threading.Event()

    def on_event(progress: Progress) -> None:
        if progress.kind == "task" and progress.task == "Hold the connection open":
            cancel.set()

    started = time.monotonic()
    result = runner.run_playbook(HOLD_PLAYBOOK, inventory=lab.ansible_inventory(lab_hosts), dc="lab", verb="hold",
                                 extravars={"hold_seconds": 120}, on_event=on_event, cancel=cancel,
                                 runs_dir=tmp_path)  # fmt: skip
    assert result.canceled
    assert result.exit_code() is ExitCode.INTERRUPTED
    assert time.monotonic() - started < 30
    assert ansible_processes_left(str(result.run_dir)) == []
    assert len(control_dirs) == 1
    assert ansible_processes_left(control_dirs[0]) == []  # no SSH master of the run survives it


CTRL_C_SCRIPT = """
import json, sys
from pyctl import runner
from pyctl.dev import lab
inventory = lab.ansible_inventory(lab.status())
result = runner.run_playbook(sys.argv[1], inventory=inventory, dc="lab", verb="hold", extravars={"hold_seconds": 120},
                             runs_dir=__import__("pathlib").Path(sys.argv[2]),
                             on_event=lambda p: print(p.kind, p.task, flush=True))
print(json.dumps({"status": result.status, "run_dir": str(result.run_dir), "exit": int(result.exit_code())}))
"""


def test_ctrl_c_cancels_the_run_cleanly(lab_hosts: list[lab.LabHost], tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT, str(HOLD_PLAYBOOK), str(tmp_path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("task Hold the connection open"):
            break
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    summary = json.loads(out.splitlines()[-1])
    assert summary["status"] == "canceled"
    assert summary["exit"] == ExitCode.INTERRUPTED
    assert ansible_processes_left(summary["run_dir"]) == []
