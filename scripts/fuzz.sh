#!/usr/bin/env bash
# Run every fuzz target of fuzz/ for SECONDS each (default 60) and print,
# per target, the run time and the executions libFuzzer made.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). cargo-fuzz passes
# nightly-only flags to rustc (-Zsanitizer, coverage instrumentation);
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them, here only.
# Each target starts from its committed seeds (fuzz/seeds/TARGET) and
# grows a corpus in fuzz/corpus/TARGET (not committed). A crash stops the
# target, leaves the input in fuzz/artifacts/TARGET and fails the script.
# FUZZ_JOBS (default 1) targets run at once, under `nice -n 19`.
#
# CI does not run this: building the instrumented crate from scratch took
# 11m45s here (2 shared cores), which the CI budget cannot spare. CI covers
# the fuzz targets through `cargo test`, which runs every committed seed
# (crash inputs included) through its target without instrumentation.
set -euo pipefail

seconds="${1:-60}"
shift || true
cd "$(dirname "$0")/../fuzz"
export RUSTC_BOOTSTRAP=1
sanitizer="${FUZZ_SANITIZER:-address}"
jobs="${FUZZ_JOBS:-1}"

if ! command -v cargo-fuzz >/dev/null; then
    echo "fuzz.sh: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
    exit 1
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

start=$(date +%s)
nice -n 19 cargo fuzz build --sanitizer "$sanitizer" >&2
echo "fuzz.sh: built the fuzz targets in $(($(date +%s) - start)) s" >&2

mkdir -p logs
run_one() {
    local t="$1" log="logs/$1.log"
    mkdir -p "corpus/$t"
    local t0 rc=0
    t0=$(date +%s)
    nice -n 19 cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
        -timeout=10 -max_len=65536 >"$log" 2>&1 || rc=$?
    local runs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
    if [ "$rc" -eq 0 ]; then
        printf '%-16s %5d s %12s executions\n' "$t" "$(($(date +%s) - t0))" "${runs:-?}"
    else
        printf '%-16s %5d s %12s executions  FAILED (exit %d, see fuzz/%s)\n' \
            "$t" "$(($(date +%s) - t0))" "${runs:-?}" "$rc" "$log"
        return 1
    fi
}

failed=0
running=0
pids=()
for t in "${targets[@]}"; do
    run_one "$t" &
    pids+=($!)
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
exit "$failed"
