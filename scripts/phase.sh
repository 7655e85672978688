# Phase timing for the test and CI scripts (sourced: `source scripts/phase.sh`).
#   phase NAME CMD...   run CMD; say on stderr how long it took; record it; return its exit status
#   phase_record NAME SECONDS STATUS
#   phase_summary       the recorded phases as a table, in the order they ran
# Records go to $PYCTL_PHASE_TIMES (tab-separated: name, seconds, status) when it is set, so the
# scripts one run calls (.ci/run → bootstrap.sh, make test → molecule-all.sh) add to one summary.

phase_record() {
    echo "== $1: $2 s${3:+ ($3)}" >&2
    if [[ -n ${PYCTL_PHASE_TIMES:-} ]]; then
        printf '%s\t%s\t%s\n' "$1" "$2" "${3:-ok}" >>"$PYCTL_PHASE_TIMES"
    fi
}

phase() {
    local name=$1 started=$SECONDS rc=0
    shift
    echo "== $name: $*" >&2
    "$@" || rc=$?
    if ((rc)); then
        phase_record "$name" $((SECONDS - started)) "FAILED, exit $rc"
    else
        phase_record "$name" $((SECONDS - started)) ok
    fi
    return $rc
}

phase_summary() {
    [[ -s ${PYCTL_PHASE_TIMES:-} ]] || return 0
    echo "== phase times (s)" >&2
    awk -F'\t' '{ printf "  %6d  %-44s %s\n", $2, $1, ($3 == "ok" ? "" : $3) }' "$PYCTL_PHASE_TIMES" >&2
}
