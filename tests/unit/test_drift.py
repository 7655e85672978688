"""pyctl.drift: per-host drift from check-mode events and NetBox checks; kinds; exit codes; reapply's
phases × hosts; the reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pyctl import html_page, site
from pyctl.drift import collect as drift_collect
from pyctl.drift import reapply
from pyctl.drift import render as drift_render
from pyctl.drift import report as drift_report
from pyctl.errors import ExitCode
from pyctl.plan import load_settings
from pyctl.runner import EventCollector, RunResult, describe_change
from pyctl.smoke.report import HostReport, Outcome, SmokeReport
from tests.unit.test_artifacts import full_site


def changed(host: str, task: str, role: str, action: str, **res: Any) -> dict[str, Any]:
    return {"event": "runner_on_ok", "event_data": {"host": host, "task": task, "role": role,
                                                    "resolved_action": action, "res": {"changed": True, **res}}}


def ok(host: str, task: str = "t") -> dict[str, Any]:
    return {"event": "runner_on_ok", "event_data": {"host": host, "task": task, "res": {"changed": False}}}


def run_of(*events: dict[str, Any]) -> RunResult:
    c = EventCollector()
    for e in events:
        c(e)
    return RunResult(Path("/nonexistent"), "x", "successful", 0, c.hosts)


CONFIG_DIFF = {"before": "a=1\nrp_filter=1\n", "after": "a=1\nrp_filter=2\n",
               "before_header": "/etc/x.conf", "after_header": "/etc/x.conf"}


def smoke_of(*hosts: HostReport) -> SmokeReport:
    return SmokeReport(dc="dc9", started="t", seconds=0.1, checks=["ssh", "gpu-count"], hosts=list(hosts))


def test_diff_of_a_template_is_a_unified_diff() -> None:
    assert describe_change({"changed": True, "diff": [CONFIG_DIFF]}) == (
        "--- /etc/x.conf\n+++ /etc/x.conf\n@@ -1,2 +1,2 @@\n a=1\n-rp_filter=1\n+rp_filter=2")


def test_a_stopped_service_reads_as_its_state_change() -> None:
    res = {"changed": True, "name": "etcd.service", "state": "started", "status": {"ActiveState": "inactive"}}
    assert describe_change(res) == "etcd.service: inactive → started"


def test_loop_items_carry_their_label() -> None:
    res = {"changed": True, "results": [
        {"changed": False, "_ansible_item_label": "a"},
        {"changed": True, "_ansible_item_label": "kube-scheduler", "name": "ks.service", "state": "started",
         "status": {"ActiveState": "inactive"}}]}
    assert describe_change(res) == "[kube-scheduler] ks.service: inactive → started"


@pytest.mark.parametrize(("action", "kind"), [
    ("ansible.builtin.template", "config"), ("copy", "config"), ("ansible.posix.sysctl", "config"),
    ("ansible.builtin.systemd_service", "service"), ("ansible.builtin.service", "service"),
    ("ansible.builtin.apt", "package"), ("ansible.builtin.command", "other"), (None, "other")])
def test_kind_of_a_task_follows_its_module(action: str | None, kind: str) -> None:
    assert drift_report.kind_of(action) == kind


def test_hosts_get_their_changes_by_role_and_the_netbox_drift_apart() -> None:
    inv = full_site()
    run = run_of(changed("w1", "Write the containerd config", "gpu_driver", "ansible.builtin.template",
                         diff=[CONFIG_DIFF]),
                 changed("e2", "Start the members", "etcd", "ansible.builtin.systemd_service", name="etcd.service",
                         state="started", status={"ActiveState": "inactive"}),
                 ok("w2"), ok("e1"), ok("e3"), ok("cp1"))
    w2 = HostReport("w2", "c1", "r01", "gpu-worker", "10.0.1.12")
    w2.outcomes.append(Outcome("gpu-count", "critical", "fail", "host has 7 GPUs, NetBox says 8", "r", 0.1))
    hosts = {h.name: h for h in drift_collect.from_results(inv, [h.name for h in inv.hosts], run, smoke_of(w2))}
    assert hosts["w1"].status == "drifted"
    assert [(c.phase, c.role, c.kind, c.task) for c in hosts["w1"].changes] == [
        ("gpu", "gpu_driver", "config", "Write the containerd config")]
    assert "+rp_filter=2" in hosts["w1"].changes[0].diff
    assert hosts["e2"].phases == ["etcd"]
    assert hosts["e2"].changes[0].diff == "etcd.service: inactive → started"
    assert hosts["w2"].status == "drifted"
    assert hosts["w2"].phases == []  # NetBox drift is not a role to reapply
    assert [(n.check, n.detail) for n in hosts["w2"].netbox] == [("gpu-count", "host has 7 GPUs, NetBox says 8")]
    assert {h for h, v in hosts.items() if v.status == "in-sync"} == {"e1", "e3", "cp1"}
    report = drift_report.DriftReport("dc9", "2026-11-28T03:00:00+00:00", 1.0, list(hosts.values()))
    assert report.by_kind() == {"config": ["w1"], "service": ["e2"], "netbox": ["w2"]}
    assert report.exit_code() == ExitCode.FAILED


def test_exit_codes_in_sync_unreachable_and_failed() -> None:
    inv = full_site()
    names = [h.name for h in inv.hosts]
    found = drift_collect.from_results(inv, names, run_of(*map(ok, names)), None)
    in_sync = drift_report.DriftReport("dc9", "t", 1.0, found)
    assert in_sync.exit_code() == ExitCode.OK
    unreachable = run_of(*map(ok, names[1:]), {"event": "runner_on_unreachable", "event_data": {
        "host": names[0], "task": "Gathering Facts", "res": {"msg": "ssh: connect to host: No route"}}})
    rep = drift_report.DriftReport("dc9", "t", 1.0, drift_collect.from_results(inv, names, unreachable, None))
    assert rep.exit_code() == ExitCode.UNREACHABLE
    assert next(h for h in rep.hosts if h.name == names[0]).unreachable == "ssh: connect to host: No route"
    failing = run_of(*map(ok, names[1:]), {"event": "runner_on_failed", "event_data": {
        "host": names[0], "task": "Read the config", "res": {"failed": True, "msg": "boom"}}})
    rep = drift_report.DriftReport("dc9", "t", 1.0, drift_collect.from_results(inv, names, failing, None))
    assert rep.exit_code() == ExitCode.FAILED
    assert next(h for h in rep.hosts if h.name == names[0]).failed == "Read the config: boom"


def test_only_the_wanted_hosts_are_reported() -> None:
    inv = full_site()
    got = drift_collect.from_results(inv, ["w1"], run_of(ok("w1"), changed("w2", "x", "calico", "copy")), None)
    assert [h.name for h in got] == ["w1"]


def test_report_round_trips_through_json() -> None:
    inv = full_site()
    run = run_of(changed("w1", "Write", "calico", "ansible.builtin.template", diff=[CONFIG_DIFF]), ok("w2"))
    hosts = drift_collect.from_results(inv, ["w1", "w2"], run, None)
    report = drift_report.DriftReport("dc9", "2026-11-28T03:00:00+00:00", 2.5, hosts)
    again = drift_report.DriftReport.from_dict(report.to_dict())
    assert again.to_dict() == report.to_dict()
    assert again.drifted == ["w1"]


def test_terminal_and_html_name_the_host_task_and_diff() -> None:
    inv = full_site()
    run = run_of(changed("w1", "Write the sysctl file", "calico", "ansible.builtin.template", diff=[CONFIG_DIFF]),
                 ok("w2"))
    report = drift_report.DriftReport("dc9", "t", 2.0, drift_collect.from_results(inv, ["w1", "w2"], run, None))
    text = drift_render.render_terminal(report)
    assert text.splitlines()[0] == "drift dc9: 2 hosts in 2.0 s — 1 in sync, 1 drifted, 0 failed, 0 unreachable"
    assert "  config   1 host: w1" in text
    assert "  [config] calico: Write the sysctl file" in text
    assert "      +rp_filter=2" in text
    assert "rp_filter" not in drift_render.render_terminal(report, diffs=False)
    html = drift_render.render_html(report)
    assert "<pre>--- /etc/x.conf" in html
    assert 'class="drifted">drifted</td>' in html
    assert html.startswith("\n".join(html_page.head("pyctl drift dc9", drift_render.CSS)))  # the shared shell
    assert html.rstrip().endswith(html_page.END)


def lab_site() -> site.Site:
    inv = full_site()
    return site.load("dc9", inv, load_settings({}), require_plan=False)


def test_reapply_runs_each_drifted_role_on_its_hosts_and_etcd_with_its_peers() -> None:
    s = lab_site()
    state = reapply.reapply_state(s, {"w2": ["gpu", "calico"], "e2": ["etcd"], "w1": ["calico"]}, ["1", "100%"])
    assert [(p.name, [b.hosts for b in p.batches]) for p in state.phases] == [
        ("gpu", [["w2"]]), ("etcd", [["e1", "e2", "e3"]]), ("calico", [["w1"], ["w2"]])]



def test_a_template_rendered_on_the_controller_is_named_by_its_destination() -> None:
    entry = {**CONFIG_DIFF, "after_header": "/root/.ansible/tmp/ansible-local-1/tmp2/x.conf.j2"}
    assert describe_change({"changed": True, "diff": [entry]}).splitlines()[:2] == [
        "--- /etc/x.conf", "+++ /etc/x.conf (as the role renders it)"]


def test_reapply_targets_only_role_drift_and_names_the_rest() -> None:
    r = drift_report.RoleDrift("gpu", "gpu_driver", "Blacklist", "config", "")
    hosts = [drift_report.HostDrift("w1", "c", "r1", "gpu-worker", changes=[r]),
             drift_report.HostDrift("w2", "c", "r1", "gpu-worker", netbox=[drift_report.NetBoxDrift("gpu-count", "8")]),
             drift_report.HostDrift("w3", "c", "r1", "gpu-worker", unreachable="timed out"),
             drift_report.HostDrift("w4", "c", "r1", "gpu-worker")]
    report = drift_report.DriftReport("dc9", "t", 1.0, hosts)
    t = reapply.targets_of(report)
    assert (t.roles, t.only_netbox, t.skipped) == ({"w1": ["gpu"]}, ["w2"], {"w3": "unreachable"})
    assert reapply.targets_of(report, ["w2"]).roles == {}
