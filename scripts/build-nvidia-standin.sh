#!/usr/bin/env bash
# Builds (or finds in the cache) the STAND-IN NVIDIA apt repository for tests and prints its directory.
# Needs dpkg-deb and gpg (Debian: dpkg, gnupg). Usage: scripts/build-nvidia-standin.sh [--kernel REL] [--json]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
exec python3 "$repo/tests/fixtures/nvidia-standin/build.py" "$@"
