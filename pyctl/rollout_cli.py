"""`pyctl rollout DC`: plan, artifact check, then the phases on canary-first batches under the DC's lock.

pyctl.cli adds the subcommand with :func:`add_parser` and runs it with :func:`handler` (handed its
``load_inventory(args)`` and ``_plan_settings(args)``). :func:`run_batches` is the engine `pyctl reapply`
shares: the same batches, the same lock, the same state file format.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pyctl import desired_state, digest, drift, rollout, smoke_cli
from pyctl import site as site_mod
from pyctl.cli_common import add_site_flags, not_touched
from pyctl.errors import CheckFailed, ConfigError, ExitCode

EPILOG = """\
examples:
  pyctl rollout dc2 --dry-run                       the plan and the batches; nothing changes
  pyctl rollout lab --yes                           every phase, canary first
  pyctl rollout lab --yes --phase preflight --batches 1,50% --max-fail 1
  pyctl rollout lab --resume --yes                  continue where a stopped or interrupted rollout left off

phases: {phases}

exit codes: 0 done, 2 a batch had more failed hosts than --max-fail (or an artifact is missing from the
mirrors, or a smoke check failed), 3 bad inventory, plan or options (or the DC is locked by another
rollout), 4 more unreachable hosts than --max-fail, 130 interrupted (resumable)
"""


def _eprint(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``rollout`` to the pyctl subcommands."""
    names = [ph.name for ph in rollout.PHASES]
    p = subparsers.add_parser(
        "rollout", help="roll the roles out to a data center: plan, canary, batches, resumable",
        description="Read the data center from NetBox, validate it, compute the plan (printed), check that the "
        "DC's mirrors hold every artifact (as `pyctl artifacts DC --check`), then run the phases preflight → gpu "
        "→ etcd → control_plane → calico → smoke on growing batches of hosts: a canary, then batch sizes as "
        "Ansible's serial reads them. etcd members form one batch; the etcd role restarts them one at a time "
        "behind a health gate, so quorum holds. smoke runs `pyctl smoke` on every host. A batch with more failed "
        "or unreachable hosts than --max-fail stops the rollout; state is saved after every batch and --resume "
        "continues at the first unfinished one. Ctrl-C stops the running batch and leaves a resumable state. "
        "One rollout per data center at a time (a lock in runs/<dc>/).",
        epilog=EPILOG.format(phases=" → ".join(names)), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dc", help="data center: the NetBox site slug")
    p.add_argument("--yes", action="store_true", help="go on after the plan without asking")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the batches, change nothing")
    p.add_argument("--resume", action="store_true", help="continue the last stopped or interrupted rollout")
    p.add_argument("--phase", action="append", choices=names, metavar="PHASE",
                   help="run only this phase (repeatable): " + ", ".join(names))
    p.add_argument("--limit", metavar="HOSTS", help="comma-separated hosts or groups to include")
    add_batch_flags(p)
    p.add_argument("--changed-only", action="store_true",
                   help="leave out the hosts whose every role matches the state it recorded under today's inputs "
                   "(as `pyctl drift` checks it); the smoke phase still checks every host")
    p.add_argument("--skip-artifact-check", action="store_true",
                   help="do not ask the mirrors first (they were checked another way)")
    p.add_argument("--json", action="store_true", help="print the final state as one JSON document")
    add_site_flags(p)


def add_batch_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batches", default=rollout.DEFAULT_BATCHES, metavar="SIZES",
                   help="batch sizes, counts or percentages; the last repeats (default: %(default)s)")
    p.add_argument("--max-fail", type=int, default=0, metavar="N",
                   help="failed or unreachable hosts a batch may have before the run stops (default 0)")


def handler(load_inventory: Callable[[argparse.Namespace], Any],
            plan_settings: Callable[[argparse.Namespace], Any]) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        return run(args, load_inventory, plan_settings)

    return command


def run(args: argparse.Namespace, load_inventory: Callable[[argparse.Namespace], Any],
        plan_settings: Callable[[argparse.Namespace], Any]) -> int:
    from pyctl.rundir import runs_root  # noqa: PLC0415

    sizes = rollout.parse_batch_sizes(args.batches)
    if args.max_fail < 0:
        raise ConfigError(f"--max-fail must be 0 or more, got {args.max_fail}")
    settings = plan_settings(args)
    site = site_mod.load(args.dc, load_inventory(args), settings)
    site.require_hosts("rollout")
    wanted = site.resolve_limit(args.limit)
    state_path = runs_root() / args.dc / "rollout-state.json"

    if args.resume:
        if not state_path.exists():
            raise ConfigError(f"nothing to resume: no rollout state in {state_path}")
        state = rollout.RolloutState.from_dict(json.loads(state_path.read_text()))
        if state.status == "done":
            raise ConfigError(f"nothing to resume: the last rollout of {args.dc} finished ({state.started})")
    else:
        phases = [ph for ph in rollout.PHASES if not args.phase or ph.name in args.phase]
        phase_hosts = []
        for ph in phases:
            hosts = [h for h in site.group_hosts(ph.hosts) if wanted is None or h in wanted]
            if hosts:
                phase_hosts.append((ph, hosts))
        if args.changed_only:
            phase_hosts = changed_only(site, phase_hosts)
        state = rollout.new_state(args.dc, phase_hosts, sizes)

    plan = site.plan
    if not args.resume:
        from pyctl.plan import render_text  # noqa: PLC0415

        _eprint(render_text(plan))
        _eprint("")
    _eprint(f"rollout of {args.dc}: {len(site.inventory.hosts)} hosts in {len(site.inventory.clusters)} clusters; "
            f"plan OK ({len(plan.warnings)} warnings, {len(plan.findings)} findings)")
    print_batches(state)
    if args.dry_run:
        if args.json:
            print(json.dumps({"dry_run": True, **state.to_dict(), "not_touched": not_touched(site.inventory)},
                             indent=2))
        return ExitCode.OK
    if not confirm(args.yes):
        _eprint("nothing changed")
        return ExitCode.OK
    check = (lambda: check_artifacts(site)) if not args.skip_artifact_check else None
    code, run_dir = run_batches(site, state, state_path, "rollout", max_fail=args.max_fail,
                                before_preflight=check)
    if args.json:
        print(json.dumps({**state.to_dict(), "run_dir": str(run_dir), "exit_code": int(code),
                          "not_touched": not_touched(site.inventory)}, indent=2))
    _eprint(f"rollout {state.status}: {len(site.hosts)} hosts; state {state_path}; run {run_dir}")
    return int(code)


def changed_only(site: site_mod.Site, phase_hosts: list[tuple[rollout.Phase, list[str]]]
                 ) -> list[tuple[rollout.Phase, list[str]]]:
    """The phases' hosts less those a role's record vouches for (that role's phase), and less the hosts
    every role of which is vouched for (preflight too). The smoke phase keeps every host."""
    from pyctl.smoke.pool import load_ssh_settings  # noqa: PLC0415

    hosts = sorted({h for _, hs in phase_hosts for h in hs})
    roles = drift.roles_of(site, hosts)
    addresses = {h.name: h.address for h in site.inventory.hosts}
    verdicts = desired_state.assess(site.dc, roles, addresses, digest.of_site(site), load_ssh_settings(site.dc))
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
    _eprint(f"--changed-only: {len(converged)} of {len(hosts)} hosts match their records in every role; "
            f"{sum(len(hs) for _, hs in phase_hosts) - sum(len(hs) for _, hs in out)} host-phases left out")
    return out


def print_batches(state: rollout.RolloutState) -> None:
    for ps in state.phases:
        todo = [b for b in ps.batches if not b.done]
        _eprint(f"  {ps.name:<14} {len(ps.batches)} batch{'es' if len(ps.batches) != 1 else ''}: "
                + " → ".join(str(len(b.hosts)) + ("✓" if b.done else "") for b in ps.batches)
                + ("" if todo else "  (done)"))


def confirm(yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigError("not a terminal: pass --yes to go on after the plan")
    return input("go on? [y/N] ").strip().lower() in ("y", "yes")


def run_batches(site: site_mod.Site, state: rollout.RolloutState, state_path: Path, verb: str, *, max_fail: int,
                before_preflight: Callable[[], None] | None = None, tags: Sequence[str] | None = None,
                ) -> tuple[ExitCode, Path]:
    """Take the DC's lock, write the run's inventory (hosts, site and plan group_vars) and run every
    unfinished batch of ``state``. ``before_preflight`` runs first when the preflight phase has work."""
    from pyctl.paths import REPO  # noqa: PLC0415
    from pyctl.rundir import new_run_dir, runs_root, write_json  # noqa: PLC0415
    from pyctl.runner import run_playbook  # noqa: PLC0415

    by_name = {ph.name: ph for ph in rollout.PHASES}
    for ps in state.phases:  # before the lock: a missing playbook writes nothing
        book = by_name[ps.name].playbook
        if book is not None and not (REPO / "playbooks" / book).exists():
            raise ConfigError(f"phase {ps.name}: playbook not found: playbooks/{book}")
    lock = rollout.DcLock(runs_root() / site.dc / "rollout.lock", warn=lambda m: _eprint(f"pyctl: warning: {m}"))
    with lock:
        run_dir = new_run_dir(site.dc, verb)
        write_json(run_dir / "plan.json", site.plan.to_dict())
        inv_dir = site_mod.write_inventory_dir(site, run_dir / "inventory")
        if before_preflight and any(ps.name == "preflight" and not ps.done for ps in state.phases):
            before_preflight()

        inputs = digest.of_site(site)

        def run_batch(phase: rollout.Phase, hosts: list[str]) -> rollout.BatchResult:
            if phase.playbook is None:
                return smoke_batch(site, hosts)
            result = run_playbook(phase.playbook, inventory=inv_dir, dc=site.dc, verb=f"{verb}-{phase.name}",
                                  limit=hosts, tags=tags, forks=min(len(hosts), 50) or 1)
            reasons = {h: f"{r.failures[0].task}: {r.failures[0].message}"
                       for h, r in result.hosts.items() if r.failures}
            converged = [h for h in hosts if h not in set(result.failed_hosts) | set(result.unreachable_hosts)]
            if phase.role and not tags and not result.canceled and converged:
                record_states(site, phase.role, converged, inputs)
            return rollout.BatchResult(failed=result.failed_hosts, unreachable=result.unreachable_hosts,
                                       canceled=result.canceled, run_dir=str(result.run_dir), reasons=reasons)

        code = rollout.execute(state, state_path, run_batch, max_fail=max_fail, say=_eprint)
    write_json(run_dir / "state.json", state.to_dict())
    return code, run_dir


def record_states(site: site_mod.Site, role: str, hosts: list[str], inputs: digest.InputDigest) -> None:
    """Keep what ``role`` manages on the hosts it just converged as their record (the drift fast path);
    a host that cannot be recorded is named and takes drift's full check."""
    from pyctl.smoke.pool import load_ssh_settings  # noqa: PLC0415

    try:
        ssh = load_ssh_settings(site.dc)
    except ConfigError as exc:
        _eprint(f"pyctl: warning: {role}: no state recorded ({exc}); drift checks these hosts in full")
        return
    addresses = {h.name: h.address for h in site.inventory.hosts}
    probes = desired_state.probe({h: addresses[h] for h in hosts}, ssh)
    for warning in desired_state.record(site.dc, probes, [role], inputs):
        _eprint(f"pyctl: warning: {warning}")


def check_artifacts(site: site_mod.Site) -> None:
    """The rollout's first step: the DC's mirrors hold every artifact (`pyctl artifacts DC --check`)."""
    from pyctl import artifacts  # noqa: PLC0415
    from pyctl.plan import group_vars  # noqa: PLC0415

    items = artifacts.bill_of_materials(site.inventory, artifacts.load_role_vars(site.dc), group_vars(site.plan))
    _eprint(f"preflight: checking {len(items)} artifacts on the mirrors of {site.dc}")
    missing = artifacts.check(items, artifacts.http_fetch(30.0))
    if missing:
        raise CheckFailed(f"{len(missing)} of {len(items)} artifacts are missing from the mirrors of {site.dc}; "
                          f"no host was touched (`pyctl artifacts {site.dc} --check` lists them)", problems=missing)


def smoke_batch(site: site_mod.Site, hosts: list[str]) -> rollout.BatchResult:
    """The rollout's last phase: pyctl's smoke checks on every host; a host fails on a failed check."""
    from pyctl.report import render_terminal  # noqa: PLC0415

    report, html = smoke_cli.smoke(site.dc, site.inventory, site.plan)
    _eprint(render_terminal(report))
    _eprint(f"smoke HTML report: {html}")
    wanted = set(hosts)
    unreachable = sorted(h for h in report.unreachable if h in wanted)
    reasons: dict[str, str] = {}
    for host, outcome in report.failures():
        if host.name in wanted and host.name not in unreachable:
            reasons.setdefault(host.name, f"{outcome.check}: {outcome.detail}")
    return rollout.BatchResult(failed=sorted(reasons), unreachable=unreachable, canceled=False,
                               run_dir=str(report.run_dir), reasons=reasons)
