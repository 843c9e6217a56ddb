#!/usr/bin/env bash
# Benchmark of shrinking an LVM guest (src/guest/lvm/) on the
# debian-lvm-mbr fixture (p1 /boot, p2 PV of vg0: root, home, swap LVs and
# free extents), against the peers' best on the same input:
#   (a) snf-mkimage -o (default tasks, shrink last): the diskdump's size
#   (p) virt-sparsify --convert qcow2 + qemu-img convert -O raw
# Sizes only; both print apparent and allocated MiB.
# Usage: bench/lvm-shrink.sh   (env: SNF_FIXTURES, SNF_BENCH_DIR)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIX=${SNF_FIXTURES:-/var/tmp/snf-image-creator-fixtures}
WORK=$(mktemp -d "${SNF_BENCH_DIR:-/var/tmp}/snf-lvm-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
IMG=$FIX/debian-lvm-mbr.raw
"$ROOT"/scripts/fixtures.sh "$FIX" >/dev/null
(cd "$ROOT" && cargo build --release --quiet --bins)
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
# The peers are not told about a broken KVM by themselves (ours falls back).
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS:-force_tcg}

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
alloc() { echo $(($(stat -c %b "$1") * 512)); }

"$BIN"/snf-image-creator mkimage -o "$WORK"/ours.diskdump "$IMG" 2>"$WORK"/ours.log
grep -a -e 'Image size is' -e 'LVM: ' "$WORK"/ours.log
virt-sparsify -q --convert qcow2 "$IMG" "$WORK"/sparse.qcow2
qemu-img convert -f qcow2 -O raw "$WORK"/sparse.qcow2 "$WORK"/peer.raw
printf '\n%-48s %10s %10s\n' "size (MiB)" "apparent" "allocated"
for f in "$IMG" "$WORK"/ours.diskdump "$WORK"/peer.raw; do
    case $f in
        "$IMG") name="before: $(basename "$IMG")" ;;
        *ours*) name="(a) snf-mkimage (shrink)" ;;
        *) name="(p) virt-sparsify + qemu-img convert -O raw" ;;
    esac
    printf '%-48s %10s %10s\n' "$name" "$(mib "$(stat -c %s "$f")")" "$(mib "$(alloc "$f")")"
done
