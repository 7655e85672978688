"""pyctl.digest and pyctl.desired_state: the one input digest, the host-state program, recording and
comparing records (every family of item, not-managed entries, stale records), and how drift uses them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from pyctl import desired_state, digest, phases
from pyctl.drift import collect as drift_collect
from pyctl.drift import report as drift_report
from pyctl.probes import host_state
from pyctl.smoke.pool import CommandResult, ConnectError, SSHSettings
from tests.unit.test_drift import lab_site

SSH = SSHSettings(user="root", key_file=Path("/k"), known_hosts=Path("/kh"))


# --- digest ---------------------------------------------------------------------------------------

def test_each_input_part_changes_its_own_digest_and_nothing_else(tmp_path: Path) -> None:
    repo = tmp_path
    for rel, text in {"roles/r/tasks/main.yml": "- a\n", "roles/r/molecule/default/converge.yml": "x",
                      "playbooks/p.yml": "p", "inventories/dc9/group_vars/all/x.yml": "k: 1\n"}.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    listing = {"_meta": {"hostvars": {"h1": {"a": 1}}}}
    base = digest.compute(listing, None, "dc9", repo=repo)
    assert digest.compute({"_meta": {"hostvars": {"h1": {"a": 1}}}}, None, "dc9", repo=repo) == base

    (repo / "roles/r/molecule/default/converge.yml").write_text("y")  # never runs on a DC's hosts
    assert digest.compute(listing, None, "dc9", repo=repo).value == base.value
    (repo / "inventories/dc9/group_vars/all/x.yml").write_text("k: 2\n")
    assert digest.compute(listing, None, "dc9", repo=repo).changed(base.parts) == ["group_vars"]
    (repo / "inventories/dc9/group_vars/all/x.yml").write_text("k: 1\n")
    (repo / "roles/r/tasks/main.yml").chmod(0o755)  # the executable bit counts
    assert digest.compute(listing, None, "dc9", repo=repo).changed(base.parts) == ["roles"]
    changed = digest.compute({"_meta": {"hostvars": {"h1": {"a": 2}}}}, None, "dc9", repo=repo)
    assert changed.changed(base.parts) == ["netbox", "roles"]
    assert changed.value != base.value


def test_the_plan_is_a_part_of_the_digest() -> None:
    s = lab_site()
    without = digest.compute(s.listing, None, s.dc)
    assert digest.of_site(s).changed(without.parts) == []  # lab_site has no plan
    assert set(without.to_dict()) == {"value", "parts"}
    assert list(without.parts) == list(digest.PARTS)


# --- the host-state program -----------------------------------------------------------------------

MANAGES = {"files": [], "dirs": [], "packages": [], "units": [], "sysctl": ["net.ipv4.ip_forward"],
           "modules": {}, "mtu": ["lo", "nosuch0"]}


def test_the_program_reports_files_dirs_and_live_values(tmp_path: Path) -> None:
    (tmp_path / "owned" / "sub").mkdir(parents=True)
    (tmp_path / "owned" / "sub" / "a.conf").write_text("a")
    (tmp_path / "f").write_text("hello")
    os.symlink("f", tmp_path / "owned" / "link")
    manages = {**MANAGES, "files": [str(tmp_path / "f"), str(tmp_path / "missing")], "dirs": [str(tmp_path / "owned")]}
    state = host_state.role_state(manages)
    f = state["files"][str(tmp_path / "f")]
    assert (f["type"], f["mode"], f["sha256"]) == (
        "file", format((tmp_path / "f").stat().st_mode & 0o7777, "04o"),
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    assert state["files"][str(tmp_path / "missing")] is None
    entries = state["dirs"][str(tmp_path / "owned")]["entries"]
    assert set(entries) == {"sub", "sub/a.conf", "link"}
    assert entries["link"] == {**entries["link"], "type": "link", "target": "f"}
    assert state["sysctl"]["net.ipv4.ip_forward"] == Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    assert state["mtu"] == {"lo": int(Path("/sys/class/net/lo/mtu").read_text()), "nosuch0": None}
    assert "mig" not in state


def test_the_program_runs_as_a_one_liner_and_prints_json(tmp_path: Path) -> None:
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", desired_state.PROBE_SOURCE.read_text()], capture_output=True,
                         text=True, check=True, timeout=60)
    doc = json.loads(out.stdout)
    assert set(doc) == {"manifests", "roles", "errors"}
    assert desired_state.probe_command().startswith("python3 -c '")


# --- comparing ------------------------------------------------------------------------------------

def entry(sha: str = "s1", mode: str = "0644", owner: str = "root") -> dict[str, Any]:
    return {"type": "file", "sha256": sha, "mode": mode, "owner": owner, "group": "root"}


RECORDED: dict[str, Any] = {
    "files": {"/etc/a.conf": entry(), "/etc/b.conf": entry("s2")},
    "dirs": {"/etc/own": {"type": "dir", "mode": "0755", "owner": "root", "group": "root",
                          "entries": {"x.env": entry("s3")}}},
    "packages": {"nvidia-driver-570": {"version": "570.1-1", "selection": "hold"}},
    "units": {"nvidia-persistenced.service": {"enabled": "enabled", "active": "active"}},
    "sysctl": {"net.ipv4.ip_forward": "1"},
    "modules": {"vxlan": {"loaded": True, "params": {}}},
    "mtu": {"eth1": 9000},
    "mig": {"mode": "0, Enabled", "instances": "GPU 0 ..."},
    "certs": {}, "cert_renew_days": None,
}


def tampered(**changes: Any) -> dict[str, Any]:
    state = json.loads(json.dumps(RECORDED))
    for family, items in changes.items():
        state[family].update(items)
    return state


@pytest.mark.parametrize(("change", "kind", "item", "detail"), [
    ({"files": {"/etc/a.conf": entry("other")}}, "config", "/etc/a.conf",
     "/etc/a.conf: recorded sha256 s1, now sha256 other"),
    ({"files": {"/etc/a.conf": entry(mode="0600")}}, "config", "/etc/a.conf",
     "/etc/a.conf: recorded mode 0644, now mode 0600"),
    ({"files": {"/etc/b.conf": entry("s2", owner="nobody")}}, "config", "/etc/b.conf",
     "/etc/b.conf: recorded owner root, now owner nobody"),
    ({"files": {"/etc/b.conf": None}}, "config", "/etc/b.conf",
     "/etc/b.conf: recorded group root, mode 0644, owner root, sha256 s2, now absent"),
    ({"packages": {"nvidia-driver-570": {"version": "570.2-1", "selection": "hold"}}}, "package",
     "nvidia-driver-570", "nvidia-driver-570: recorded selection hold, version 570.1-1, now selection hold, "
     "version 570.2-1"),
    ({"units": {"nvidia-persistenced.service": {"enabled": "enabled", "active": "inactive"}}}, "service",
     "nvidia-persistenced.service", "nvidia-persistenced.service: recorded active active, enabled enabled, now "
     "active inactive, enabled enabled"),
    ({"units": {"nvidia-persistenced.service": {"enabled": "disabled", "active": "active"}}}, "service",
     "nvidia-persistenced.service", None),
    ({"sysctl": {"net.ipv4.ip_forward": "0"}}, "config", "net.ipv4.ip_forward",
     "net.ipv4.ip_forward: recorded 1, now 0"),
    ({"modules": {"vxlan": {"loaded": False, "params": {}}}}, "config", "vxlan", None),
    ({"mtu": {"eth1": 1500}}, "other", "eth1", "eth1: recorded 9000, now 1500"),
    ({"mig": {"instances": "No MIG-enabled devices found."}}, "other", "MIG layout", None),
])
def test_each_kind_of_tampering_is_a_difference(change: dict[str, Any], kind: str, item: str,
                                                 detail: str | None) -> None:
    diffs = desired_state.compare_role("r", RECORDED, tampered(**change))
    assert [(d.kind, d.item) for d in diffs] == [(kind, item)]
    if detail is not None:
        assert diffs[0].describe() == detail


def test_an_entry_nobody_manages_in_an_owned_dir_is_not_managed() -> None:
    now = tampered()
    now["dirs"]["/etc/own"]["entries"]["extra.conf"] = entry("s9")
    now["dirs"]["/etc/own"]["entries"].pop("x.env")
    diffs = desired_state.compare_role("etcd", RECORDED, now)
    assert [(d.kind, d.item) for d in diffs] == [("not-managed", "/etc/own/extra.conf"), ("config", "/etc/own/x.env")]
    assert diffs[0].describe() == "/etc/own/extra.conf: not managed by any role (appeared in a directory etcd owns)"


def test_an_unchanged_host_has_no_difference() -> None:
    assert desired_state.compare_role("r", RECORDED, tampered()) == []


# --- staleness ------------------------------------------------------------------------------------

INPUTS = digest.InputDigest({"netbox": "n", "plan": "p", "group_vars": "g", "roles": "r"})


def record_entry(parts: dict[str, str] | None = None, certs: dict[str, int | None] | None = None,
                 days: int | None = 30) -> dict[str, Any]:
    return {"digest": {"value": "v", "parts": parts or dict(INPUTS.parts)}, "recorded": "2026-12-01T00:00:00+00:00",
            "state": {"certs": certs or {}, "cert_renew_days": days}}


def test_a_record_of_other_inputs_is_stale_and_names_them() -> None:
    assert desired_state.staleness(record_entry(), INPUTS, 0) is None
    parts = {**INPUTS.parts, "plan": "other", "roles": "other"}
    assert desired_state.staleness(record_entry(parts), INPUTS, 0) == (
        "recorded from other inputs (plan, roles changed since 2026-12-01T00:00:00+00:00)")


def test_a_certificate_inside_its_renewal_window_makes_the_record_stale() -> None:
    now = 1_800_000_000
    far = {"/etc/etcd/pki/server.crt": now + 31 * 86400}
    near = {"/etc/etcd/pki/server.crt": now + 29 * 86400}
    assert desired_state.staleness(record_entry(certs=far), INPUTS, now) is None
    why = desired_state.staleness(record_entry(certs=near), INPUTS, now)
    assert why is not None
    assert why.startswith("certificate /etc/etcd/pki/server.crt expires 20")
    assert why.endswith("inside its 30-day renewal window")
    assert desired_state.staleness(record_entry(certs={"/x.crt": now - 1}, days=None), INPUTS, now) is not None
    assert desired_state.staleness(record_entry(certs={"/x.crt": None}), INPUTS, now) == (
        "the expiry of certificate /x.crt could not be read")


# --- recording and assessing over a stand-in SSH session ------------------------------------------

class FakeSession:
    def __init__(self, doc: dict[str, Any] | None, rc: int = 0) -> None:
        self.doc, self.rc, self.commands = doc, rc, []  # type: list[str]

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        self.commands.append(command)
        return CommandResult(self.rc, json.dumps(self.doc) if self.doc is not None else "", "boom")


def answering(sessions: dict[str, FakeSession | ConnectError]) -> Any:
    def connector(address: str, settings: SSHSettings) -> Any:
        got = sessions[address]
        if isinstance(got, ConnectError):
            raise got
        return got
    return connector


def doc_with(**roles: dict[str, Any]) -> dict[str, Any]:
    return {"manifests": dict.fromkeys(roles, "m1"), "roles": roles, "errors": []}


def test_recorded_state_is_compared_per_role(tmp_path: Path) -> None:
    w1, w2 = FakeSession(doc_with(gpu_driver=RECORDED, calico=RECORDED)), FakeSession(doc_with(gpu_driver=RECORDED))
    probes = desired_state.probe({"w1": "10.0.1.11", "w2": "10.0.1.12"}, SSH,
                                 connector=answering({"10.0.1.11": w1, "10.0.1.12": w2}))
    warnings = desired_state.record("dc9", probes, ["gpu_driver", "calico"], INPUTS, runs_dir=tmp_path)
    assert warnings == ["w2: calico: not recorded (the role wrote no manifest (/var/lib/pyctl/managed/calico.json)); "
                        "the next drift checks it in full"]
    assert w1.commands == [desired_state.probe_command()]

    w1.doc = doc_with(gpu_driver=tampered(sysctl={"net.ipv4.ip_forward": "0"}), calico=RECORDED)
    verdicts = desired_state.assess("dc9", {"w1": ["gpu_driver", "calico"], "w2": ["gpu_driver", "calico"],
                                            "w3": ["gpu_driver"]},
                                    {"w1": "10.0.1.11", "w2": "10.0.1.12", "w3": "10.0.1.13"}, INPUTS, SSH,
                                    runs_dir=tmp_path, connector=answering({"10.0.1.11": w1, "10.0.1.12": w2}))
    assert verdicts["w1"].verified == ["calico"]
    assert [d.item for d in verdicts["w1"].differs["gpu_driver"]] == ["net.ipv4.ip_forward"]
    assert verdicts["w2"].verified == ["gpu_driver"]
    assert verdicts["w2"].unusable == {"calico": "no record (never converged by pyctl since records were kept)"}
    assert verdicts["w3"].unusable == {"gpu_driver": "no record (never converged by pyctl since records were kept)"}

    # a manifest that changed since the record is a difference of its own
    w2.doc = {**doc_with(gpu_driver=RECORDED), "manifests": {"gpu_driver": "m2"}}
    verdicts = desired_state.assess("dc9", {"w2": ["gpu_driver"]}, {"w2": "10.0.1.12"}, INPUTS, SSH,
                                    runs_dir=tmp_path, connector=answering({"10.0.1.12": w2}))
    assert [d.item for d in verdicts["w2"].differs["gpu_driver"]] == ["/var/lib/pyctl/managed/gpu_driver.json"]


def test_unreachable_hosts_and_failing_programs_are_never_verified(tmp_path: Path) -> None:
    good = FakeSession(doc_with(gpu_driver=RECORDED))
    probes = desired_state.probe({"w1": "a1", "w2": "a2"}, SSH, connector=answering({"a1": good, "a2": good}))
    desired_state.record("dc9", probes, ["gpu_driver"], INPUTS, runs_dir=tmp_path)
    down = ConnectError("unreachable", "a1:22 unreachable: timed out", "is it up?")
    verdicts = desired_state.assess("dc9", {"w1": ["gpu_driver"], "w2": ["gpu_driver"]}, {"w1": "a1", "w2": "a2"},
                                    INPUTS, SSH, runs_dir=tmp_path,
                                    connector=answering({"a1": down, "a2": FakeSession(None, rc=1)}))
    assert (verdicts["w1"].unreachable, verdicts["w1"].verified) == ("a1:22 unreachable: timed out", [])
    assert verdicts["w2"].unusable == {"gpu_driver": "no state from the host: the state program exited 1: boom"}
    # stale: other inputs
    other = digest.InputDigest({**INPUTS.parts, "netbox": "changed"})
    verdicts = desired_state.assess("dc9", {"w1": ["gpu_driver"]}, {"w1": "a1"}, other, SSH, runs_dir=tmp_path,
                                    connector=answering({}))
    assert verdicts["w1"].unusable["gpu_driver"].startswith("recorded from other inputs (netbox changed since ")


# --- how drift uses the verdicts -------------------------------------------------------------------

def test_check_mode_runs_only_where_a_record_cannot_vouch_and_etcd_with_its_peers() -> None:
    s = lab_site()
    roles = phases.roles_of(s, s.hosts)
    assert roles == {"cp1": ["control_plane"], "e1": ["etcd"], "e2": ["etcd"], "e3": ["etcd"],
                     "w1": ["gpu_driver", "calico"], "w2": ["gpu_driver", "calico"]}
    assert drift_collect.check_plan(s, roles, None) == {"gpu.yml": ["w1", "w2"], "etcd.yml": ["e1", "e2", "e3"],
                                                "control_plane.yml": ["cp1"], "calico.yml": ["w1", "w2"]}
    verdicts = {h: desired_state.Verdict(h, verified=list(r)) for h, r in roles.items()}
    assert drift_collect.check_plan(s, roles, verdicts) == {}
    verdicts["w2"] = desired_state.Verdict("w2", verified=["gpu_driver"], unusable={"calico": "no record"})
    verdicts["e2"] = desired_state.Verdict("e2", differs={"etcd": []})
    verdicts["w1"] = desired_state.Verdict("w1", unreachable="down")
    assert drift_collect.check_plan(s, roles, verdicts) == {"etcd.yml": ["e1", "e2", "e3"], "calico.yml": ["w2"]}


def test_what_the_records_found_is_never_dropped() -> None:
    file_diff = desired_state.Difference("gpu_driver", "files", "/etc/a.conf", {"mode": "0644"}, {"mode": "0600"},
                                         kind="config")
    mtu = desired_state.Difference("calico", "mtu", "eth1", 9000, 1400, kind="other")
    extra = desired_state.Difference("etcd", "dirs", "/etc/etcd/x", None, {"type": "file"}, kind="not-managed")
    blacklist = drift_report.RoleDrift("gpu", "gpu_driver", "Blacklist", "config", "--- /etc/a.conf")
    hosts = [drift_report.HostDrift("w1", "c", "r1", "gpu-worker", changes=[blacklist]),
             drift_report.HostDrift("e1", "m", "r1", "etcd")]
    verdicts = {"w1": desired_state.Verdict("w1", differs={"gpu_driver": [file_diff], "calico": [mtu]}),
                "e1": desired_state.Verdict("e1", differs={"etcd": [extra]})}
    drift_collect.add_record_findings(hosts, verdicts)
    # the file's change was shown by check mode (its diff names it); the MTU was not: it is added
    assert [(c.role, c.task, c.kind) for c in hosts[0].changes] == [
        ("gpu_driver", "Blacklist", "config"), ("calico", "(recorded state) mtu: eth1", "other")]
    assert hosts[0].changes[1].diff == "eth1: recorded 9000, now 1400"
    assert hosts[0].phases == ["gpu", "calico"]
    assert [(c.kind, c.task) for c in hosts[1].changes] == [("not-managed", "(recorded state) dirs: /etc/etcd/x")]
    assert hosts[1].status == "drifted"
    assert hosts[1].phases == []  # reapply cannot remove what no role manages
    assert drift_report.DriftReport("dc9", "t", 1.0, hosts).by_kind() == {"config": ["w1"], "other": ["w1"],
                                                                     "not-managed": ["e1"]}


def test_the_program_source_is_what_the_package_ships() -> None:
    # The program is read from the installed package at run time: a copy elsewhere would drift.
    assert Path(host_state.__file__).resolve() == desired_state.PROBE_SOURCE


def test_changed_only_leaves_out_what_the_records_vouch_for(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyctl import config, rollout

    s = lab_site()
    seen: dict[str, Any] = {}

    def assess(dc: str, roles: dict[str, list[str]], addresses: dict[str, str], inputs: Any, ssh: Any,
               **_: Any) -> dict[str, desired_state.Verdict]:
        seen["roles"] = roles
        out = {h: desired_state.Verdict(h, verified=list(r)) for h, r in roles.items()}
        out["w2"] = desired_state.Verdict("w2", verified=["gpu_driver"], differs={"calico": []})
        out["e3"] = desired_state.Verdict("e3", unusable={"etcd": "no record"})
        return out

    monkeypatch.setattr(desired_state, "assess", assess)
    monkeypatch.setattr(config, "load_ssh_settings", lambda dc: SSH)
    phase_hosts = [(ph, s.group_hosts(ph.hosts)) for ph in phases.PHASES]
    kept = rollout.changed_only(s, phase_hosts)
    assert seen["roles"]["w1"] == ["gpu_driver", "calico"]
    assert [(ph.name, hosts) for ph, hosts in kept] == [
        ("preflight", ["e3", "w2"]), ("etcd", ["e3"]), ("calico", ["w2"]),
        ("smoke", ["cp1", "e1", "e2", "e3", "w1", "w2"])]
