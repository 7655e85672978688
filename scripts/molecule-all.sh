#!/usr/bin/env bash
# Runs every role's Molecule scenarios on podman with the lab host image, PYCTL_MOLECULE_JOBS roles at
# a time (default 2). A scenario keeps about one core busy (its time goes to `podman exec` round trips
# more than to CPU), so two side by side on 2 cores finish sooner than one after the other. The
# longest roles start first; each role's output is printed whole when it ends, its time recorded.
# Usage: scripts/molecule-all.sh [role...]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/phase.sh"  # each role's time, in the summary of .ci/run and scripts/test.sh
venv_bin="$repo/.venv/bin"
# molecule and ansible-runner look up ansible-playbook / ansible-config on PATH.
export PATH="$venv_bin:$PATH"
PYCTL_LAB_IMAGE=$("$venv_bin/pyctl" dev lab image)
export PYCTL_LAB_IMAGE
export ANSIBLE_FORCE_COLOR=false PY_COLORS=0
jobs=${PYCTL_MOLECULE_JOBS:-2}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "molecule-all: PYCTL_MOLECULE_JOBS must be a positive number, not '$jobs'" >&2; exit 2; }

# Longest first, so the last to start is a short one (alone on 2 cores: etcd ~270 s, control_plane ~180,
# gpu_driver ~130, calico ~120, preflight ~45). A role not named here comes after them.
longest_first=(etcd control_plane gpu_driver calico preflight)
if (($#)); then roles=("$@"); else
    roles=()
    for role in "${longest_first[@]}"; do
        if [[ -d $repo/roles/$role/molecule ]]; then roles+=("$role"); fi
    done
    for dir in "$repo"/roles/*/molecule; do
        role=$(basename "$(dirname "$dir")")
        [[ " ${roles[*]} " == *" $role "* ]] || roles+=("$role")
    done
fi
for role in "${roles[@]}"; do
    [[ -d $repo/roles/$role/molecule ]] || { echo "molecule-all: no Molecule scenarios in roles/$role" >&2; exit 2; }
done

logs=$(mktemp -d -t pyctl-molecule.XXXXXX)
declare -A pid_role=()
cleanup() {
    local pid
    for pid in "${!pid_role[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$logs"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# One role in its own process group (so an interrupted run stops all of it); its exit status in
# $logs/<role>.rc, its output in $logs/<role>.log.
start_role() {
    local role=$1
    echo "== molecule: $role: started ($PYCTL_LAB_IMAGE)" >&2
    set -m
    (
        set +m
        trap - EXIT INT TERM
        started=$SECONDS rc=0
        (cd "$repo/roles/$role" && molecule test --all) >"$logs/$role.log" 2>&1 || rc=$?
        echo "$((SECONDS - started))" >"$logs/$role.seconds"
        echo "$rc" >"$logs/$role.rc"
    ) &
    pid_role[$!]=$role
    set +m
}

# Prints a finished role's output and records its time; false when it failed.
finish_role() {
    local role=$1 rc
    rc=$(cat "$logs/$role.rc" 2>/dev/null || echo 1)
    echo "== molecule: $role (output)" >&2
    cat "$logs/$role.log"
    phase_record "molecule: $role" "$(cat "$logs/$role.seconds" 2>/dev/null || echo 0)" \
        "$( ((rc)) && echo FAILED || echo ok)"
    return "$rc"
}

failed=()
next=0
while ((next < ${#roles[@]} || ${#pid_role[@]})); do
    while ((next < ${#roles[@]} && ${#pid_role[@]} < jobs)); do
        start_role "${roles[next]}"
        next=$((next + 1))
    done
    wait -n "${!pid_role[@]}" || true
    for pid in "${!pid_role[@]}"; do
        role=${pid_role[$pid]}
        if [[ ! -f $logs/$role.rc ]] && kill -0 "$pid" 2>/dev/null; then continue; fi
        wait "$pid" 2>/dev/null || true
        unset "pid_role[$pid]"
        finish_role "$role" || failed+=("$role")
    done
done
if ((${#failed[@]})); then
    echo "molecule failed for: ${failed[*]}" >&2
    exit 1
fi
