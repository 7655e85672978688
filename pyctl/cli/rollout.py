"""`pyctl rollout DC`: the options and what a rollout prints; the engine is :mod:`pyctl.rollout`."""

from __future__ import annotations

import argparse
import json

from pyctl import rollout
from pyctl.cli.common import (
    add_batch_flags,
    add_bundle_flags,
    add_site_flags,
    batch_options,
    confirm,
    count,
    eprint,
    load_site,
    not_touched,
    print_batches,
)
from pyctl.errors import ConfigError, ExitCode
from pyctl.phases import BY_NAME, PHASES
from pyctl.plan import render_text
from pyctl.rundir import runs_root

EPILOG = """\
examples:
  pyctl rollout dc2 --dry-run                       the plan and the batches; nothing changes
  pyctl rollout lab --yes                           every phase, canary first
  pyctl rollout lab --yes --phase preflight --batches 1,50% --max-fail 1
  pyctl rollout lab --resume --yes                  continue where a stopped or interrupted rollout left off
  pyctl rollout lab --resume --replan --yes         ... after NetBox, the plan, group_vars or the roles changed
  pyctl rollout lab --bundle bundles/lab/lab-0123456789ab.tar --allowed-signers allowed_signers --yes
                                                    the inventory and plan the signed bundle holds, checked first

phases: {phases}   (gpu runs beside etcd → control_plane)

exit codes: 0 done, 2 a batch had more failed hosts than --max-fail (or an artifact is missing from the
mirrors, or a smoke check failed), 3 bad inventory, plan or options (or the DC is locked by another
rollout), 4 more unreachable hosts than --max-fail, 130 interrupted (resumable)
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``rollout`` to the pyctl subcommands."""
    names = [ph.name for ph in PHASES]
    p = subparsers.add_parser(
        "rollout", help="roll the roles out to a data center: plan, canary, batches, resumable",
        description="Read the data center from NetBox, validate it, compute the plan (printed), check that the "
        "DC's mirrors hold every artifact (as `pyctl artifacts DC --check`), then run the phases on growing batches of "
        "hosts (a canary, then batch sizes as Ansible's serial reads them; a batch of a phase that converges a role "
        "takes hosts of one cluster and at most --max-racks racks): preflight on every host; then the GPU "
        "workers' gpu phase beside the management hosts' etcd → control_plane; then calico; then smoke. Phases "
        "that share a host never run at once. etcd members form one batch; the etcd role restarts them one at a time "
        "behind a health gate, so quorum holds. After each batch of a role's phase, that phase's smoke checks "
        "(its health gate: the dry run names them) run on the batch's hosts (every etcd member after the etcd batch); "
        "a host that fails one is a failed host of the batch. smoke runs `pyctl smoke` on every host. A batch with "
        "more failed or unreachable hosts than --max-fail stops the rollout (a batch already running beside it "
        "finishes); state is saved after every batch and --resume "
        "continues at the first unfinished one. Ctrl-C stops the running batch and leaves a resumable state. "
        "One rollout per data center at a time (a lock in runs/<dc>/).",
        epilog=EPILOG.format(phases=" → ".join(names)), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dc", help="data center: the NetBox site slug")
    p.add_argument("--yes", action="store_true", help="go on after the plan without asking")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the batches, change nothing")
    p.add_argument("--resume", action="store_true",
                   help="continue the last stopped or interrupted rollout; refused when NetBox, the plan, the "
                   "group_vars or the roles changed since it was planned (each named)")
    p.add_argument("--replan", action="store_true",
                   help="with --resume: go on with today's inputs; hosts gone from NetBox leave the batches still "
                   "to run, hosts new in it are named (not added); finished batches are not run again")
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
    add_bundle_flags(p)
    add_site_flags(p)


def run(args: argparse.Namespace) -> int:
    if args.replan and not args.resume:
        raise ConfigError("--replan goes with --resume: it replans the batches a stopped rollout has still to run")
    sizes = batch_options(args)
    site = load_site(args)
    site.require_hosts("rollout")
    plan = site.require_plan()
    wanted = site.resolve_limit(args.limit)
    state_path = runs_root() / args.dc / "rollout-state.json"

    if args.resume:
        if not state_path.exists():
            raise ConfigError(f"nothing to resume: no rollout state in {state_path}")
        state = rollout.RolloutState.from_dict(json.loads(state_path.read_text()))
        if state.status == "done":
            raise ConfigError(f"nothing to resume: the last rollout of {args.dc} finished ({state.started})")
        rollout.prepare_resume(site, state, replan_ok=args.replan, say=eprint)
    else:
        phase_hosts = rollout.phase_hosts(site, args.phase, wanted)
        if args.changed_only:
            phase_hosts = rollout.changed_only(site, phase_hosts, say=eprint)
        state = rollout.new_state(args.dc, phase_hosts, sizes, rollout.failure_domains(site), max_racks=args.max_racks)

    would_stop = None  # what a later phase needs and lacks: the real run stops on it before the lock
    if args.dry_run:
        try:
            rollout.check_later_settings(site, state)
        except ConfigError as exc:
            would_stop = exc.message
    if not args.resume:
        eprint(render_text(plan))
        eprint("")
    eprint(f"rollout of {args.dc}: {count(len(site.inventory.hosts), 'host')} in "
           f"{count(len(site.inventory.clusters), 'cluster')}; plan OK ({count(len(plan.warnings), 'warning')}, "
           f"{count(len(plan.findings), 'finding')})")
    print_batches(state)
    if args.dry_run:
        if would_stop:
            eprint(f"pyctl: warning: the rollout would stop before its first host: {would_stop}")
        if args.json:
            gates = {ps.name: list(BY_NAME[ps.name].gate) for ps in state.phases if BY_NAME[ps.name].gate}
            print(json.dumps({"dry_run": True, **state.to_dict(), "gates": gates, "would_stop": would_stop,
                              "not_touched": not_touched(site.inventory)}, indent=2))
        return ExitCode.OK
    if not confirm(args.yes):
        eprint("nothing changed")
        return ExitCode.OK
    check = (lambda: rollout.check_artifacts(site, say=eprint)) if not args.skip_artifact_check else None
    code, run_dir = rollout.run_batches(site, state, state_path, "rollout", max_fail=args.max_fail,
                                        before_preflight=check, say=eprint)
    if args.json:
        print(json.dumps({**state.to_dict(), "run_dir": str(run_dir), "exit_code": int(code),
                          "not_touched": not_touched(site.inventory)}, indent=2))
    eprint(f"rollout {state.status}: {count(len(site.hosts), 'host')}; state {state_path}; run {run_dir}")
    return int(code)
