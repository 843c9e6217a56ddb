#!/usr/bin/env bash
# Start SeaweedFS (`weed mini`: master, volume, filer and S3 gateway in one
# process) on 127.0.0.1 for the S3 tests. Ports: S3 on BASE_PORT, the others
# on BASE_PORT+1..3 (their gRPC ports are 10000 higher). Prints the PID on
# stdout when the S3 endpoint answers. Stop it by that PID.
#
# usage: scripts/cloudlab/start-seaweedfs.sh DIR BASE_PORT ACCESS_KEY SECRET_KEY
set -euo pipefail
dir=$1; port=$2; access=$3; secret=$4
LAB=${SNF_CLOUDLAB:-/var/tmp/snf-cloudlab}
weed=$LAB/venv-seaweedfs/bin/weed
[ -x "$weed" ] || { echo "start-seaweedfs: $weed is missing: run scripts/cloudlab/install.sh" >&2; exit 1; }
mkdir -p "$dir/data"
cat > "$dir/s3.json" <<JSON
{"identities":[{"name":"admin","credentials":[{"accessKey":"$access","secretKey":"$secret"}],
  "actions":["Admin","Read","List","Tagging","Write"]}]}
JSON
cd "$dir"
"$weed" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port=$((port + 1)) -volume.port=$((port + 2)) -filer.port=$((port + 3)) -s3.port="$port" \
    -s3.config="$dir/s3.json" -admin.ui=false > "$dir/weed.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)
    case "$code" in 2*|3*|4*) echo "$pid"; exit 0;; esac
    kill -0 "$pid" 2>/dev/null || { echo "seaweedfs exited; see $dir/weed.log" >&2; exit 1; }
    sleep 0.1
done
kill "$pid"; echo "seaweedfs did not start; see $dir/weed.log" >&2; exit 1
