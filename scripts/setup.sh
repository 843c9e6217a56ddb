#!/usr/bin/env bash
# Install what snf-image-creator needs on Debian 12 (bookworm) and build the
# release binary. Idempotent: every step checks before it acts.
#
# usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "setup: installing packages needs root (run it with sudo)" >&2
        exit 1
    fi
}

have_pkgs() { dpkg-query -W -f='${Status}\n' "$@" 2>/dev/null | grep -vq 'install ok installed' && return 1; [ "$(dpkg-query -W -f='${Status}\n' "$@" 2>/dev/null | grep -c 'install ok installed')" = "$#" ]; }

PKGS_BACKPORTS=(qemu-system-x86 qemu-system-common qemu-system-data)
PKGS=(libguestfs-tools libguestfs-dev linux-image-amd64 qemu-utils debootstrap zstd
      e2fsprogs fdisk gdisk uuid-runtime openssh-client openssl bc pkg-config
      extlinux syslinux-common tmux)

if ! have_pkgs "${PKGS_BACKPORTS[@]}" "${PKGS[@]}"; then
    need_root
    export DEBIAN_FRONTEND=noninteractive
    # Debian 12's libguestfs-tools pulls qemu-system 7.2, which the machine's
    # qemu-utils 10 (from bookworm-backports) refuses; install qemu-system
    # from backports first so apt resolves libguestfs against it.
    if ! grep -rqs '^deb .*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "deb http://deb.debian.org/debian bookworm-backports main" \
            > /etc/apt/sources.list.d/backports.list
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -t bookworm-backports "${PKGS_BACKPORTS[@]}"
    apt-get install -y -qq --no-install-recommends "${PKGS[@]}"
fi

if [ "${1:-}" != "--no-build" ]; then
    cargo build --release --locked 2>/dev/null || cargo build --release
fi
