"""Rollouts: phases, batches, a per-DC lock and resumable state (DESIGN.md, issue "rollout").

A rollout runs the phase playbooks in order on growing batches of hosts: a canary first, then
batch sizes as Ansible's ``serial`` reads them (``1,10%,25%,100%``: one host, then 10 % of the
phase's hosts, then 25 %, then the rest; the last size repeats). etcd members change one at a time,
so a quorum is never at risk: the phase runs the members as one batch because a cluster can only be
formed or joined with its peers present, and the etcd role restarts them one by one, each only after
the cluster is healthy again (roles/etcd/tasks/rolling_restart.yml). The last phase, ``smoke``, runs
pyctl's own checks over SSH on every host. A batch with more failed or unreachable hosts than
``max_fail`` stops the rollout. State is written after every batch; ``resume`` skips every batch
that finished. Only :mod:`pyctl.runner` runs Ansible; this module decides what runs when.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyctl.errors import ConfigError, ExitCode, PyctlError
from pyctl.procs import process_running


@dataclass(frozen=True)
class Phase:
    name: str
    playbook: str | None  # None: not a playbook (smoke runs pyctl's checks)
    hosts: str  # an inventory group
    one_batch: bool = False  # every host of the phase in one batch
    role: str | None = None  # the role that converges the hosts: its state is recorded, drift checks it


# The one phase table: rollout order, playbooks, batching, and (role) what drift and its records cover.
PHASES: tuple[Phase, ...] = (
    Phase("preflight", "preflight.yml", "all"),
    Phase("gpu", "gpu.yml", "role_gpu_worker", role="gpu_driver"),
    # One batch: the role changes one member at a time itself (rolling restarts behind a health gate).
    Phase("etcd", "etcd.yml", "role_etcd", one_batch=True, role="etcd"),
    Phase("control_plane", "control_plane.yml", "role_control_plane", role="control_plane"),
    Phase("calico", "calico.yml", "role_gpu_worker", role="calico"),
    Phase("smoke", None, "all", one_batch=True),
)
ROLE_PHASES: tuple[Phase, ...] = tuple(p for p in PHASES if p.role)
DEFAULT_BATCHES = "1,10%,25%,100%"


class LockError(PyctlError):
    """Another rollout of the same data center holds the lock."""

    exit_code = ExitCode.BAD_CONFIG


def parse_batch_sizes(spec: str) -> list[str]:
    sizes = [s.strip() for s in spec.split(",") if s.strip()]
    if not sizes:
        raise ConfigError(f"--batches needs sizes like {DEFAULT_BATCHES}, got {spec!r}")
    for s in sizes:
        number = s.removesuffix("%")
        if not number.isdigit() or int(number) < 1 or (s.endswith("%") and int(number) > 100):
            raise ConfigError(f"--batches: {s!r} is neither a host count (1, 2, …) nor a percentage (1%–100%)")
    return sizes


def batches(hosts: Sequence[str], sizes: Sequence[str]) -> list[list[str]]:
    """Split ``hosts`` as Ansible's ``serial`` does: each size is a count or a percentage of all
    hosts (rounded up, at least 1); the last size repeats until every host has a batch."""
    out: list[list[str]] = []
    i = 0
    step = 0
    while i < len(hosts):
        size = sizes[min(step, len(sizes) - 1)]
        n = math.ceil(len(hosts) * int(size[:-1]) / 100) if size.endswith("%") else int(size)
        out.append(list(hosts[i:i + max(n, 1)]))
        i += max(n, 1)
        step += 1
    return out


@dataclass
class BatchState:
    hosts: list[str]
    done: bool = False
    failed: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    run_dir: str | None = None


@dataclass
class PhaseState:
    name: str
    batches: list[BatchState]

    @property
    def done(self) -> bool:
        return all(b.done for b in self.batches)


@dataclass
class RolloutState:
    dc: str
    started: str
    phases: list[PhaseState]
    status: str = "running"  # running | stopped | interrupted | done

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> RolloutState:
        phases = [PhaseState(p["name"], [BatchState(**b) for b in p["batches"]]) for p in doc["phases"]]
        return cls(dc=doc["dc"], started=doc["started"], phases=phases, status=doc.get("status", "running"))

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        tmp.replace(path)


def new_state(dc: str, phase_hosts: Sequence[tuple[Phase, list[str]]], sizes: Sequence[str]) -> RolloutState:
    phases = []
    for phase, hosts in phase_hosts:
        split = [list(hosts)] if phase.one_batch else batches(hosts, sizes)
        phases.append(PhaseState(phase.name, [BatchState(b) for b in split]))
    return RolloutState(dc=dc, started=datetime.now(UTC).isoformat(timespec="seconds"), phases=phases)


# --- the lock ----------------------------------------------------------------------------------

class DcLock:
    """``runs/<dc>/rollout.lock``: who holds it (user, host, pid) and since when. A lock whose
    process is gone on this host is stale and taken over, with a warning."""

    def __init__(self, path: Path, warn: Callable[[str], None]) -> None:
        self.path = path
        self.warn = warn

    def __enter__(self) -> DcLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "user": os.environ.get("USER", str(os.getuid())),
              "since": datetime.now(UTC).isoformat(timespec="seconds")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder.get("host") == me["host"] and not process_running(int(holder.get("pid", 0))):
                    self.warn(f"taking over a stale lock of pid {holder.get('pid')} (since {holder.get('since')})")
                    self.path.unlink(missing_ok=True)
                    continue
                raise LockError(
                    f"another rollout of this data center is running: {holder.get('user')}@{holder.get('host')} "
                    f"pid {holder.get('pid')} since {holder.get('since')} (lock {self.path})") from None
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            return self
        raise LockError(f"could not take the lock {self.path}")

    def _holder(self) -> dict[str, Any]:
        try:
            doc: dict[str, Any] = json.loads(self.path.read_text())
            return doc
        except (OSError, ValueError):
            return {}

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


# --- running ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchResult:
    failed: list[str]
    unreachable: list[str]
    canceled: bool
    run_dir: str
    reasons: dict[str, str] = field(default_factory=dict)  # host -> why it failed (the first failure)


RunBatch = Callable[[Phase, list[str]], BatchResult]


def execute(state: RolloutState, state_path: Path, run_batch: RunBatch, *, max_fail: int,
            say: Callable[[str], None]) -> ExitCode:
    """Run every unfinished batch in order; returns the exit code. Writes state after each batch."""
    by_name = {p.name: p for p in PHASES}
    started = time.monotonic()
    total = sum(len(b.hosts) for p in state.phases for b in p.batches)
    done_hosts = sum(len(b.hosts) for p in state.phases for b in p.batches if b.done)
    state.status = "running"
    state.save(state_path)
    for ps in state.phases:
        phase = by_name[ps.name]
        for i, batch in enumerate(ps.batches, 1):
            if batch.done:
                continue
            say(f"[{time.monotonic() - started:7.1f}s] {ps.name}: batch {i}/{len(ps.batches)} "
                f"({len(batch.hosts)} host{'s' if len(batch.hosts) != 1 else ''}: {_names(batch.hosts)})")
            result = run_batch(phase, batch.hosts)
            batch.failed, batch.unreachable, batch.run_dir = result.failed, result.unreachable, result.run_dir
            if result.canceled:
                state.status = "interrupted"
                state.save(state_path)
                say(f"interrupted in {ps.name} batch {i}: state saved; `--resume` runs this batch again")
                return ExitCode.INTERRUPTED
            bad = len(result.failed) + len(result.unreachable)
            for host in result.failed + result.unreachable:
                say(f"  {'UNREACHABLE' if host in result.unreachable else 'FAILED'} {host}: "
                    f"{result.reasons.get(host, 'see ' + result.run_dir)}")
            if bad > max_fail:
                state.status = "stopped"
                state.save(state_path)
                say(f"stopped: {ps.name} batch {i} has {bad} failed/unreachable host(s) "
                    f"({_names(result.failed + result.unreachable)}), more than --max-fail {max_fail}")
                return ExitCode.UNREACHABLE if result.unreachable and not result.failed else ExitCode.FAILED
            batch.done = True
            done_hosts += len(batch.hosts)
            state.save(state_path)
            say(f"[{time.monotonic() - started:7.1f}s] {ps.name}: batch {i}/{len(ps.batches)} done; "
                f"{done_hosts}/{total} host-phases done, {bad} failed")
    state.status = "done"
    state.save(state_path)
    return ExitCode.OK


def _names(hosts: Sequence[str], most: int = 4) -> str:
    return ", ".join(hosts[:most]) + (f" … (+{len(hosts) - most})" if len(hosts) > most else "")
