"""The command line: help that teaches, exit codes, and errors before any NetBox call."""

from __future__ import annotations

import json

import pytest

from pyctl.cli.main import build_parser, main


def test_help_lists_the_commands_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for text in ("inventory", "plan", "dev", "pyctl inventory dc2 --json", "NETBOX_URL",
                 "3 bad configuration or\ninventory data"):
        assert text in out


def test_inventory_and_ansible_output_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["inventory", "dc2", "--json", "--ansible"])
    assert exc.value.code == 2
    assert "not allowed with argument --json" in capsys.readouterr().err


def test_missing_netbox_url_is_exit_3_with_a_json_error(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("NETBOX_URL", raising=False)
    assert main(["inventory", "dc2", "--json"]) == 3
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"ok": False, "error": "no NetBox URL: set NETBOX_URL or pass --netbox-url",
                                        "problems": [], "exit_code": 3}
    assert captured.err == "pyctl: error: no NetBox URL: set NETBOX_URL or pass --netbox-url\n"


@pytest.mark.parametrize(("rtt", "message"), [
    ("a,b", "--rtt takes HOST_A,HOST_B=MILLISECONDS, got 'a,b'"),
    ("a=1", "--rtt takes HOST_A,HOST_B=MILLISECONDS, got 'a=1'"),
    ("a,b=x", "--rtt takes HOST_A,HOST_B=MILLISECONDS, got 'a,b=x'"),
    ("a,b=-1", "--rtt must be a positive number of milliseconds, got 'a,b=-1'"),
])
def test_bad_rtt_values_are_refused(rtt: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "dc2", "--rtt", rtt]) == 3
    assert capsys.readouterr().err == f"pyctl: error: {message}\n"


def test_missing_settings_file_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "dc2", "--settings", "/nonexistent/policy.yml"]) == 3
    assert capsys.readouterr().err == "pyctl: error: settings file not found: /nonexistent/policy.yml\n"


def test_unknown_policy_key_is_named_before_netbox_is_read(tmp_path: object,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    policy = Path(str(tmp_path)) / "policy.yml"
    policy.write_text("pyctl_plan:\n  encapsulation: vxlan\n")
    assert main(["plan", "dc2", "--settings", str(policy)]) == 3
    assert "pyctl_plan.encapsulation" in capsys.readouterr().err


def test_extra_vars_are_parsed_as_yaml() -> None:
    from pyctl.cli.run import _extra_vars

    assert _extra_vars(["a=1", "b=[x, y]", "c=text", "d="]) == {"a": 1, "b": ["x", "y"], "c": "text", "d": None}


@pytest.mark.parametrize("bad", ["novalue", "=1", "not a name=1"])
def test_extra_vars_need_a_variable_name(bad: str) -> None:
    from pyctl.cli.run import _extra_vars
    from pyctl.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^-e takes KEY=VALUE with KEY a variable name, got "):
        _extra_vars([bad])


def test_inventory_listing_becomes_a_loadable_inventory_file() -> None:
    from pyctl.site import to_inventory_file as _script_to_yaml_inventory

    listing = {"_meta": {"hostvars": {"h1": {"ansible_host": "10.0.0.1"}, "h2": {"ansible_host": "10.0.0.2"}}},
               "all": {"children": ["ungrouped", "role_etcd"]}, "role_etcd": {"hosts": ["h1", "h2"]}}
    assert _script_to_yaml_inventory(listing) == {"all": {
        "hosts": {"h1": {"ansible_host": "10.0.0.1"}, "h2": {"ansible_host": "10.0.0.2"}},
        "children": {"role_etcd": {"hosts": {"h1": None, "h2": None}}}}}


def test_rollout_help_shows_the_batch_sizes_as_typed(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["rollout", "--help"])
    out = capsys.readouterr().out
    assert "--batches 1,50% --max-fail 1" in out
    assert "%%" not in out


def test_counts_are_singular_for_one() -> None:
    from pyctl.cli.common import count

    assert count(1, "host") == "1 host"
    assert count(2, "host") == "2 hosts"
    assert count(0, "cluster") == "0 clusters"
    assert count(1, "batch", "batches") == "1 batch"
    assert count(3, "batch", "batches") == "3 batches"


def test_batch_lines_say_one_batch_and_several_batches() -> None:
    from pyctl import rollout
    from pyctl.cli.common import render_batches
    from pyctl.phases import BY_NAME

    state = rollout.new_state("dc9", [(BY_NAME["etcd"], ["e1", "e2", "e3"]), (BY_NAME["gpu"], ["w1", "w2"])], ["1"])
    lines = render_batches(state)
    assert lines[0].split() == ["etcd", "1", "batch:", "3"]
    assert lines[1].strip() == ("gate after each batch, on every etcd member of the batch's clusters: etcd-health, "
                                "etcd-leader, etcd-members, etcd-db-size, etcd-disk, cert-expiry")
    assert lines[2].split() == ["gpu", "2", "batches:", "1", "→", "1"]
    assert lines[3].strip().startswith("gate after each batch, on the batch's hosts: gpu-count, gpu-model, ")
    state.phases[1].batches[0].done = state.phases[1].batches[1].done = True
    assert render_batches(state)[2:] == ["  gpu            2 batches: 1✓ → 1✓  (done)"]  # no gate left to run


def test_inventory_table_says_one_host() -> None:
    from pyctl.cli.inventory import render_inventory
    from pyctl.inventory import Cluster, Host, Inventory

    host = Host(name="w1", site="dc9", rack="r1", role="gpu-worker", cluster="c1", address="10.0.0.1",
                address_cidr="10.0.0.1/24", underlay_nic="eth1", underlay_mtu=9000, platform=None, status="active",
                device_type="x")
    inv = Inventory(site="dc9", clusters=(Cluster(name="c1", kind="workload", hosts=(host,)),))
    assert "cluster c1 (workload, 1 host)" in render_inventory(inv)


def test_load_site_reads_the_site_policy_before_netbox(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from pyctl import site
    from pyctl.errors import ConfigError

    monkeypatch.delenv("NETBOX_URL", raising=False)
    with pytest.raises(ConfigError, match="settings file not found"):
        site.load_site("dc2", site.SiteFlags(settings=str(tmp_path / "none.yml")))


@pytest.mark.parametrize("verb", ["plan", "run", "rollout", "drift", "reapply", "smoke"])
def test_every_verb_that_plans_takes_the_same_plan_flags(verb: str) -> None:
    from pyctl.cli.common import site_flags

    extra = ["ping"] if verb == "run" else []
    args = build_parser(verb).parse_args([verb, "dc2", *extra, "--settings", "p.yml", "--rtt", "a,b=0.4"])
    flags = site_flags(args)
    assert (flags.settings, flags.rtts) == ("p.yml", {("a", "b"): 0.4})


def test_the_measured_rtts_reach_the_sites_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyctl import site
    from pyctl.plan import compute_plan, load_settings
    from tests.unit.test_artifacts import full_site

    seen: list[object] = []

    def spy(inventory: object, settings: object, rtts: object = None) -> object:
        seen.append(rtts)
        return compute_plan(inventory, settings, rtts)  # type: ignore[arg-type]

    monkeypatch.setattr(site, "compute_plan", spy)
    rtts = {("e1", "e2"): 2.0}
    site.load("dc9", full_site(), load_settings({}), require_plan=False, rtts=rtts)
    assert seen == [rtts]


def test_replan_without_resume_is_refused_before_netbox_is_asked(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("NETBOX_URL", raising=False)  # reaching NetBox would be another error
    assert main(["rollout", "dc2", "--replan", "--yes"]) == 3
    assert capsys.readouterr().err == (
        "pyctl: error: --replan goes with --resume: it replans the batches a stopped rollout has still to run\n")
