#!/usr/bin/env bash
# Host setup for the lab (podman containers booting systemd) and Molecule.
# Idempotent: safe to run on every CI run. Needs root and the Debian mirror only (no container registry).
# `setup-host.sh --packages` prints the Debian packages it needs (bootstrap.sh installs them with its own,
# in one apt run) and does nothing else.
set -euo pipefail

# podman + runc: crun fails on this kernel ("cgroups in hybrid mode not supported"), see FACTS.md.
# debootstrap: the lab image is built from scratch (no registry). openssh-client: Ansible's connection.
# uidmap/slirp4netns/fuse-overlayfs: podman's recommended helpers; iproute2 to inspect the lab network;
# iptables: the lab hosts' way out is closed (pyctl/dev/lab_egress.py).
packages=(
    podman runc conmon containernetworking-plugins uidmap slirp4netns fuse-overlayfs
    debootstrap debian-archive-keyring openssh-client iproute2 iptables ca-certificates
)
if [[ ${1:-} == --packages ]]; then
    printf '%s\n' "${packages[@]}"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "setup-host.sh: must run as root" >&2
    exit 1
fi

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Podman 4.3 as root here: the default rlimits cannot be set and crun cannot drive hybrid cgroups;
# there is no systemd on the host, so journald events and the systemd cgroup manager are unavailable.
conf=/etc/containers/containers.conf
mkdir -p /etc/containers
want=$(cat <<'CONF'
# Written by pyctl scripts/setup-host.sh (see FACTS.md, "Hosts, Ansible, Molecule").
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
)
if [[ ! -f $conf ]] || [[ "$(cat "$conf")" != "$want" ]]; then
    if [[ -f $conf ]] && ! grep -q "pyctl scripts/setup-host.sh" "$conf"; then
        cp -p "$conf" "$conf.pyctl-backup"
    fi
    printf '%s\n' "$want" >"$conf"
fi

# Lab hosts and Molecule instances share this kernel and cannot load modules themselves: the
# overlay (calico role, smoke checks) needs vxlan loaded here.
modprobe vxlan 2>/dev/null || grep -qw vxlan /proc/modules || [[ -d /sys/module/vxlan ]] ||
    echo "setup-host.sh: warning: the vxlan module is not available; the overlay tests will fail" >&2

# Every lab host boots systemd, which holds ~6 inotify instances: the default 128 per user stops the
# 21st host's systemd (sshd never starts). Raised, never lowered, and not persisted.
for kv in fs.inotify.max_user_instances=8192 fs.inotify.max_user_watches=524288; do
    key=${kv%%=*} want=${kv#*=}
    if (( $(sysctl -n "$key") < want )); then sysctl -qw "$kv"; fi
done

# State and cache for the lab image (pyctl.dev.lab keys both by the image definition's hash).
install -d -m 0755 /var/lib/pyctl-dev/cache

podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}}' >/dev/null
echo "setup-host.sh: ok ($(podman --version))"
