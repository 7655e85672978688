"""Rollout batches, the per-DC lock and resumable state (no hosts: a fake batch runner)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

from pyctl.errors import ConfigError, ExitCode
from pyctl.phases import BEFORE, BY_NAME, PHASES, Phase
from pyctl.rollout import (
    BatchResult,
    DcLock,
    LockError,
    RolloutState,
    batches,
    execute,
    new_state,
    parse_batch_sizes,
)

HOSTS = [f"h{i:02d}" for i in range(1, 21)]


def test_default_batches_are_canary_then_10_and_25_percent_then_the_rest() -> None:
    split = batches(HOSTS, parse_batch_sizes("1,10%,25%,100%"))
    assert [len(b) for b in split] == [1, 2, 5, 12]
    assert [h for b in split for h in b] == HOSTS


def test_the_last_size_repeats_like_ansible_serial() -> None:
    assert [len(b) for b in batches(HOSTS, ["1", "5"])] == [1, 5, 5, 5, 4]


def test_percentages_round_up_to_at_least_one_host() -> None:
    assert [len(b) for b in batches(["a", "b", "c"], ["10%"])] == [1, 1, 1]


@pytest.mark.parametrize("spec", ["", "0", "1,0%", "101%", "x", "1,-2"])
def test_bad_batch_sizes_are_refused(spec: str) -> None:
    with pytest.raises(ConfigError, match=r"^--batches"):
        parse_batch_sizes(spec)


def test_etcd_members_and_smoke_go_as_one_batch() -> None:
    # A cluster forms (or a member joins) only with its peers present; the etcd role itself restarts
    # members one at a time. Smoke compares every pair of hosts, so it needs them all.
    etcd = next(p for p in PHASES if p.name == "etcd")
    smoke = next(p for p in PHASES if p.name == "smoke")
    state = new_state("dc9", [(etcd, ["e1", "e2", "e3"]), (smoke, ["e1", "e2", "e3", "w1"])], ["1", "10%"])
    assert [b.hosts for b in state.phases[0].batches] == [["e1", "e2", "e3"]]
    assert [b.hosts for b in state.phases[1].batches] == [["e1", "e2", "e3", "w1"]]
    assert [p.name for p in PHASES] == ["preflight", "gpu", "etcd", "control_plane", "calico", "smoke"]


class FakeRunner:
    """Records each batch it is asked to run; fails the hosts it is told to."""

    def __init__(self, fail: set[str] = frozenset(), unreachable: set[str] = frozenset(),  # type: ignore[assignment]
                 cancel_at: int | None = None) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.fail, self.unreachable, self.cancel_at = set(fail), set(unreachable), cancel_at

    def __call__(self, phase: Phase, hosts: list[str]) -> BatchResult:
        self.calls.append((phase.name, hosts))
        canceled = self.cancel_at is not None and len(self.calls) == self.cancel_at
        return BatchResult(failed=[h for h in hosts if h in self.fail],
                           unreachable=[h for h in hosts if h in self.unreachable], canceled=canceled, run_dir="x")


def _state(tmp_path: Path) -> tuple[RolloutState, Path]:
    pre, gpu = PHASES[0], PHASES[1]
    return new_state("dc9", [(pre, HOSTS[:10]), (gpu, HOSTS[:10])], ["1", "3", "100%"]), tmp_path / "state.json"


def test_a_batch_over_max_fail_stops_and_resume_reruns_nothing_finished(tmp_path: Path) -> None:
    state, path = _state(tmp_path)
    first = FakeRunner(fail={"h03"})  # h03 is in batch 2 of preflight
    assert execute(state, path, first, max_fail=0, say=lambda m: None) == ExitCode.FAILED
    assert first.calls == [("preflight", ["h01"]), ("preflight", ["h02", "h03", "h04"])]
    saved = RolloutState.from_dict(json.loads(path.read_text()))
    assert saved.status == "stopped"
    assert [b.done for b in saved.phases[0].batches] == [True, False, False]
    assert saved.phases[0].batches[1].failed == ["h03"]

    again = FakeRunner()  # the host is back
    assert execute(saved, path, again, max_fail=0, say=lambda m: None) == ExitCode.OK
    assert again.calls[0] == ("preflight", ["h02", "h03", "h04"])  # batch 1 is not run again
    assert ("preflight", ["h01"]) not in again.calls
    assert RolloutState.from_dict(json.loads(path.read_text())).status == "done"


def test_max_fail_lets_a_batch_with_that_many_failures_go_on(tmp_path: Path) -> None:
    state, path = _state(tmp_path)
    runner = FakeRunner(fail={"h05"})
    assert execute(state, path, runner, max_fail=1, say=lambda m: None) == ExitCode.OK
    assert len(runner.calls) == 6


def test_only_unreachable_hosts_give_exit_4(tmp_path: Path) -> None:
    state, path = _state(tmp_path)
    assert execute(state, path, FakeRunner(unreachable={"h01"}), max_fail=0, say=lambda m: None) == 4


def test_an_interrupt_leaves_a_resumable_state(tmp_path: Path) -> None:
    state, path = _state(tmp_path)
    assert execute(state, path, FakeRunner(cancel_at=2), max_fail=0, say=lambda m: None) == ExitCode.INTERRUPTED
    saved = RolloutState.from_dict(json.loads(path.read_text()))
    assert saved.status == "interrupted"
    assert [b.done for b in saved.phases[0].batches] == [True, False, False]


def test_a_second_rollout_of_the_same_dc_is_refused_naming_the_holder(tmp_path: Path) -> None:
    lock = tmp_path / "rollout.lock"
    with DcLock(lock, warn=print), pytest.raises(LockError) as err, DcLock(lock, warn=print):
        pass
    assert err.value.message.startswith("another rollout of this data center is running: ")
    assert f"pid {os.getpid()} since " in err.value.message
    assert not lock.exists()  # released by its holder


def test_a_stale_lock_is_taken_over_with_a_warning(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = tmp_path / "rollout.lock"
    lock.write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename, "user": "x", "since": "then"}))
    warnings: list[str] = []
    with DcLock(lock, warn=warnings.append):
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert warnings == [f"taking over a stale lock of pid {dead.pid} (since then)"]


class GraphRunner:
    """Records when each batch starts and ends, holds a phase's batch until another phase has started
    (when told to), and fails the hosts it is told to in the phase it is told to."""

    def __init__(self, hold: dict[str, str] | None = None, fail: dict[str, set[str]] | None = None,
                 until: dict[str, threading.Event] | None = None) -> None:
        self.log: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.started = {p.name: threading.Event() for p in PHASES}
        self.hold = hold or {}
        self.fail = fail or {}
        self.until = until or {}  # a phase whose batch ends only once this event is set

    def __call__(self, phase: Phase, hosts: list[str]) -> BatchResult:
        with self.lock:
            self.log.append(("start", phase.name))
        self.started[phase.name].set()
        beside = self.hold.get(phase.name)
        if beside:  # a phase that must run beside this one, or the test fails after 10 s
            assert self.started[beside].wait(10), f"{beside} never ran beside {phase.name}"
        if phase.name in self.until:
            assert self.until[phase.name].wait(10), f"{phase.name} waited in vain"
        with self.lock:
            self.log.append(("end", phase.name))
        failed = [h for h in hosts if h in self.fail.get(phase.name, set())]
        return BatchResult(failed=failed, unreachable=[], canceled=False, run_dir="x")

    def ended_before_started(self, first: str, then: str) -> bool:
        return self.log.index(("end", first)) < self.log.index(("start", then))


def _site_state(sizes: list[str] | None = None) -> RolloutState:
    """A lab-shaped DC: 3 etcd members, a control plane, 4 GPU workers; every phase."""
    etcd, cp, gpu = ["e1", "e2", "e3"], ["c1"], ["w1", "w2", "w3", "w4"]
    hosts = {"preflight": etcd + cp + gpu, "gpu": gpu, "etcd": etcd, "control_plane": cp, "calico": gpu,
             "smoke": etcd + cp + gpu}
    return new_state("dc9", [(p, hosts[p.name]) for p in PHASES], sizes or ["1", "100%"])


def test_the_gpu_workers_and_the_management_hosts_converge_side_by_side(tmp_path: Path) -> None:
    state = _site_state()
    # gpu's canary waits until etcd has started: in line (one phase after another) it would wait forever.
    runner = GraphRunner(hold={"gpu": "etcd"})
    assert execute(state, tmp_path / "s.json", runner, max_fail=0, say=lambda m: None) == ExitCode.OK
    # What the graph still orders: preflight before both lanes, etcd before the control plane, calico
    # after the GPU workers' driver and the control plane, smoke after everything.
    assert runner.ended_before_started("preflight", "gpu")
    assert runner.ended_before_started("preflight", "etcd")
    assert runner.ended_before_started("etcd", "control_plane")
    assert runner.ended_before_started("gpu", "calico")
    assert runner.ended_before_started("control_plane", "calico")
    assert runner.ended_before_started("calico", "smoke")
    assert RolloutState.from_dict(json.loads((tmp_path / "s.json").read_text())).status == "done"


def test_phases_that_share_a_host_never_run_at_once_even_where_the_table_lets_them(tmp_path: Path) -> None:
    # Two phases the graph would run side by side (gpu and etcd), given a host in common: they go in order.
    gpu, etcd = BY_NAME["gpu"], BY_NAME["etcd"]
    state = new_state("dc9", [(gpu, ["w1", "x"]), (etcd, ["e1", "x"])], ["100%"])
    runner = GraphRunner()
    assert execute(state, tmp_path / "s.json", runner, max_fail=0, say=lambda m: None) == ExitCode.OK
    assert runner.log == [("start", "gpu"), ("end", "gpu"), ("start", "etcd"), ("end", "etcd")]


def test_a_phase_waits_for_the_phases_before_it_that_it_does_not_name(tmp_path: Path) -> None:
    # calico comes after control_plane, which comes after etcd: with only etcd and calico chosen
    # (`--phase etcd --phase calico`), calico still waits for etcd.
    assert BEFORE["calico"] == {"preflight", "gpu", "etcd", "control_plane"}
    state = new_state("dc9", [(BY_NAME["etcd"], ["e1"]), (BY_NAME["calico"], ["w1"])], ["100%"])
    runner = GraphRunner()
    assert execute(state, tmp_path / "s.json", runner, max_fail=0, say=lambda m: None) == ExitCode.OK
    assert runner.ended_before_started("etcd", "calico")


def test_the_table_order_is_one_the_graph_allows() -> None:
    # site.yml runs the phases in the table's order: every phase comes after those it waits for.
    names = [p.name for p in PHASES]
    for phase in PHASES:
        assert all(names.index(first) < names.index(phase.name) for first in phase.after), phase.name


def test_a_stop_in_one_lane_lets_the_other_lanes_running_batch_finish_and_starts_nothing_more(
        tmp_path: Path) -> None:
    state = _site_state(["1", "100%"])
    path = tmp_path / "s.json"
    # w1 (gpu's canary) fails while etcd's one batch runs beside it: etcd's batch ends only once the
    # stop is said, so the control plane (which waits for etcd alone) is not started by a race.
    said_stop = threading.Event()
    runner = GraphRunner(hold={"gpu": "etcd"}, fail={"gpu": {"w1"}}, until={"etcd": said_stop})
    messages: list[str] = []

    def say(message: str) -> None:
        messages.append(message)
        if message.startswith("stopped:"):
            said_stop.set()

    assert execute(state, path, runner, max_fail=0, say=say) == ExitCode.FAILED
    saved = RolloutState.from_dict(json.loads(path.read_text()))
    assert saved.status == "stopped"
    phases = {ps.name: ps for ps in saved.phases}
    assert [b.done for b in phases["gpu"].batches] == [False, False]
    assert phases["gpu"].batches[0].failed == ["w1"]
    assert [b.done for b in phases["etcd"].batches] == [True]  # it was running: it finished, and says so
    started = [name for what, name in runner.log if what == "start"]
    assert set(started) == {"preflight", "gpu", "etcd"}
    assert any(m.startswith("stopped: gpu batch 1 has 1 failed/unreachable host(s) (w1)") for m in messages)

    again = GraphRunner()  # resume: etcd is not run again; the rest is
    assert execute(saved, path, again, max_fail=0, say=lambda m: None) == ExitCode.OK
    assert [name for what, name in again.log if what == "start"].count("etcd") == 0
    assert ("start", "control_plane") in again.log


def test_a_cancel_set_from_outside_starts_no_batch_and_leaves_a_resumable_state(tmp_path: Path) -> None:
    state = _site_state()
    cancel = threading.Event()
    cancel.set()
    runner = GraphRunner()
    path = tmp_path / "s.json"
    assert execute(state, path, runner, max_fail=0, say=lambda m: None, cancel=cancel) == ExitCode.INTERRUPTED
    assert runner.log == []
    assert RolloutState.from_dict(json.loads(path.read_text())).status == "interrupted"


def test_an_error_in_one_phase_cancels_the_others_and_goes_up(tmp_path: Path) -> None:
    state = _site_state()
    cancel = threading.Event()
    seen: list[bool] = []

    def runner(phase: Phase, hosts: list[str]) -> BatchResult:
        if phase.name == "gpu":
            raise ConfigError("playbook vanished")
        if phase.name == "etcd":
            seen.append(cancel.wait(10))  # set by the scheduler when gpu's error reaches it
        return BatchResult(failed=[], unreachable=[], canceled=phase.name == "etcd", run_dir="x")

    with pytest.raises(ConfigError, match="playbook vanished"):
        execute(state, tmp_path / "s.json", runner, max_fail=0, say=lambda m: None, cancel=cancel)
    assert seen == [True]


# --- resume knows what changed ---------------------------------------------------------------------

def _site(*workers: str):  # type: ignore[no-untyped-def]
    from pyctl import inventory
    from pyctl import site as site_mod
    from tests.unit.test_artifacts import device, site

    records = site(device("e1", "etcd", cluster="mgmt", ip="10.0.0.11/24"),
                   *(device(w, ip=f"10.0.1.{10 + i}/24") for i, w in enumerate(workers, 1)))
    return site_mod.load("dc9", inventory.build(records), site_mod.plan_settings("dc9", site_mod.SiteFlags()),
                         require_plan=False)


def _planned(site, sizes: list[str]) -> RolloutState:  # type: ignore[no-untyped-def]
    """A state as `pyctl rollout` plans it, with the inputs run_batches records when it starts."""
    from pyctl import digest, rollout

    state = new_state("dc9", rollout.phase_hosts(site, ["gpu"], None), sizes)
    state.inputs = dict(digest.of_site(site).parts)
    state.hosts_known = list(site.hosts)
    return state


def test_a_resume_with_the_same_inputs_goes_on_and_one_with_other_inputs_is_refused_naming_them() -> None:
    from pyctl.rollout import prepare_resume

    before = _site("w1", "w2", "w3")
    state = _planned(before, ["1", "100%"])
    state.phases[0].batches[0].done = True
    said: list[str] = []
    prepare_resume(_site("w1", "w2", "w3"), state, replan_ok=False, say=said.append)
    assert said == []
    saved = json.dumps(state.to_dict())
    with pytest.raises(ConfigError) as err:
        prepare_resume(_site("w1", "w3", "w4"), state, replan_ok=False, say=said.append)
    assert err.value.message == (
        f"refusing to resume the rollout of dc9 started {state.started}: its inputs changed since it was planned: "
        "netbox (the hosts NetBox gives). The batches still to run would converge hosts "
        "from other inputs than the finished ones. `--resume --replan` goes on with today's inputs (finished "
        "batches are not run again; `pyctl drift dc9` then names the hosts that differ), or start a new rollout "
        "without --resume")
    assert json.dumps(state.to_dict()) == saved  # refused: the state is as it was


def test_a_state_that_recorded_no_inputs_is_not_resumed_without_replan() -> None:
    from pyctl.rollout import prepare_resume

    state = _planned(_site("w1"), ["100%"])
    state.inputs = None  # written by a pyctl that did not record them
    with pytest.raises(ConfigError, match=r"its inputs changed since it was planned: not known \(the state records "
                                          r"no inputs: an older pyctl wrote it\)"):
        prepare_resume(_site("w1"), state, replan_ok=False)


def test_replan_drops_hosts_gone_from_the_batches_to_run_names_new_ones_and_records_why() -> None:
    from pyctl import digest
    from pyctl.rollout import prepare_resume

    state = _planned(_site("w1", "w2", "w3", "w5"), ["1", "2", "100%"])
    assert [b.hosts for b in state.phases[0].batches] == [["w1"], ["w2", "w3"], ["w5"]]
    state.phases[0].batches[0].done = True
    today = _site("w1", "w3", "w4")  # w2 and w5 left NetBox, w4 came
    said: list[str] = []
    prepare_resume(today, state, replan_ok=True, say=said.append)
    gpu = state.phases[0]
    assert [(b.hosts, b.done) for b in gpu.batches] == [(["w1"], True), (["w3"], False)]  # w5's batch went
    assert said[0].startswith("replanned on today's inputs (netbox changed since ")
    assert said[1:] == ["  gpu: w2 no longer in it today: left out", "  gpu: w5 no longer in it today: left out",
                        "  gpu: w4 new today: not in this rollout (roll them out after it: "
                        "`pyctl rollout dc9 --changed-only`)"]
    assert state.inputs == dict(digest.of_site(today).parts)
    assert state.hosts_known == ["e1", "w1", "w3", "w4"]
    assert [r["changed"] for r in state.replans] == [["netbox"]]
    assert RolloutState.from_dict(json.loads(json.dumps(state.to_dict()))) == state  # the state keeps it
    said.clear()
    prepare_resume(today, state, replan_ok=True, say=said.append)
    assert said == ["--replan: the inputs are those the rollout was planned from; nothing to replan"]


def test_the_smoke_phases_settings_are_read_before_the_first_host_changes(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from pyctl import rollout
    from pyctl.config import group_vars_dir

    monkeypatch.setenv("PYCTL_RUNS_DIR", str(tmp_path))
    site = _site("w1")
    state = new_state("dc9", rollout.phase_hosts(site, ["gpu", "smoke"], None), ["100%"])
    assert [ps.name for ps in state.phases] == ["gpu", "smoke"]
    with pytest.raises(ConfigError) as err:
        rollout.run_batches(site, state, tmp_path / "state.json", "rollout", max_fail=0)
    missing = group_vars_dir("dc9") / "all" / "connection.yml"
    assert err.value.message.startswith(f"no SSH settings for dc9: {missing} is missing")
    assert list(tmp_path.iterdir()) == []  # no lock, no run directory, no state: no host was touched
    state.phases[1].batches[0].done = True  # smoke already done: nothing later needs them
    rollout.check_later_settings(site, state)


# --- failure domains -------------------------------------------------------------------------------

def _racked() -> dict[str, tuple[str, str]]:
    """Two clusters; c1 over racks r1 (3 hosts), r2 (3), r3 (2); c2 in r1 (2). Names do not follow racks."""
    return {"a1": ("c1", "r2"), "a2": ("c1", "r1"), "a3": ("c1", "r3"), "a4": ("c1", "r1"), "a5": ("c1", "r2"),
            "a6": ("c1", "r1"), "a7": ("c1", "r3"), "a8": ("c1", "r2"), "b1": ("c2", "r1"), "b2": ("c2", "r1")}


def test_the_canary_is_the_first_host_of_a_rack_and_no_batch_spans_racks_or_clusters() -> None:
    from pyctl.rollout import rack_batches

    domains = _racked()
    split = rack_batches(sorted(domains), ["1", "100%"], domains)
    # The canary a1, the first host of the first rack (r2, as the phase lists its hosts), then rack by rack
    # in that order, each batch cut at its rack's end.
    assert split == [["a1"], ["a5", "a8"], ["a2", "a4", "a6"], ["a3", "a7"], ["b1", "b2"]]
    assert sorted(h for b in split for h in b) == sorted(domains)
    for b in split[1:]:
        assert len({domains[h] for h in b}) == 1


def test_max_racks_lets_a_batch_take_that_many_racks_of_one_cluster_and_sizes_still_bound_it() -> None:
    from pyctl.rollout import rack_batches

    domains = _racked()
    assert rack_batches(sorted(domains), ["1", "100%"], domains, max_racks=2) == [
        ["a1"], ["a5", "a8", "a2", "a4", "a6"], ["a3", "a7"], ["b1", "b2"]]
    # A size smaller than a rack still bounds the batch, as Ansible's serial does.
    assert rack_batches(sorted(domains), ["1", "2"], domains, max_racks=3) == [
        ["a1"], ["a5", "a8"], ["a2", "a4"], ["a6", "a3"], ["a7"], ["b1", "b2"]]


def test_hosts_without_a_rack_are_one_domain_per_cluster_and_plain_sizes_apply() -> None:
    from pyctl.rollout import rack_batches

    domains = {h: ("c1", "") for h in HOSTS[:10]}
    assert rack_batches(HOSTS[:10], ["1", "3", "100%"], domains) == batches(HOSTS[:10], ["1", "3", "100%"])


def test_a_rollout_batches_by_netbox_racks(monkeypatch: pytest.MonkeyPatch) -> None:
    from pyctl import rollout

    site = _site("w1", "w2", "w3")
    domains = rollout.failure_domains(site)
    assert domains["w1"] == ("c1", "r01")  # the cluster and the rack NetBox gives
    monkeypatch.setitem(domains, "w2", ("c1", "r02"))
    state = new_state("dc9", rollout.phase_hosts(site, ["preflight", "gpu"], None), ["1", "100%"], domains)
    preflight, gpu = state.phases
    assert [b.hosts for b in gpu.batches] == [["w1"], ["w3"], ["w2"]]
    # preflight changes nothing: its batches are the plain sizes over every host, racks and clusters mixed
    assert [b.hosts for b in preflight.batches] == [["e1"], ["w1", "w2", "w3"]]


@pytest.mark.parametrize("racks", ["0", "-1"])
def test_max_racks_below_one_is_refused_before_netbox_is_asked(racks: str, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from pyctl.cli.main import main

    monkeypatch.delenv("NETBOX_URL", raising=False)
    assert main(["rollout", "dc2", "--max-racks", racks, "--dry-run"]) == 3
    assert capsys.readouterr().err == f"pyctl: error: --max-racks must be 1 or more, got {racks}\n"


# --- health gates between batches -------------------------------------------------------------------

class FakeGate:
    """Records the hosts each gate is asked to check; fails the hosts it is told to."""

    def __init__(self, fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.calls: list[tuple[str, list[str]]] = []
        self.fail = set(fail)

    def __call__(self, phase: Phase, hosts: list[str]) -> BatchResult:
        self.calls.append((phase.name, hosts))
        bad = [h for h in hosts if h in self.fail]
        return BatchResult(failed=bad, unreachable=[], canceled=False, run_dir="gate-run",
                           reasons={h: "gpu-count: host has 7 GPUs, NetBox says 8" for h in bad})


def test_a_failed_gate_stops_before_the_next_batch_and_resume_runs_the_batch_and_its_gate_again(
        tmp_path: Path) -> None:
    state, path = _state(tmp_path)
    runner, gate, said = FakeRunner(), FakeGate(fail={"h01"}), []
    assert execute(state, path, runner, max_fail=0, say=said.append, gate=gate) == ExitCode.FAILED
    # preflight changes nothing: no gate; the gpu canary converged, failed its gate, and nothing more ran
    assert gate.calls == [("gpu", ["h01"])]
    assert runner.calls[-1] == ("gpu", ["h01"])
    assert ("gpu", ["h02", "h03", "h04"]) not in runner.calls
    assert "  FAILED h01: gate gpu-count: host has 7 GPUs, NetBox says 8" in said
    assert said[-1] == ("stopped: the health gate after gpu batch 1 failed on h01 (1 failed/unreachable host(s), "
                        "more than --max-fail 0); the next batch did not start. Repair, then `--resume` runs this "
                        "batch and its gate again")
    saved = RolloutState.from_dict(json.loads(path.read_text()))
    assert saved.status == "stopped"
    assert [b.done for b in saved.phases[1].batches] == [False, False, False]
    assert saved.phases[1].batches[0].gate == {
        "checks": list(BY_NAME["gpu"].gate), "failed": {"h01": "gpu-count: host has 7 GPUs, NetBox says 8"},
        "unreachable": [], "run_dir": "gate-run"}

    again, healthy = FakeRunner(), FakeGate()  # repaired
    assert execute(saved, path, again, max_fail=0, say=lambda m: None, gate=healthy) == ExitCode.OK
    assert again.calls[0] == ("gpu", ["h01"])  # the gated batch runs again, then its gate
    assert healthy.calls == [("gpu", ["h01"]), ("gpu", ["h02", "h03", "h04"]), ("gpu", HOSTS[4:10])]


def test_the_gate_checks_only_the_hosts_the_batch_converged_and_its_failures_count_with_theirs(
        tmp_path: Path) -> None:
    gpu = BY_NAME["gpu"]
    state, path = new_state("dc9", [(gpu, HOSTS[:6])], ["1", "100%"]), tmp_path / "state.json"
    gate = FakeGate(fail={"h04"})
    # max-fail 2: h03 fails in Ansible (not gated), h04 fails its gate: 2 failed hosts, within the budget
    assert execute(state, path, FakeRunner(fail={"h03"}), max_fail=2, say=lambda m: None, gate=gate) == ExitCode.OK
    assert gate.calls == [("gpu", ["h01"]), ("gpu", ["h02", "h04", "h05", "h06"])]

    state, path = new_state("dc9", [(gpu, HOSTS[:6])], ["1", "100%"]), tmp_path / "state2.json"
    assert execute(state, path, FakeRunner(fail={"h03"}), max_fail=1, say=lambda m: None,
                   gate=FakeGate(fail={"h04"})) == ExitCode.FAILED
    # a batch over --max-fail in Ansible is not gated at all
    gate = FakeGate()
    state, path = new_state("dc9", [(gpu, HOSTS[:6])], ["1", "100%"]), tmp_path / "state3.json"
    assert execute(state, path, FakeRunner(fail={"h02", "h03"}), max_fail=1, say=lambda m: None,
                   gate=gate) == ExitCode.FAILED
    assert gate.calls == [("gpu", ["h01"])]


def test_every_phase_that_converges_a_role_has_a_gate_of_known_checks() -> None:
    from pyctl.smoke.checks import CHECK_NAMES

    assert {p.name for p in PHASES if p.gate} == {p.name for p in PHASES if p.role}
    for p in PHASES:
        assert set(p.gate) <= set(CHECK_NAMES), p.name
    assert "etcd-disk" in BY_NAME["etcd"].gate  # the disk limits gate by default
    assert BY_NAME["etcd"].gate_hosts == "role_etcd"


def test_the_etcd_gate_checks_every_member_of_the_clusters_the_batch_touched() -> None:
    from pyctl import inventory
    from pyctl import site as site_mod
    from pyctl.rollout import gate_hosts
    from tests.unit.test_artifacts import device, site

    records = site(*(device(f"e{i}", "etcd", cluster="mgmt", ip=f"10.0.0.{10 + i}/24") for i in (1, 2, 3)),
                   *(device(f"f{i}", "etcd", cluster="mgmt2", ip=f"10.0.2.{10 + i}/24") for i in (1, 2, 3)),
                   device("w1", ip="10.0.1.11/24"))
    s = site_mod.load("dc9", inventory.build(records), site_mod.plan_settings("dc9", site_mod.SiteFlags()),
                      require_plan=False)
    assert gate_hosts(s, BY_NAME["etcd"], ["e2"]) == ["e1", "e2", "e3"]
    assert gate_hosts(s, BY_NAME["gpu"], ["w1"]) == ["w1"]
