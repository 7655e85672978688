"""pyctl.runner's event handling, fed synthetic ansible-runner events (the shapes ansible-runner 2.4 emits)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pyctl import runner
from pyctl.errors import ConfigError, ExitCode
from pyctl.runner import EventCollector, HostResult, HostStatus, Progress, RunResult


def event(kind: str, host: str | None = None, task: str = "t", **data: Any) -> dict[str, Any]:
    event_data: dict[str, Any] = {"task": task, **data}
    if host is not None:
        event_data["host"] = host
    return {"event": kind, "uuid": "u", "counter": 1, "stdout": "", "event_data": event_data}


def ok(host: str, task: str = "t", changed: bool = False) -> dict[str, Any]:
    return event("runner_on_ok", host, task, res={"changed": changed})


def failed(host: str, task: str = "t", ignore_errors: bool = False, **res: Any) -> dict[str, Any]:
    return event("runner_on_failed", host, task, ignore_errors=ignore_errors, res={"failed": True, **res})


def unreachable(host: str, msg: str, task: str = "Gathering Facts") -> dict[str, Any]:
    return event("runner_on_unreachable", host, task, res={"unreachable": True, "msg": msg, "changed": False})


def stats(**counts: dict[str, int]) -> dict[str, Any]:
    keys = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")
    return {"event": "playbook_on_stats", "event_data": {k: counts.get(k, {}) for k in keys}}


HOST_KEY_CHANGED = (
    "Failed to connect to the host via ssh: @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\r\n"
    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\r\n"
    "Host key for 172.31.213.12 has changed and you have requested strict checking.\r\n"
    "Host key verification failed."
)


def collect(*events: dict[str, Any]) -> EventCollector:
    collector = EventCollector()
    for e in events:
        assert collector(e) is True  # every event is still written to the artifacts
    return collector


def test_ok_and_changed_tasks_are_counted_per_host() -> None:
    c = collect(ok("a", "one"), ok("a", "two", changed=True), ok("b", "one"))
    assert (c.hosts["a"].ok, c.hosts["a"].changed, c.hosts["a"].changed_tasks) == (1, 1, ["two"])
    assert c.hosts["a"].status is HostStatus.CHANGED
    assert c.hosts["b"].status is HostStatus.OK


def test_failed_task_keeps_its_name_and_message() -> None:
    c = collect(ok("a", "probe"), failed("a", "Assert swap is off", msg="Swap is on (/swapfile)"))
    result = c.hosts["a"]
    assert result.status is HostStatus.FAILED
    assert [(f.task, f.message) for f in result.failures] == [("Assert swap is off", "Swap is on (/swapfile)")]


def test_ignored_failure_does_not_fail_the_host() -> None:
    c = collect(failed("a", "optional probe", ignore_errors=True, msg="no such file"))
    assert c.hosts["a"].status is HostStatus.OK
    assert c.hosts["a"].ignored == 1
    assert c.hosts["a"].failures[0].ignored


def test_command_failure_message_includes_stderr() -> None:
    c = collect(failed("a", "df", msg="The command exited with a non-zero return code.", rc=1, stderr="df: bad"))
    assert c.hosts["a"].failures[0].message == "The command exited with a non-zero return code. df: bad"


def test_loop_failure_names_the_failing_item() -> None:
    items = [
        {"item": "/", "_ansible_item_label": "/", "rc": 0, "msg": ""},
        {"item": "/var", "_ansible_item_label": "/var", "failed": True, "msg": "/var has 1.0 GiB free"},
    ]
    c = collect(failed("a", "Assert enough free disk", msg="One or more items failed", results=items))
    assert c.hosts["a"].failures[0].message == "[/var] /var has 1.0 GiB free"


def test_unreachable_host_is_reported_with_the_ssh_message() -> None:
    c = collect(unreachable("a", "Failed to connect to the host via ssh: connect to host 10.0.0.1 port 22: No route"))
    assert c.hosts["a"].status is HostStatus.UNREACHABLE
    assert "No route" in c.hosts["a"].failures[0].message
    assert c.hosts["a"].failures[0].unreachable


def test_changed_host_key_gets_a_plain_explanation() -> None:
    c = collect(unreachable("pyctl-lab-02", HOST_KEY_CHANGED))
    message = c.hosts["pyctl-lab-02"].failures[0].message
    assert message.startswith("pyctl-lab-02: SSH host key does not match known_hosts; refusing to connect")
    assert "@@@" not in message


def test_unknown_host_key_gets_its_own_explanation() -> None:
    msg = (
        "No ED25519 host key is known for 10.0.0.9 and you have requested strict checking.\r\n"
        "Host key verification failed."
    )
    assert "no host key for this host in known_hosts" in runner.explain_unreachable("h", msg)


def test_unreachable_outranks_failed_for_a_host() -> None:
    c = collect(failed("a", "x", msg="boom"), unreachable("a", "gone"))
    assert c.hosts["a"].status is HostStatus.UNREACHABLE


def test_play_recap_is_authoritative_for_rescued_failures() -> None:
    # A failure inside block/rescue emits runner_on_failed, yet the recap counts it as rescued.
    c = collect(
        failed("a", "inside block", msg="expected"),
        ok("a", "rescue task"),
        stats(ok={"a": 3}, changed={"a": 1}, rescued={"a": 1}),
    )
    result = c.hosts["a"]
    assert (result.ok, result.changed, result.failed, result.rescued) == (2, 1, 0, 1)
    assert result.status is HostStatus.CHANGED
    assert c.stats_seen


def test_recap_adds_hosts_that_sent_no_task_events() -> None:
    c = collect(stats(ok={"a": 1, "b": 1}, dark={"b": 1}))
    assert c.hosts["b"].status is HostStatus.UNREACHABLE
    assert c.hosts["a"].status is HostStatus.OK


def test_progress_callback_sees_plays_tasks_and_results() -> None:
    seen: list[Progress] = []
    c = EventCollector(seen.append)
    for e in (
        {"event": "playbook_on_play_start", "event_data": {"play": "Ping every host"}},
        {"event": "playbook_on_task_start", "event_data": {"task": "Ping"}},
        ok("a", "Ping"),
        unreachable("b", "gone", task="Ping"),
        {"event": "verbose", "event_data": {}},
        {"event": "runner_item_on_ok", "event_data": {"host": "a", "task": "Ping", "res": {}}},
    ):
        c(e)
    assert [(p.kind, p.task, p.host) for p in seen] == [
        ("play", "Ping every host", None),
        ("task", "Ping", None),
        ("ok", "Ping", "a"),
        ("unreachable", "Ping", "b"),
    ]
    assert seen[-1].message == "gone"


def test_item_events_are_not_counted_twice() -> None:
    c = collect(
        {"event": "runner_item_on_ok", "event_data": {"host": "a", "task": "loop", "res": {"changed": True}}},
        ok("a", "loop", changed=True),
    )
    assert c.hosts["a"].changed == 1


def result_with(**statuses: HostResult) -> RunResult:
    return RunResult(run_dir=Path("/r"), ident="i", status="failed", rc=2, hosts=dict(statuses))


@pytest.mark.parametrize(
    ("hosts", "rc", "status", "expected"),
    [
        ({"a": HostResult("a", ok=1)}, 0, "successful", ExitCode.OK),
        ({"a": HostResult("a", ok=1), "b": HostResult("b", failed=1)}, 2, "failed", ExitCode.FAILED),
        ({"a": HostResult("a", unreachable=1)}, 4, "failed", ExitCode.UNREACHABLE),
        ({"a": HostResult("a", unreachable=1), "b": HostResult("b", failed=1)}, 2, "failed", ExitCode.FAILED),
        ({}, 4, "failed", ExitCode.FAILED),  # e.g. a playbook that does not parse
        ({"a": HostResult("a", ok=1)}, 254, "canceled", ExitCode.INTERRUPTED),
    ],
)
def test_exit_code_follows_the_contract(hosts: dict[str, HostResult], rc: int, status: str, expected: ExitCode) -> None:
    result = RunResult(run_dir=Path("/r"), ident="i", status=status, rc=rc, hosts=hosts)
    assert result.exit_code() is expected


def test_run_result_lists_hosts_by_status() -> None:
    result = result_with(a=HostResult("a", ok=1), b=HostResult("b", failed=1), c=HostResult("c", unreachable=1))
    assert (result.failed_hosts, result.unreachable_hosts, result.ok) == (["b"], ["c"], False)
    assert result.as_dict()["hosts"]["b"]["status"] == "failed"


def test_child_env_drops_credentials_and_puts_the_venv_first() -> None:
    inherited = {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "NETBOX_TOKEN": "nbt_secret",
        "PYCTL_NETBOX_TOKEN": "nbt_secret",
        "AWS_SECRET_ACCESS_KEY": "x",
        "ANSIBLE_VAULT_PASSWORD_FILE": "/v",
        "ANSIBLE_FORKS": "5",
        "RANDOM_THING": "y",
    }
    # What ansible-runner adds itself (its callback, artifact dir) is kept.
    prepared = {**inherited, "AWX_ISOLATED_DATA_DIR": "/run/a", "ANSIBLE_STDOUT_CALLBACK": "awx_display"}
    env = runner.child_env(prepared, inherited, bin_dir=Path("/venv/bin"))
    assert env["PATH"] == "/venv/bin:/usr/bin"
    assert env["AWX_ISOLATED_DATA_DIR"] == "/run/a"
    assert env["ANSIBLE_FORKS"] == "5"
    for gone in (
        "NETBOX_TOKEN",
        "PYCTL_NETBOX_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "ANSIBLE_VAULT_PASSWORD_FILE",
        "RANDOM_THING",
    ):
        assert gone not in env


def test_missing_playbook_is_a_config_error_before_any_run(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="playbook not found"):
        runner.run_playbook("no-such.yml", inventory={}, dc="lab", verb="ping", runs_dir=tmp_path)
    assert not (tmp_path / "lab").exists()
