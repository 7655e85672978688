#!/usr/bin/env bash
# `make test`: every test in timed phases, stopping at the first part that fails: lint and unit tests side
# by side; Molecule and the NetBox integration tests side by side (neither pair fills 2 cores alone); lab.
# pytest prints its 30 slowest tests.
# The slow one-time builds run in the background meanwhile, one after the other: the lab host image (~2 min
# the first time; Molecule waits for it), then NetBox's venv and migrated schema (`pyctl dev netbox prepare`,
# 5-10 min the first time; the NetBox tests, beside Molecule, wait for it). A failed build fails the
# run at the phase that waits for it, and leaves no half-built cache.
# The summary at the end (or .ci/run's, when it sets PYCTL_PHASE_TIMES) has the seconds of every phase.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bin=$repo/.venv/bin
export PATH="$bin:$PATH"
source scripts/phase.sh

own_summary=0
if [[ -z ${PYCTL_PHASE_TIMES:-} ]]; then
    PYCTL_PHASE_TIMES=$(mktemp -t pyctl-phases.XXXXXX)
    export PYCTL_PHASE_TIMES
    own_summary=1
fi
prep=$(mktemp -d -t pyctl-prepare.XXXXXX)
prep_pid=

side_pid=
finish() {
    local rc=$?
    if [[ -n $side_pid ]] && kill -0 "$side_pid" 2>/dev/null; then
        kill -TERM -- "-$side_pid" 2>/dev/null || true
        wait "$side_pid" 2>/dev/null || true
        cat "$prep/side.log" 2>/dev/null || true
    fi
    if [[ -n $prep_pid ]] && kill -0 "$prep_pid" 2>/dev/null; then
        kill -TERM -- "-$prep_pid" 2>/dev/null || kill -TERM "$prep_pid" 2>/dev/null || true
        wait "$prep_pid" 2>/dev/null || true
    fi
    rm -rf "$prep"
    if ((own_summary)); then
        phase_summary
        rm -f "$PYCTL_PHASE_TIMES"
    fi
    exit $rc
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One background job (its own process group, so `finish` stops all of it), one step after the other; each
# step's exit status in $prep/<step>.rc once it is done, its output in $prep/<step>.log.
background_step() {
    local step=$1 started=$SECONDS rc=0
    shift
    "$@" >"$prep/$step.log" 2>&1 || rc=$?
    phase_record "$step (background)" $((SECONDS - started)) "$( ((rc)) && echo "FAILED, exit $rc" || echo ok)"
    echo "$rc" >"$prep/$step.rc"
    return "$rc"
}
set -m
(
    set +m  # its steps stay in its process group
    trap - EXIT
    background_step lab-image "$bin/pyctl" dev lab image &&
        background_step netbox-prepare "$bin/pyctl" dev netbox prepare --json
) &
prep_pid=$!
set +m

# Waits for a background step; fails (showing its output) when the step failed or was never reached.
await() {
    local step=$1
    while [[ ! -f $prep/$step.rc ]] && kill -0 "$prep_pid" 2>/dev/null; do sleep 1; done
    if [[ $(cat "$prep/$step.rc" 2>/dev/null) != 0 ]]; then
        echo "test: background step $step failed:" >&2
        cat "$prep"/*.log >&2 2>/dev/null || true
        return 1
    fi
}

# Two phases side by side, where neither keeps both cores busy alone: `side_by_side NAME CMD... -- CMD2...`.
# Phase NAME runs CMD in the background (its own process group, which `finish` stops), its output printed
# whole after CMD2's; CMD2 runs as it is. Fails with CMD2's exit status, else the phase's, if not 0.
side_by_side() {
    local name=$1 args=() rc=0 side_rc=0
    shift
    while [[ $1 != -- ]]; do args+=("$1"); shift; done
    shift
    set -m
    (
        set +m
        trap - EXIT INT TERM
        phase "$name" "${args[@]}" >"$prep/side.log" 2>&1
    ) &
    side_pid=$!
    set +m
    "$@" || rc=$?
    wait "$side_pid" || side_rc=$?
    side_pid=
    cat "$prep/side.log"
    ((rc == 0)) || return "$rc"
    return "$side_rc"
}

pytest=("$bin/python" -m pytest --durations=30)
# mypy, ansible-lint and pytest each keep about one core busy.
side_by_side "pytest: unit" "${pytest[@]}" tests/unit -- phase lint make --no-print-directory lint
netbox_tests() {
    phase "wait: netbox-prepare" await netbox-prepare &&
        phase "pytest: NetBox integration" "${pytest[@]}" tests/integration --ignore=tests/integration/lab
}
phase "wait: lab-image" await lab-image
# Molecule waits on `podman exec` round trips, the NetBox tests on NetBox; Molecule needs the lab image.
side_by_side "molecule (all roles)" bash scripts/molecule-all.sh -- netbox_tests
phase "pytest: lab" "${pytest[@]}" tests/integration/lab
