#!/usr/bin/env bash
# Build a Debian package of snf-image-creator with dpkg-deb: both names in
# /usr/bin, the man pages, the bash/zsh/fish completions, and Depends on
# the libraries the binary links plus the RUNTIME packages of
# scripts/packages.sh. Prints the package's path.
#
# usage: scripts/deb.sh [OUTDIR]   (default target/debian)
#   SNF_BIN=PATH  package this binary (default: target/release/snf-image-creator,
#                 built with cargo when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/packages.sh
out=${1:-target/debian}
bin=${SNF_BIN:-target/release/snf-image-creator}
if [ -z "${SNF_BIN:-}" ] && [ ! -x "$bin" ]; then
    PATH="$HOME/.cargo/bin:$PATH" cargo build --release --locked
fi

version=$("$bin" --version | awk '{ print $2 }')
arch=$(dpkg --print-architecture)
stage=$(mktemp -d "${TMPDIR:-/tmp}/snf-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/snf-image-creator_${version}_$arch

install -D -m 0755 "$bin" "$root/usr/bin/snf-image-creator"
ln -s snf-image-creator "$root/usr/bin/snf-mkimage"
scripts/install-docs.sh "$root/usr/bin/snf-image-creator" "$root/usr/share" \
    zsh/vendor-completions --gzip
install -D -m 0644 README.md "$root/usr/share/doc/snf-image-creator/README.md"
cat >"$root/usr/share/doc/snf-image-creator/copyright" <<TXT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: snf-image-creator
License: GPL-3.0-or-later
 On Debian systems, the full text is in /usr/share/common-licenses/GPL-3.
TXT

# The packages of the shared libraries the binary names (libc6, libguestfs0…).
libs=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' \
       | while read -r so; do dpkg -S "*/$so" | head -1 | cut -d: -f1; done | sort -u)
depends=$(for p in $libs "${RUNTIME[@]}" qemu-system-x86; do
    case $p in qemu-*) echo "$p (>= 1:10)" ;; *) echo "$p" ;; esac
done | sort -u | paste -sd, | sed 's/,/, /g')

mkdir -p "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<TXT
Package: snf-image-creator
Version: $version
Architecture: $arch
Maintainer: snf-image-creator developers <snf-image-creator@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Recommends: libguestfs-tools, libhivex-bin
Section: admin
Priority: optional
Description: turn disk images and trees into clean, small cloud images
 snf-mkimage and the snf-image-creator terminal UI inspect a guest with
 libguestfs, run its system-preparation tasks, shrink it and export a raw
 diskdump, uploaded and registered on Synnefo, OpenStack, S3 or a built-in
 image store.
 .
 On Debian 12, install qemu-system-x86 and qemu-utils from
 bookworm-backports first (apt-get install -t bookworm-backports
 qemu-system-x86 qemu-utils): bookworm's own qemu 7.2 is too old.
TXT
mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "$out/snf-image-creator_${version}_$arch.deb"
