#!/usr/bin/env bash
# Everything `make demo` and `make test` need on a fresh Debian bookworm machine, idempotently:
# Debian packages (PostgreSQL 15 and Redis for the NetBox test bed; the lab's podman via
# setup-host.sh), and the project's Python 3.12 venv, rebuilt only when pyproject.toml changes.
# NetBox's own venv is made by `pyctl dev netbox up` (kept apart: NetBox pins its own Django stack).
# With PYCTL_PHASE_TIMES set (.ci/run), each step that had work to do records its time (scripts/phase.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/phase.sh

want_lab=0
[[ ${1:-} == --lab ]] && want_lab=1

# chromium: the HTML reports are proven to render in a headless browser.
packages=(postgresql-15 postgresql-client-15 redis-server libpq-dev gcc make git curl chromium)
# The lab's packages too, so that one apt run (one `apt-get update`) installs everything.
if ((want_lab)); then
    mapfile -t -O ${#packages[@]} packages < <(bash scripts/setup-host.sh --packages)
fi
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    started=$SECONDS
    [[ $(id -u) -eq 0 ]] || { echo "bootstrap: need root to install ${missing[*]}" >&2; exit 1; }
    echo "bootstrap: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # The package's own cluster is not used (the test bed makes a throw-away one): no autostart.
    mkdir -p /etc/postgresql-common
    grep -qs '^create_main_cluster = false' /etc/postgresql-common/createcluster.conf ||
        echo 'create_main_cluster = false' >>/etc/postgresql-common/createcluster.conf
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    phase_record "bootstrap: apt (${#missing[@]} packages)" $((SECONDS - started))
fi
if ((want_lab)); then
    bash scripts/setup-host.sh
fi

# Python >= 3.12 (ansible-core >= 2.20 and NetBox 4.7 need it): PATH first, then pyenv's builds.
# Never the project's own venv (make puts it first on PATH): that one is what gets rebuilt here. The
# interpreter is taken by its real path (sys.executable, asked with that PATH): pyenv's shim would
# otherwise find the venv's python again through make's PATH.
search_path=$(tr ':' '\n' <<<"$PATH" | grep -vxF "$PWD/.venv/bin" | paste -sd: -)
real_python() {
    PATH=$search_path "$1" -c 'import sys; assert sys.version_info >= (3, 12); print(sys.executable)' 2>/dev/null
}
python=$(real_python "$(PATH=$search_path command -v python3.12 2>/dev/null || echo python3.12)" || true)
if [[ -z $python || $python == "$PWD/.venv/"* ]]; then
    # pyenv's shim answers only when 3.12 is its selected version: take the build itself, 3.12 first.
    python=$(ls -1d /root/.pyenv/versions/3.12*/bin/python3.12 /root/.pyenv/versions/3.1[3-9]*/bin/python3 \
        2>/dev/null | head -1 || true)
fi
[[ -n $python ]] || { echo "bootstrap: Python >= 3.12 not found (python3.12 on PATH or in ~/.pyenv)" >&2; exit 1; }

# Another interpreter means a new venv; only another pyproject.toml, an install into the venv as it is
# (nothing removed under a running test or demo).
stamp=.venv/.pyctl-installed
key=$( (cat pyproject.toml; "$python" --version) | sha256sum | cut -c1-16)
if [[ ! -f $stamp || $(cat "$stamp") != "$key" ]]; then
    started=$SECONDS
    if [[ $(.venv/bin/python --version 2>/dev/null) != "$("$python" --version)" ]]; then
        echo "bootstrap: creating .venv with $("$python" --version)" >&2
        rm -rf .venv
        "$python" -m venv .venv
        .venv/bin/pip install -q --upgrade pip
    else
        echo "bootstrap: pyproject.toml changed; updating .venv in place" >&2
    fi
    .venv/bin/pip install -q -e '.[dev]'
    echo "$key" >"$stamp"
    phase_record "bootstrap: venv" $((SECONDS - started))
fi
