#!/usr/bin/env bash
# Benchmark of the export step (src/media/export.rs) against the obvious
# shell pipeline and against reading the image file.
#
#   (a)  our export: qemu-nbd + NBD client, MD5 + SHA-256, sparse write
#   (a-) the same, checksums only (no output file)
#   (b)  qemu-img convert -O raw IMG out.raw && md5sum out.raw && sha256sum out.raw
#   (c)  cat IMG > /dev/null
#
# Warm: the image file is in the page cache, so cat runs at memory speed
# and every other command is bound by its CPU work (MD5 cannot use more than
# one core). Cold (root only: drops the page cache before each run): the
# image is read from disk, as on a first export.
#
# The test image (2 GiB virtual, 1 GiB of random data in 8 runs separated
# by zero regions, ~1 GiB qcow2 file) is built once and cached under
# $SNF_BENCH_DIR (default /var/tmp/snf-bench). Each command runs once to warm
# the page cache, then RUNS times; the best time counts.
#
# Usage: bench/export.sh   (env: RUNS=3, SNF_BENCH_DIR, SNF_BENCH_EXAMPLE)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${SNF_BENCH_DIR:-/var/tmp/snf-bench}
RUNS=${RUNS:-3}
IMG=$CACHE/bench-v1.qcow2
OUT=$CACHE/out
mkdir -p "$CACHE" "$OUT"
trap 'rm -rf "$OUT"' EXIT

build_image() {
    [[ -f $IMG ]] && return
    echo "building $IMG (once)..." >&2
    local raw=$CACHE/build.raw
    rm -f "$raw"
    truncate -s 2G "$raw"
    # 8 × 128 MiB of random data at 256 MiB strides: 1 GiB of data, 1 GiB
    # of zero regions (never written: unallocated qcow2 clusters).
    for i in 0 1 2 3 4 5 6 7; do
        head -c 128M /dev/urandom |
            dd of="$raw" bs=1M seek=$((i * 256 + 64)) conv=notrunc status=none
    done
    qemu-img convert -f raw -O qcow2 "$raw" "$IMG.tmp"
    rm -f "$raw"
    mv "$IMG.tmp" "$IMG"
}

# The binary is run directly: `cargo run` would add its own start-up to
# every timing. SNF_BENCH_EXAMPLE names a prebuilt one instead.
build_example() {
    EXAMPLE=${SNF_BENCH_EXAMPLE:-}
    [[ -n $EXAMPLE ]] && return
    (cd "$ROOT" && cargo build --release --quiet --example export_image)
    EXAMPLE=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/export_image
}

# Seconds (float) for one run of "$@", output discarded. Outputs of the
# previous run are removed and written back first, outside the timing:
# otherwise the kernel's writeback of the last run's gigabyte competes with
# this run for the 2 CPUs and the disk, and whichever command runs second
# pays for the first.
time_once() {
    local start end
    rm -f "$OUT"/*
    sync
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}

# Best of RUNS, after one warm-up run.
best_of() {
    local best t
    "$@" >/dev/null 2>&1
    best=
    for ((r = 0; r < RUNS; r++)); do
        t=$(time_once "$@")
        if [[ -z $best ]] || (($(echo "$t < $best" | bc -l))); then best=$t; fi
    done
    printf '%.3f' "$best"
}

run_a() { "$EXAMPLE" "$IMG" qcow2 "$OUT/a.raw"; }
run_a_nowrite() { "$EXAMPLE" "$IMG" qcow2 -; }
run_b() {
    qemu-img convert -f qcow2 -O raw "$IMG" "$OUT/b.raw" &&
        md5sum "$OUT/b.raw" && sha256sum "$OUT/b.raw"
}
run_c() { cat "$IMG" >/dev/null; }

# Seconds for one run of "$@" with the page cache dropped first.
cold_once() {
    rm -f "$OUT"/*
    sync
    echo 3 >/proc/sys/vm/drop_caches
    local start end
    start=$(date +%s.%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s.%N)
    printf '%.3f' "$(echo "$end - $start" | bc -l)"
}

cold() {
    if [[ $(id -u) != 0 ]]; then
        echo "cold-cache figures need root (to drop the page cache): skipped"
        return
    fi
    local ta tn tc
    ta=$(cold_once run_a)
    tn=$(cold_once run_a_nowrite)
    tc=$(cold_once run_c)
    printf '\n%-46s %8s %10s %9s\n' "cold cache, one run each" "seconds" "MB/s virt" "vs (a)"
    printf '%-46s %8s %10s %9s\n' "(a)  export: md5+sha256+sparse write" "$ta" "$(mbs "$vsize" "$ta")" "1.00"
    printf '%-46s %8s %10s %9s\n' "(a-) export: md5+sha256, no write" "$tn" "$(mbs "$vsize" "$tn")" "$(ratio "$tn" "$ta")"
    printf '%-46s %8s %10s %9s\n' "(c)  cat IMG > /dev/null ($((fsize >> 20)) MiB file)" "$tc" "$(mbs "$fsize" "$tc")" "$(ratio "$tc" "$ta")"
    echo
    echo "cold: speed (a) / speed (c) = time (c) / time (a) = $(ratio "$tc" "$ta")   (target >= 0.80)"
}

check_digests() {
    local ours theirs
    ours=$(run_a 2>/dev/null | awk '{print $2}' | paste -sd' ')
    qemu-img convert -f qcow2 -O raw "$IMG" "$OUT/b.raw"
    theirs="$(md5sum <"$OUT/b.raw" | cut -d' ' -f1) $(sha256sum <"$OUT/b.raw" | cut -d' ' -f1)"
    if [[ $ours != "$theirs" ]]; then
        echo "DIGEST MISMATCH: ours $ours, tools $theirs" >&2
        exit 1
    fi
    cmp "$OUT/a.raw" "$OUT/b.raw" || { echo "CONTENT MISMATCH" >&2; exit 1; }
    echo "digests and content match md5sum/sha256sum of qemu-img's raw output"
}

ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
mbs() { printf '%.0f' "$(echo "$1 / $2 / 1000000" | bc -l)"; }

main() {
    build_image
    build_example
    vsize= fsize=
    vsize=$(qemu-img info -f qcow2 "$IMG" | sed -n "s/^virtual size: .*(\([0-9]*\) bytes)$/\1/p")
    fsize=$(stat -c %s "$IMG")
    echo "image: $IMG, virtual $((vsize >> 20)) MiB, file $((fsize >> 20)) MiB; $(nproc) CPUs"
    check_digests
    local ta tn tb tc
    ta=$(best_of run_a)
    tn=$(best_of run_a_nowrite)
    tb=$(best_of run_b)
    tc=$(best_of run_c)
    printf '\n%-46s %8s %10s %9s\n' "best of $RUNS, warm cache" "seconds" "MB/s virt" "vs (a)"
    printf '%-46s %8s %10s %9s\n' "(a)  export: md5+sha256+sparse write" "$ta" "$(mbs "$vsize" "$ta")" "1.00"
    printf '%-46s %8s %10s %9s\n' "(a-) export: md5+sha256, no write" "$tn" "$(mbs "$vsize" "$tn")" "$(ratio "$tn" "$ta")"
    printf '%-46s %8s %10s %9s\n' "(b)  qemu-img convert + md5sum + sha256sum" "$tb" "$(mbs "$vsize" "$tb")" "$(ratio "$tb" "$ta")"
    printf '%-46s %8s %10s %9s\n' "(c)  cat IMG > /dev/null ($((fsize >> 20)) MiB file)" "$tc" "$(mbs "$fsize" "$tc")" "$(ratio "$tc" "$ta")"
    echo
    echo "time (a) / time (b) = $(ratio "$ta" "$tb")   (target <= 0.50)"
    echo "speed (a) / speed (c) = time (c) / time (a) = $(ratio "$tc" "$ta")   (target >= 0.80)"
    cold
}

main "$@"
