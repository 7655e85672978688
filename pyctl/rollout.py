"""Rollouts: phases, batches, a per-DC lock and resumable state (DESIGN.md, issue "rollout").

A rollout runs the phase playbooks in the phase table's order (a graph: phases on hosts of their own,
the GPU workers' gpu and the management hosts' etcd → control_plane, go side by side; see
:mod:`pyctl.phases`), each on growing batches of hosts: a canary first, then
batch sizes as Ansible's ``serial`` reads them (``1,10%,25%,100%``: one host, then 10 % of the
phase's hosts, then 25 %, then the rest; the last size repeats). etcd members change one at a time,
so a quorum is never at risk: the phase runs the members as one batch because a cluster can only be
formed or joined with its peers present, and the etcd role restarts them one by one, each only after
the cluster is healthy again (roles/etcd/tasks/rolling_restart.yml). The last phase, ``smoke``, runs
pyctl's own checks over SSH on every host. After each batch of a phase that converges a role, its
health gate (the phase table's ``gate`` checks) runs on the batch's hosts that converged, every etcd
member of their clusters after the etcd batch: a host that fails a gate check is a failed host of the
batch. A batch with more failed or unreachable hosts than ``max_fail`` stops the rollout, unfinished:
``resume`` runs it, and its gate, again. State is written after every batch; ``resume`` skips every
batch that finished. Only :mod:`pyctl.runner` runs Ansible; this module decides what runs when.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyctl import artifacts, config, desired_state, digest
from pyctl import site as site_mod
from pyctl.errors import CheckFailed, ConfigError, ExitCode, PyctlError
from pyctl.paths import PLAYBOOKS
from pyctl.phases import BEFORE, BY_NAME, PHASES, Phase, roles_of
from pyctl.plan import group_vars
from pyctl.procs import process_running
from pyctl.rundir import new_run_dir, runs_root, write_json
from pyctl.runner import run_playbook, sigint_cancels
from pyctl.smoke.checks import select_checks
from pyctl.smoke.render import render_terminal
from pyctl.smoke.report import SmokeReport
from pyctl.smoke.run import smoke, smoke_settings

DEFAULT_BATCHES = "1,10%,25%,100%"
DEFAULT_MAX_RACKS = 1  # after the canary, a batch takes the hosts of this many racks at most


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
    return rack_batches(hosts, sizes, {})


Domain = tuple[str, str]  # a host's failure domain: (cluster, rack); "" for a host NetBox gives no rack
NO_DOMAIN: Domain = ("", "")


def failure_domains(site: site_mod.Site) -> dict[str, Domain]:
    """Each host's cluster and rack, as NetBox gives them."""
    return {h.name: (h.cluster, h.rack or "") for h in site.inventory.hosts}


def rack_batches(hosts: Sequence[str], sizes: Sequence[str], domains: Mapping[str, Domain], *,
                 max_racks: int = DEFAULT_MAX_RACKS) -> list[list[str]]:
    """:func:`batches` bounded by failure domains. The hosts go cluster by cluster, rack by rack, each in
    the order its first host has in ``hosts`` (the canary is the first host of the first rack); each
    batch takes at most the size :func:`batches` gives it and stops early rather than take a host of
    another cluster or of a rack beyond ``max_racks``: a failed batch then costs one cluster at most
    ``max_racks`` racks of capacity. A host ``domains`` does not name is in :data:`NO_DOMAIN`."""
    def domain(h: str) -> Domain:
        return domains.get(h, NO_DOMAIN)

    first: dict[str | Domain, int] = {}
    for i, h in enumerate(hosts):
        first.setdefault(domain(h)[0], i)
        first.setdefault(domain(h), i)
    order = sorted(hosts, key=lambda h: (first[domain(h)[0]], first[domain(h)]))  # stable: hosts' order within
    out: list[list[str]] = []
    i = 0
    while i < len(order):
        size = sizes[min(len(out), len(sizes) - 1)]
        n = max(math.ceil(len(order) * int(size[:-1]) / 100) if size.endswith("%") else int(size), 1)
        cluster, racks = domain(order[i])[0], {domain(order[i])[1]}
        batch = [order[i]]
        for h in order[i + 1:i + n]:
            if domain(h)[0] != cluster or (domain(h)[1] not in racks and len(racks) >= max_racks):
                break
            racks.add(domain(h)[1])
            batch.append(h)
        out.append(batch)
        i += len(batch)
    return out


@dataclass
class BatchState:
    hosts: list[str]
    done: bool = False
    failed: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    run_dir: str | None = None
    # The health gate's last verdict: {"checks", "failed": {host: why}, "unreachable", "run_dir"}.
    gate: dict[str, Any] | None = None


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
    # The digest parts (pyctl.digest: netbox, plan, group_vars, roles) the batches still to run were
    # planned from; None: not known (a state an older pyctl wrote, or one not yet started).
    inputs: dict[str, str] | None = None
    # Every host the inventory had when the batches were planned (to name the hosts new since).
    hosts_known: list[str] = field(default_factory=list)
    # Each --replan: when, and the parts that had changed.
    replans: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> RolloutState:
        phases = [PhaseState(p["name"], [BatchState(**b) for b in p["batches"]]) for p in doc["phases"]]
        return cls(dc=doc["dc"], started=doc["started"], phases=phases, status=doc.get("status", "running"),
                   inputs=doc.get("inputs"), hosts_known=list(doc.get("hosts_known") or []),
                   replans=list(doc.get("replans") or []))

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        tmp.replace(path)


def new_state(dc: str, phase_hosts: Sequence[tuple[Phase, list[str]]], sizes: Sequence[str],
              domains: Mapping[str, Domain] | None = None, *, max_racks: int = DEFAULT_MAX_RACKS) -> RolloutState:
    """The batches of each phase: one for a phase that runs its hosts together, else canary first in
    ``sizes``; bounded by racks and clusters (:func:`rack_batches`) when ``domains`` are given and the
    phase converges a role (preflight changes nothing: a failed batch of it costs no capacity)."""
    phases = []
    for phase, hosts in phase_hosts:
        if phase.one_batch:
            split = [list(hosts)]
        elif domains is not None and phase.role:
            split = rack_batches(hosts, sizes, domains, max_racks=max_racks)
        else:
            split = batches(hosts, sizes)
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
# A phase's health gate over the hosts a batch converged: the checks' verdict, None when nothing is gated.
Gate = Callable[[Phase, list[str]], BatchResult | None]


def execute(state: RolloutState, state_path: Path, run_batch: RunBatch, *, max_fail: int,
            say: Callable[[str], None], cancel: threading.Event | None = None, gate: Gate | None = None) -> ExitCode:
    """Run every unfinished batch; returns the exit code. Writes state after each batch.

    Each phase runs its batches in order, and starts once every phase it comes after (the phase table's
    graph, :data:`pyctl.phases.BEFORE`) that this state holds has finished, so phases on hosts of their
    own go side by side. After a batch within ``max_fail``, ``gate`` checks the hosts it converged; its
    failed and unreachable hosts count with the batch's. A batch over ``max_fail`` or a cancel
    (``cancel`` set, or Ctrl-C) lets the batches already running finish and starts no other; the first
    such batch gives the exit code.
    """
    cancel = cancel or threading.Event()
    started = time.monotonic()
    total = sum(len(b.hosts) for p in state.phases for b in p.batches)
    done_hosts = sum(len(b.hosts) for p in state.phases for b in p.batches if b.done)
    lock = threading.Lock()
    stopped: list[ExitCode] = []  # the first batch that stopped the rollout gives the code

    def stop(code: ExitCode, status: str, message: str) -> None:
        with lock:
            if not stopped:
                stopped.append(code)
                state.status = status
                state.save(state_path)
            say(message)

    def name_failures(result: BatchResult, hosts: list[str], prefix: str, otherwise: str) -> None:
        """One line per host of ``hosts`` (failed or unreachable in ``result``), with its reason."""
        for host in hosts:
            say(f"  {'UNREACHABLE' if host in result.unreachable else 'FAILED'} {host}: {prefix}"
                f"{result.reasons.get(host, otherwise)}")

    def run_phase(ps: PhaseState) -> None:
        nonlocal done_hosts
        phase = BY_NAME[ps.name]
        for i, batch in enumerate(ps.batches, 1):
            if batch.done:
                continue
            if stopped or cancel.is_set():
                return
            say(f"[{time.monotonic() - started:7.1f}s] {ps.name}: batch {i}/{len(ps.batches)} "
                f"({len(batch.hosts)} host{'s' if len(batch.hosts) != 1 else ''}: {_names(batch.hosts)})")
            result = run_batch(phase, batch.hosts)
            batch.failed, batch.unreachable, batch.run_dir = result.failed, result.unreachable, result.run_dir
            if result.canceled:
                stop(ExitCode.INTERRUPTED, "interrupted",
                     f"interrupted in {ps.name} batch {i}: state saved; `--resume` runs this batch again")
                return
            bad = len(result.failed) + len(result.unreachable)
            name_failures(result, result.failed + result.unreachable, "", "see " + result.run_dir)
            if bad > max_fail:
                stop(_code(result), "stopped", f"stopped: {ps.name} batch {i} has {bad} failed/unreachable host(s) "
                     f"({_names(result.failed + result.unreachable)}), more than --max-fail {max_fail}")
                return
            converged = [h for h in batch.hosts if h not in set(result.failed) | set(result.unreachable)]
            verdict = gate(phase, converged) if gate is not None and phase.gate and converged else None
            if verdict is not None:
                gated = sorted(set(verdict.failed) | set(verdict.unreachable))
                batch.gate = {"checks": list(phase.gate), "failed": dict(verdict.reasons),
                              "unreachable": list(verdict.unreachable), "run_dir": verdict.run_dir}
                say(f"  health gate after {ps.name} batch {i}: "
                    + (f"{len(gated)} host(s) failed ({verdict.run_dir})" if gated else
                       f"{', '.join(phase.gate)} pass ({verdict.run_dir})"))
                name_failures(verdict, gated, "gate ", "unreachable")
                new_bad = [h for h in gated if h not in result.failed + result.unreachable]
                if bad + len(new_bad) > max_fail:
                    stop(_code(verdict), "stopped", f"stopped: the health gate after {ps.name} batch {i} failed on "
                         f"{_names(gated)} ({bad + len(new_bad)} failed/unreachable host(s), more than --max-fail "
                         f"{max_fail}); the next batch did not start. Repair, then `--resume` runs this batch "
                         f"and its gate again")
                    return
                bad += len(new_bad)
            with lock:
                batch.done = True
                done_hosts += len(batch.hosts)
                state.save(state_path)
                say(f"[{time.monotonic() - started:7.1f}s] {ps.name}: batch {i}/{len(ps.batches)} done; "
                    f"{done_hosts}/{total} host-phases done, {bad} failed")

    after = _waits_for(state)
    waiting = {ps.name: ps for ps in state.phases if not ps.done}
    finished = {ps.name for ps in state.phases if ps.done}
    state.status = "running"
    state.save(state_path)
    with sigint_cancels(cancel), ThreadPoolExecutor(max_workers=len(state.phases) or 1,
                                                  thread_name_prefix="phase") as pool:
        running: dict[Future[None], PhaseState] = {}
        while True:
            if not stopped and not cancel.is_set():
                for name in [n for n in waiting if after[n] <= finished]:
                    ps = waiting.pop(name)
                    running[pool.submit(run_phase, ps)] = ps
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                ps = running.pop(future)
                if future.exception() is not None:
                    cancel.set()  # the other running batches stop too, then the error goes up
                    future.result()
                if ps.done:
                    finished.add(ps.name)
    if stopped:
        return stopped[0]
    if cancel.is_set():
        state.status = "interrupted"
        state.save(state_path)
        say("interrupted: state saved; `--resume` goes on from the first unfinished batch")
        return ExitCode.INTERRUPTED
    state.status = "done"
    state.save(state_path)
    return ExitCode.OK


def _code(result: BatchResult) -> ExitCode:
    """4 when a batch's only problem is unreachable hosts, else 2."""
    return ExitCode.UNREACHABLE if result.unreachable and not result.failed else ExitCode.FAILED


def _waits_for(state: RolloutState) -> dict[str, set[str]]:
    """Phase -> the phases of ``state`` it waits for: those the phase table puts before it and, so no
    host is ever in two playbooks at once, every earlier phase of the table that shares a host with it."""
    hosts = {ps.name: {h for b in ps.batches for h in b.hosts} for ps in state.phases}
    order = [p.name for p in PHASES if p.name in hosts]
    return {name: {earlier for earlier in order[:order.index(name)]
                   if earlier in BEFORE[name] or hosts[earlier] & hosts[name]}
            for name in order}


def _names(hosts: Sequence[str], most: int = 4) -> str:
    return ", ".join(hosts[:most]) + (f" … (+{len(hosts) - most})" if len(hosts) > most else "")


# --- the engine `pyctl rollout` and `pyctl reapply` share ---------------------------------------------

Say = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def phase_hosts(site: site_mod.Site, names: Sequence[str] | None, wanted: set[str] | None
                ) -> list[tuple[Phase, list[str]]]:
    """The phases (``names``, or all) with their hosts (less those outside ``wanted``); phases without
    hosts are left out."""
    out = []
    for ph in PHASES:
        if names and ph.name not in names:
            continue
        hosts = [h for h in site.group_hosts(ph.hosts) if wanted is None or h in wanted]
        if hosts:
            out.append((ph, hosts))
    return out


def changed_only(site: site_mod.Site, phase_hosts: list[tuple[Phase, list[str]]], *, say: Say = _stderr
                 ) -> list[tuple[Phase, list[str]]]:
    """The phases' hosts less those a role's record vouches for (that role's phase), and less the hosts
    every role of which is vouched for (preflight too). The smoke phase keeps every host."""
    hosts = sorted({h for _, hs in phase_hosts for h in hs})
    roles = roles_of(site, hosts)
    addresses = {h.name: h.address for h in site.inventory.hosts}
    verdicts = desired_state.assess(site.dc, roles, addresses, digest.of_site(site),
                                    config.load_ssh_settings(site.dc))
    converged = {h for h in hosts if roles[h] and set(verdicts[h].verified) == set(roles[h])}
    out = []
    for ph, hs in phase_hosts:
        if ph.role:
            keep = [h for h in hs if ph.role not in verdicts[h].verified]
        elif ph.playbook is not None:
            keep = [h for h in hs if h not in converged]
        else:
            keep = hs
        if keep:
            out.append((ph, keep))
    say(f"--changed-only: {len(converged)} of {len(hosts)} hosts match their records in every role; "
        f"{sum(len(hs) for _, hs in phase_hosts) - sum(len(hs) for _, hs in out)} host-phases left out")
    return out


# --- resuming --------------------------------------------------------------------------------------

PART_LABELS = {"netbox": "netbox (the hosts NetBox gives)", "plan": "plan (the computed plan)",
               "group_vars": "group_vars (the site's inventories/<dc>/group_vars)",
               "roles": "roles (the roles, playbooks and plugins)"}


def refuse_changed_resume(state: RolloutState, changed: Sequence[str]) -> ConfigError:
    """The error of a ``--resume`` whose inputs changed, naming each part and the two ways on."""
    what = "; ".join(PART_LABELS[p] for p in changed) if state.inputs is not None else \
        "not known (the state records no inputs: an older pyctl wrote it)"
    return ConfigError(
        f"refusing to resume the rollout of {state.dc} started {state.started}: its inputs changed since it was "
        f"planned: {what}. The batches still to run would converge hosts from other inputs than the finished "
        f"ones. `--resume --replan` goes on with today's inputs (finished batches are not run again; "
        f"`pyctl drift {state.dc}` then names the hosts that differ), or start a new rollout without --resume")


def replan(state: RolloutState, today_hosts: Sequence[tuple[Phase, list[str]]], today: digest.InputDigest,
           changed: Sequence[str], inventory_hosts: Sequence[str]) -> list[str]:
    """Take today's inputs for the batches still to run: their hosts that today's phase no longer has
    are dropped (an emptied batch goes); hosts the inventory gained since are named, not added (a
    rollout's batches are what it planned). Returns one line per thing the operator must know."""
    now = {ph.name: set(hosts) for ph, hosts in today_hosts}
    notes: list[str] = []
    for ps in state.phases:
        keep = now.get(ps.name, set())
        planned = {h for b in ps.batches for h in b.hosts}
        for b in ps.batches:
            if b.done:
                continue
            gone = [h for h in b.hosts if h not in keep]
            if gone:
                notes.append(f"{ps.name}: {_names(gone)} no longer in it today: left out")
                b.hosts = [h for h in b.hosts if h in keep]
        ps.batches = [b for b in ps.batches if b.done or b.hosts]
        new = sorted(keep - planned - set(state.hosts_known))
        if new:
            notes.append(f"{ps.name}: {_names(new)} new today: not in this rollout "
                         f"(roll them out after it: `pyctl rollout {state.dc} --changed-only`)")
    state.phases = [ps for ps in state.phases if ps.batches]
    state.replans.append({"at": datetime.now(UTC).isoformat(timespec="seconds"), "changed": list(changed)})
    state.inputs = dict(today.parts)
    state.hosts_known = sorted(inventory_hosts)
    return notes


def prepare_resume(site: site_mod.Site, state: RolloutState, *, replan_ok: bool, say: Say = _stderr) -> None:
    """Before a ``--resume``: the same inputs as when the batches were planned, or (``replan_ok``) the
    batches still to run replanned on today's; ConfigError naming what changed otherwise, the state
    left as it was."""
    today = digest.of_site(site)
    # Every part when the state recorded none (an older pyctl wrote it): nothing says they are the same.
    changed = today.changed(state.inputs or {})
    if not changed:
        if replan_ok:
            say("--replan: the inputs are those the rollout was planned from; nothing to replan")
        return
    if not replan_ok:
        raise refuse_changed_resume(state, changed)
    today_hosts = phase_hosts(site, [ps.name for ps in state.phases], None)
    notes = replan(state, today_hosts, today, changed, [h.name for h in site.inventory.hosts])
    say(f"replanned on today's inputs ({', '.join(changed)} changed since {state.started}); the finished "
        f"batches were converged from the earlier ones: `pyctl drift {state.dc}` names the hosts that differ")
    for note in notes:
        say(f"  {note}")


def check_later_settings(site: site_mod.Site, state: RolloutState) -> None:
    """What a later phase reads, read now, before the first host changes: the smoke phase's SSH settings
    and smoke policy (ConfigError naming the file). A rollout must not converge every host and then
    stop at its last phase over a missing key file."""
    if any(ps.name == "smoke" and not ps.done for ps in state.phases):
        config.load_ssh_settings(site.dc)
        smoke_settings(site.dc)


def run_batches(site: site_mod.Site, state: RolloutState, state_path: Path, verb: str, *, max_fail: int,
                before_preflight: Callable[[], None] | None = None, tags: Sequence[str] | None = None,
                say: Say = _stderr) -> tuple[ExitCode, Path]:
    """Take the DC's lock, write the run's inventory (hosts, site and plan group_vars) and run every
    unfinished batch of ``state``. ``before_preflight`` runs first when the preflight phase has work."""
    for ps in state.phases:  # before the lock: a missing playbook writes nothing
        book = BY_NAME[ps.name].playbook
        if book is not None and not (PLAYBOOKS / book).exists():
            raise ConfigError(f"phase {ps.name}: playbook not found: playbooks/{book}")
    check_later_settings(site, state)
    plan = site.require_plan()
    lock = DcLock(runs_root() / site.dc / "rollout.lock", warn=lambda m: say(f"pyctl: warning: {m}"))
    with lock:
        run_dir = new_run_dir(site.dc, verb)
        write_json(run_dir / "plan.json", plan.to_dict())
        inv_dir = site_mod.write_inventory_dir(site, run_dir / "inventory")
        if before_preflight and any(ps.name == "preflight" and not ps.done for ps in state.phases):
            before_preflight()

        inputs = digest.of_site(site)
        if state.inputs is None:  # a new state: what its batches are planned from, for --resume to compare
            state.inputs = dict(inputs.parts)
            state.hosts_known = sorted(h.name for h in site.inventory.hosts)
        cancel = threading.Event()  # Ctrl-C: every running batch's playbook is cancelled

        def run_batch(phase: Phase, hosts: list[str]) -> BatchResult:
            if phase.playbook is None:
                return smoke_batch(site, hosts, say=say)
            result = run_playbook(phase.playbook, inventory=inv_dir, dc=site.dc, verb=f"{verb}-{phase.name}",
                                  limit=hosts, tags=tags, forks=min(len(hosts), 50) or 1, cancel=cancel)
            reasons = {h: f"{r.failures[0].task}: {r.failures[0].message}"
                       for h, r in result.hosts.items() if r.failures}
            converged = [h for h in hosts if h not in set(result.failed_hosts) | set(result.unreachable_hosts)]
            if phase.role and not tags and not result.canceled and converged:
                record_states(site, phase.role, converged, inputs, say=say)
            return BatchResult(failed=result.failed_hosts, unreachable=result.unreachable_hosts,
                               canceled=result.canceled, run_dir=str(result.run_dir), reasons=reasons)

        def gate(phase: Phase, hosts: list[str]) -> BatchResult | None:
            return gate_batch(site, phase, hosts, verb=verb)

        code = execute(state, state_path, run_batch, max_fail=max_fail, say=say, cancel=cancel, gate=gate)
    write_json(run_dir / "state.json", state.to_dict())
    return code, run_dir


def record_states(site: site_mod.Site, role: str, hosts: list[str], inputs: digest.InputDigest, *,
                  say: Say = _stderr) -> None:
    """Keep what ``role`` manages on the hosts it just converged as their record (the drift fast path);
    a host that cannot be recorded is named and takes drift's full check."""
    try:
        ssh = config.load_ssh_settings(site.dc)
    except ConfigError as exc:
        say(f"pyctl: warning: {role}: no state recorded ({exc}); drift checks these hosts in full")
        return
    addresses = {h.name: h.address for h in site.inventory.hosts}
    probes = desired_state.probe({h: addresses[h] for h in hosts}, ssh)
    for warning in desired_state.record(site.dc, probes, [role], inputs):
        say(f"pyctl: warning: {warning}")


def check_artifacts(site: site_mod.Site, *, say: Say = _stderr) -> None:
    """The rollout's first step: the DC's mirrors hold every artifact (`pyctl artifacts DC --check`)."""
    items = artifacts.bill_of_materials(site.inventory, config.load_role_vars(site.dc),
                                        group_vars(site.require_plan()))
    say(f"preflight: checking {len(items)} artifacts on the mirrors of {site.dc}")
    missing = artifacts.check(items, artifacts.http_fetch(30.0))
    if missing:
        raise CheckFailed(f"{len(missing)} of {len(items)} artifacts are missing from the mirrors of {site.dc}; "
                          f"no host was touched (`pyctl artifacts {site.dc} --check` lists them)", problems=missing)


def smoke_batch(site: site_mod.Site, hosts: list[str], *, say: Say = _stderr) -> BatchResult:
    """The rollout's last phase: pyctl's smoke checks on every host; a host fails on a failed check."""
    report, html = smoke(site.dc, site.inventory, site.require_plan())
    say(render_terminal(report))
    say(f"smoke HTML report: {html}")
    return _verdict(report, hosts)


def gate_hosts(site: site_mod.Site, phase: Phase, hosts: Sequence[str]) -> list[str]:
    """The hosts ``phase``'s gate checks after a batch converged ``hosts``: those, or the phase's
    ``gate_hosts`` group within their clusters (every etcd member of the clusters an etcd batch touched)."""
    if phase.gate_hosts is None:
        return list(hosts)
    cluster = {h.name: h.cluster for h in site.inventory.hosts}
    touched = {cluster[h] for h in hosts}
    return [h for h in site.group_hosts(phase.gate_hosts) if cluster[h] in touched]


def gate_batch(site: site_mod.Site, phase: Phase, hosts: list[str], *, verb: str = "rollout") -> BatchResult | None:
    """``phase``'s health gate after a batch converged ``hosts``: its gate checks on :func:`gate_hosts`,
    the report in ``runs/<dc>/<time>-<verb>-gate-<phase>/``; None when the phase has no gate."""
    targets = gate_hosts(site, phase, hosts)
    if not phase.gate or not targets:
        return None
    report, _ = smoke(site.dc, site.inventory, site.require_plan(), checks=select_checks(phase.gate),
                      only=targets, verb=f"{verb}-gate-{phase.name}")
    return _verdict(report, targets)


def _verdict(report: SmokeReport, hosts: Sequence[str]) -> BatchResult:
    """The hosts of ``hosts`` a smoke report fails (the first failed check of each) or could not reach."""
    wanted = set(hosts)
    unreachable = sorted(h for h in report.unreachable if h in wanted)
    reasons: dict[str, str] = {}
    for host, outcome in report.failures():
        if host.name in wanted and host.name not in unreachable:
            reasons.setdefault(host.name, f"{outcome.check}: {outcome.detail}")
    return BatchResult(failed=sorted(reasons), unreachable=unreachable, canceled=False,
                       run_dir=str(report.run_dir), reasons=reasons)
