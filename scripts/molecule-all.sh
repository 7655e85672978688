#!/usr/bin/env bash
# Runs every role's Molecule scenarios on podman with the lab host image, one role at a time
# (2 cores: scenarios in parallel only queue on podman's lock). Usage: scripts/molecule-all.sh [role...]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
source "$repo/scripts/phase.sh"  # each role's time, in the summary of .ci/run and scripts/test.sh
venv_bin="$repo/.venv/bin"
# molecule and ansible-runner look up ansible-playbook / ansible-config on PATH.
export PATH="$venv_bin:$PATH"
PYCTL_LAB_IMAGE=$("$venv_bin/python" -m pyctl.dev.lab image)
export PYCTL_LAB_IMAGE
export ANSIBLE_FORCE_COLOR=false PY_COLORS=0

if (($#)); then roles=("$@"); else
    roles=()
    for dir in "$repo"/roles/*/molecule; do roles+=("$(basename "$(dirname "$dir")")"); done
fi
failed=()
for role in "${roles[@]}"; do
    echo "== molecule: $role ($PYCTL_LAB_IMAGE)" >&2
    started=$SECONDS
    if (cd "$repo/roles/$role" && molecule test --all); then
        phase_record "molecule: $role" $((SECONDS - started)) ok
    else
        phase_record "molecule: $role" $((SECONDS - started)) FAILED
        failed+=("$role")
    fi
done
if ((${#failed[@]})); then
    echo "molecule failed for: ${failed[*]}" >&2
    exit 1
fi
