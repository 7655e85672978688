"""Rollout batches, the per-DC lock and resumable state (no hosts: a fake batch runner)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from pyctl.errors import ConfigError, ExitCode
from pyctl.phases import PHASES, Phase
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
