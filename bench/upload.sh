#!/usr/bin/env bash
# Benchmark of the upload (src/cloud/transfer.rs, the Pithos hashmap
# protocol) against `curl -T` of the same bytes to the same server: our
# `serve` on 127.0.0.1, which stores a plain PUT in the same block store.
#
#   (a)  snf-image-creator upload FILE   (one pass: read, MD5, hash, ask which
#        blocks are missing, send them; then the hashmap PUT)
#   (b)  curl -T FILE .../object         (one streaming PUT)
#   (c)  snf-image-creator upload -f FILE again: blocks sent, seconds
#   (d)  snf-image-creator upload -c s3:BUCKET to SeaweedFS (multipart)
#   (e)  curl -T --aws-sigv4 of the same file to the same SeaweedFS
#
# The image (1 GiB: 896 MiB of random data and 128 MiB of zeros) is built
# once under $SNF_BENCH_DIR (default /var/tmp/snf-bench). Each upload goes
# to a fresh store, so nothing is deduplicated across runs; the best of
# RUNS counts. Prints MiB/s and the ratio (a)/(b).
#
# Usage: bench/upload.sh   (env: RUNS=2, SNF_BENCH_DIR)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${SNF_BENCH_DIR:-/var/tmp/snf-bench}
RUNS=${RUNS:-2}
IMG=$CACHE/upload-v1.img
BIN=$ROOT/target/release/snf-image-creator
WORK=$(mktemp -d "$CACHE/upload-run.XXXXXX")
SERVE_PID=
cleanup() {
    [[ -n $SERVE_PID ]] && kill "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$CACHE"

if [[ ! -f $IMG ]]; then
    echo "building $IMG (once)..." >&2
    { head -c 896M /dev/urandom; head -c 128M /dev/zero; } > "$IMG.tmp"
    mv "$IMG.tmp" "$IMG"
fi
(cd "$ROOT" && cargo build --release --locked -q)
SIZE=$(stat -c %s "$IMG")

start_server() { # STORE -> sets SERVE_PID, URL, TOKEN
    local store=$1
    mkdir -p "$store"
    TOKEN=bench-$RANDOM$RANDOM
    echo "$TOKEN 00000000-0000-4000-8000-000000000001 bench" > "$store.tokens"
    "$BIN" serve --listen 127.0.0.1:0 --store "$store" --token-file "$store.tokens" 2> "$store.log" &
    SERVE_PID=$!
    for _ in $(seq 1 100); do
        URL=$(sed -n 's/^Identity URL (kamaki url, snf-mkimage -a): //p' "$store.log")
        [[ -n $URL ]] && return
        sleep 0.1
    done
    echo "serve did not start" >&2; exit 1
}
stop_server() { kill "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true; SERVE_PID=; }
now() { date +%s.%N; }
mibs() { echo "scale=1; $SIZE / 1048576 / $1" | bc; }

best_ours=; best_curl=
for run in $(seq 1 "$RUNS"); do
    start_server "$WORK/ours-$run"
    t0=$(now)
    "$BIN" upload -s -a "$URL" -t "$TOKEN" "$IMG" > /dev/null
    t=$(echo "$(now) - $t0" | bc)
    [[ -z $best_ours || $(echo "$t < $best_ours" | bc) = 1 ]] && best_ours=$t
    if [[ $run = 1 ]]; then
        t0=$(now)
        "$BIN" upload -f -a "$URL" -t "$TOKEN" "$IMG" 2> "$WORK/again.log" > /dev/null
        again=$(echo "$(now) - $t0" | bc)
        sent=$(sed -n 's/.*Uploading missing blocks ... \(.*\)/\1/p' "$WORK/again.log" | tail -1)
    fi
    stop_server
    start_server "$WORK/curl-$run"
    base=${URL%/identity/v2.0}
    curl -sf -X PUT -H "X-Auth-Token: $TOKEN" "$base/object-store/v1/00000000-0000-4000-8000-000000000001/images" -o /dev/null
    t0=$(now)
    curl -sf -T "$IMG" -H "X-Auth-Token: $TOKEN" -H "Content-Type: application/octet-stream" \
        "$base/object-store/v1/00000000-0000-4000-8000-000000000001/images/bench.img" -o /dev/null
    t=$(echo "$(now) - $t0" | bc)
    [[ -z $best_curl || $(echo "$t < $best_curl" | bc) = 1 ]] && best_curl=$t
    stop_server
    rm -rf "$WORK/ours-$run" "$WORK/curl-$run"
done

# SeaweedFS (S3): our multipart upload against curl's SigV4 PUT.
weed_dir=$WORK/weed; port=$((20000 + RANDOM % 20000))
weed_pid=$("$ROOT/scripts/cloudlab/start-seaweedfs.sh" "$weed_dir" "$port" AKIDBENCH SECRETBENCH)
s3env=(env AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=SECRETBENCH AWS_REGION=us-east-1
       AWS_ENDPOINT_URL=http://127.0.0.1:$port)
curl -sf -X PUT --aws-sigv4 aws:amz:us-east-1:s3 --user AKIDBENCH:SECRETBENCH "http://127.0.0.1:$port/bench" -o /dev/null
t0=$(now)
"${s3env[@]}" "$BIN" upload -s -f -c s3:bench "$IMG" > /dev/null
s3_ours=$(echo "$(now) - $t0" | bc)
t0=$(now)
curl -sf -T "$IMG" --aws-sigv4 aws:amz:us-east-1:s3 --user AKIDBENCH:SECRETBENCH \
    "http://127.0.0.1:$port/bench/curl.img" -o /dev/null
s3_curl=$(echo "$(now) - $t0" | bc)
# `weed mini` does not end on SIGTERM.
kill -9 "$weed_pid"

echo "== serve (Pithos API), $((SIZE / 1048576)) MiB, best of $RUNS"
printf '%-44s %8.2f s  %7s MiB/s\n' "(a) snf-image-creator upload (hashmap)" "$best_ours" "$(mibs "$best_ours")"
printf '%-44s %8.2f s  %7s MiB/s\n' "(b) curl -T (one PUT)" "$best_curl" "$(mibs "$best_curl")"
printf 'ratio (a)/(b) throughput: %s\n' "$(echo "scale=2; $best_curl / $best_ours" | bc)"
printf '(c) re-upload of the unchanged image: %s, %.2f s\n' "$sent" "$again"
echo "== SeaweedFS (S3), one run each"
printf '%-44s %8.2f s  %7s MiB/s\n' "(d) snf-image-creator upload -c s3: (multipart)" "$s3_ours" "$(mibs "$s3_ours")"
printf '%-44s %8.2f s  %7s MiB/s\n' "(e) curl -T --aws-sigv4 (one PUT)" "$s3_curl" "$(mibs "$s3_curl")"
printf 'ratio (d)/(e) throughput: %s\n' "$(echo "scale=2; $s3_curl / $s3_ours" | bc)"
