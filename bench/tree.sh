#!/usr/bin/env bash
# Benchmark of the tree builder (src/media/tree/): a root tree to a raw
# GPT disk with one ext4 filesystem, against libguestfs's peer for the job
# and against the copy's floor, on the same tree, in one run.
#
#   (a)  ours: examples/tree_to_raw TREE out.raw (walk + filter, sfdisk,
#        mke2fs, loop mount, tar | tar)
#   (a') ours from a .tar.zst of the same tree (read twice: measured, then
#        streamed through the filter)
#   (b)  virt-make-fs --format=raw --type=ext4 --partition=gpt --size=+64M
#        TREE out.img (its own size estimate leaves the fixture's tree
#        without room: tar_in fails with "No space left on device")
#   (c)  our copy step alone ("Copying the tree into the image", as the
#        builder's step timer reports it), against
#   (d)  tar -C TREE -cf - . | tar -C MNT -xf -  into a freshly made and
#        mounted ext4 of the same size (the copy's floor), made right
#        after each of our builds; (a), (c) and (d) alternate, best of
#        SNF_BENCH_RUNS (3).
#   (e)  the same tar | tar with the options our copy passes (POSIX
#        format, --sparse, xattrs, ACLs, numeric owners): what keeping
#        every property costs, so (c) / (e) is what our relay adds.
#
# Needs root. TREE defaults to the Debian fixture's root tree.
# Usage: bench/tree.sh [TREE]
#   env: SNF_BENCH_DIR, SNF_FIXTURES, SNF_BENCH_RUNS,
#        SNF_BENCH_NO_PEER=1 (skip virt-make-fs, for the copy figures alone)
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

# The options of src/media/tree/copy.rs (TAR_C without --null/--no-recursion,
# which take its file list; TAR_X as is).
TAR_C='--create --file=- --format=posix --pax-option=delete=atime,delete=ctime --numeric-owner --sparse --xattrs --xattrs-include=* --acls'
TAR_X='--extract --file=- --numeric-owner --same-owner --preserve-permissions --xattrs --xattrs-include=* --acls --selinux'
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a < b) ? a : b }'; }
# Seconds of the shell command $2 writing into a fresh ext4 of $1 bytes,
# mounted on $MNT.
into_fresh_ext4() {
    local t
    truncate -s "$1" "$OUT/d.img"; mkfs.ext4 -q -F -b 4096 "$OUT/d.img"
    mount -o loop "$OUT/d.img" "$MNT"
    t=$(secs sh -c "$2")
    umount "$MNT"; rm -f "$OUT/d.img"
    echo "$t"
}
mkdir "$MNT"
a='' c='' d='' e=''
for _ in $(seq "${SNF_BENCH_RUNS:-3}"); do
    # Each build in its own directory: the builder mounts beside its output.
    mkdir "$OUT/a"
    t=$(secs "$BIN" "$TREE" "$OUT/a/out.raw"); a=$(min "$t" "$a")
    t=$(awk '$1 == "step" && /Copying the tree/ { print $2 }' "$OUT/err"); c=$(min "$t" "$c")
    size=$(stat -c %s "$OUT/a/out.raw"); rm -rf "$OUT/a"
    t=$(into_fresh_ext4 "$size" "tar -C '$TREE' -cf - . | tar -C '$MNT' -xf -"); d=$(min "$t" "$d")
    t=$(into_fresh_ext4 "$size" "tar -C '$TREE' $TAR_C . | tar -C '$MNT' $TAR_X"); e=$(min "$t" "$e")
done
mkdir "$OUT/a2"
a2=$(secs "$BIN" "$OUT/tree.tar.zst" "$OUT/a2/out.raw"); rm -rf "$OUT/a2"
b=''
if [ -z "${SNF_BENCH_NO_PEER:-}" ]; then
    b=$(secs env LIBGUESTFS_BACKEND=direct LIBGUESTFS_BACKEND_SETTINGS=force_tcg \
        virt-make-fs --format=raw --type=ext4 --partition=gpt --size=+64M "$TREE" "$OUT/b.img"); rm -f "$OUT/b.img"
fi

printf '%-44s %8s %8s\n' command seconds ratio
row() { # title seconds reference
    if [ -n "$3" ]; then
        printf '%-44s %8.2f %8.2f\n' "$1" "$2" "$(echo "$2 / $3" | bc -l)"
    else
        printf '%-44s %8.2f %8s\n' "$1" "$2" -
    fi
}
row "(a) snf tree builder, directory" "$a" "$b"
row "(a') snf tree builder, .tar.zst" "$a2" "$b"
[ -n "$b" ] && row "(b) virt-make-fs --partition=gpt" "$b" "$b"
row "(c) snf copy step (ratio to d)" "$c" "$d"
row "(d) tar | tar into a fresh ext4" "$d" "$d"
row "(e) tar | tar, our options (ratio to d)" "$e" "$d"
row "(c) snf copy step (ratio to e)" "$c" "$e"
