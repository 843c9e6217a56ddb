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

BACKPORTS=(qemu-system-x86 qemu-system-common qemu-system-data)
PKGS=(libguestfs-tools libguestfs-dev linux-image-amd64 qemu-utils debootstrap zstd
      e2fsprogs fdisk gdisk uuid-runtime openssh-client openssl bc pkg-config
      extlinux syslinux-common tmux btrfs-progs ntfs-3g libwin-hivex-perl libhivex-bin
      dosfstools mtools makefs libbsd-dev gcc make)

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
    bin=target/release/snf-image-creator
    "$bin" man /usr/local/share/man/man1 >/dev/null
    mkdir -p /usr/local/share/bash-completion/completions /usr/local/share/zsh/site-functions \
             /usr/local/share/fish/vendor_completions.d
    for name in snf-image-creator snf-mkimage; do
        flag=; [ $name = snf-mkimage ] && flag=--mkimage
        "$bin" completions bash $flag >/usr/local/share/bash-completion/completions/$name
        "$bin" completions zsh $flag >/usr/local/share/zsh/site-functions/_$name
        "$bin" completions fish $flag >/usr/local/share/fish/vendor_completions.d/$name.fish
    done
fi
