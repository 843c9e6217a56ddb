#!/usr/bin/env bash
# Install what snf-image-creator needs on Debian 12 (bookworm), build the
# release binary, and give it its second name (snf-mkimage). Idempotent:
# packages already installed are not touched.
#
# usage: scripts/setup.sh [--no-build] [--install]
#   --no-build  only install packages
#   --install   also link both names into /usr/local/bin and install their
#               man pages and bash/zsh/fish completions under /usr/local/share
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/packages.sh
PKGS=("${RUNTIME[@]}" "${DEVEL[@]}")

missing() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${db:Status-Status}\n' "$p" 2>/dev/null | grep -qx installed || echo "$p"
    done
}

todo=$(missing "${BACKPORTS[@]}" "${PKGS[@]}")
if [ -n "$todo" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup: these packages are missing and installing them needs root: $todo" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Debian 12's libguestfs-tools pulls qemu-system 7.2, which the machine's
    # qemu-utils 10 (from bookworm-backports) refuses; installing qemu-system
    # from backports first lets apt resolve libguestfs against it.
    if ! grep -rqs '^deb .*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "deb http://deb.debian.org/debian bookworm-backports main" \
            > /etc/apt/sources.list.d/backports.list
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends -t bookworm-backports "${BACKPORTS[@]}"
    apt-get install -y -qq --no-install-recommends "${PKGS[@]}"
fi

# The helper VM that writes UFS (BSD guests): a few seconds when current,
# about 80 s (and 670 MB in /var/lib/snf-image-creator/appliance) when not.
if [ "$(id -u)" = 0 ]; then
    scripts/ufs-appliance.sh
fi

[ "${1:-}" = --no-build ] && exit 0
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked
ln -sfn snf-image-creator target/release/snf-mkimage
if [ "${1:-}" = --install ] || [ "${2:-}" = --install ]; then
    ln -sfn "$PWD/target/release/snf-image-creator" /usr/local/bin/snf-image-creator
    ln -sfn "$PWD/target/release/snf-image-creator" /usr/local/bin/snf-mkimage
    scripts/install-docs.sh target/release/snf-image-creator /usr/local/share zsh/site-functions
fi
