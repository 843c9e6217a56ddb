#!/usr/bin/env bash
# Benchmark of the tree builder (src/media/tree/): a root tree to a raw
# GPT disk with one ext4 filesystem, against libguestfs's peer for the job
# and against the copy's floor, on the same tree, in one run.
#
#   (a)  ours: examples/tree_to_raw TREE out.raw (walk + filter, sfdisk,
#        mke2fs, loop mount, tar | tar)
#   (a') ours from a .tar.zst of the same tree (read twice: measured, then
#        streamed through the filter)
#   (b)  virt-make-fs --format=raw --type=ext4 --partition=gpt TREE out.img
#   (c)  tar -C TREE -cf - . | tar -C MNT -xf -  into an already-made ext4
#        (the floor: the copy alone)
#
# Needs root. TREE defaults to the Debian fixture's root tree.
# Usage: bench/tree.sh [TREE]   (env: SNF_BENCH_DIR, SNF_FIXTURES)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIX=${SNF_FIXTURES:-/var/tmp/snf-image-creator-fixtures}
TREE=${1:-$FIX/cache/rootfs}
CACHE=${SNF_BENCH_DIR:-/var/tmp/snf-bench}
OUT=$(mktemp -d "$CACHE/tree.XXXXXX" 2>/dev/null || { mkdir -p "$CACHE"; mktemp -d "$CACHE/tree.XXXXXX"; })
MNT=$OUT/mnt
cleanup() {
    mountpoint -q "$MNT" 2>/dev/null && umount "$MNT"
    rm -rf "$OUT"
}
trap cleanup EXIT
[ -d "$TREE" ] || { echo "bench/tree.sh: no tree at $TREE (run scripts/fixtures.sh)" >&2; exit 1; }

cargo build -q --release --example tree_to_raw --manifest-path "$ROOT/Cargo.toml"
BIN=$ROOT/target/release/examples/tree_to_raw

secs() { # command...: wall seconds
    local t0 t1
    sync
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>"$OUT/err" || { echo "bench/tree.sh: $* failed: $(cat "$OUT/err")" >&2; exit 1; }
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}

echo "tree: $TREE ($(du -sh "$TREE" | cut -f1), $(find "$TREE" | wc -l) entries)"
tar -C "$TREE" -cf - . 2>/dev/null | zstd -q -o "$OUT/tree.tar.zst"
cat "$TREE" >/dev/null 2>&1 || true
find "$TREE" -type f -exec cat {} + >/dev/null 2>&1   # page cache warm for all

# Each build in its own directory: the builder mounts beside its output.
mkdir "$OUT/a" "$OUT/a2"
a=$(secs "$BIN" "$TREE" "$OUT/a/out.raw"); rm -rf "$OUT/a"
a2=$(secs "$BIN" "$OUT/tree.tar.zst" "$OUT/a2/out.raw"); rm -rf "$OUT/a2"
b=$(secs env LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg \
    virt-make-fs --format=raw --type=ext4 --partition=gpt "$TREE" "$OUT/b.img"); rm -f "$OUT/b.img"
truncate -s 1G "$OUT/c.img"; mkfs.ext4 -q -F "$OUT/c.img"; mkdir "$MNT"; mount -o loop "$OUT/c.img" "$MNT"
c=$(secs sh -c "tar -C '$TREE' -cf - . | tar -C '$MNT' -xf -"); umount "$MNT"

printf '%-44s %8s %8s\n' command seconds ratio
row() { printf '%-44s %8.2f %8.2f\n' "$1" "$2" "$(echo "$2 / $b" | bc -l)"; }
row "(a) snf tree builder, directory" "$a"
row "(a') snf tree builder, .tar.zst" "$a2"
row "(b) virt-make-fs --partition=gpt" "$b"
row "(c) tar | tar (copy floor)" "$c"
