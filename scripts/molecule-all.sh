#!/usr/bin/env bash
# Runs every role's Molecule scenarios on podman with the lab host image, one role at a time
# (2 cores: scenarios in parallel only queue on podman's lock). Usage: scripts/molecule-all.sh [role...]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
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
        echo "== molecule: $role passed in $((SECONDS - started)) s" >&2
    else
        echo "== molecule: $role FAILED after $((SECONDS - started)) s" >&2
        failed+=("$role")
    fi
done
if ((${#failed[@]})); then
    echo "molecule failed for: ${failed[*]}" >&2
    exit 1
fi
