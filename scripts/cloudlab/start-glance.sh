#!/usr/bin/env bash
# Start OpenStack Glance (image API v2) under gunicorn on 127.0.0.1:PORT,
# with sqlite and a file store under DIR. AUTH is `noauth` (every request is
# an admin's) or a Keystone URL (tokens checked by keystonemiddleware with
# the glance/service account that start-keystone.sh creates). Prints the PID
# on stdout when Glance answers. Stop it by that PID.
#
# usage: scripts/cloudlab/start-glance.sh DIR PORT noauth|KEYSTONE_URL
set -euo pipefail
dir=$1; port=$2; auth=$3
LAB=${SNF_CLOUDLAB:-/var/tmp/snf-cloudlab}
venv=$LAB/venv-glance
[ -x "$venv/bin/gunicorn" ] || { echo "start-glance: $venv is missing: run scripts/cloudlab/install.sh" >&2; exit 1; }
mkdir -p "$dir/etc" "$dir/images" "$dir/staging" "$dir/tasks" "$dir/run"
cp "$venv/etc/glance/glance-api-paste.ini" "$dir/etc/"
flavor=; [ "$auth" != noauth ] && flavor=keystone
cat > "$dir/etc/glance-api.conf" <<CONF
[DEFAULT]
worker_self_reference_url = http://127.0.0.1:$port
enabled_backends = fs:file
use_stderr = true
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $dir/images
[os_glance_staging_store]
filesystem_store_datadir = $dir/staging
[os_glance_tasks_store]
filesystem_store_datadir = $dir/tasks
[database]
connection = sqlite:///$dir/glance.sqlite
[paste_deploy]
config_file = $dir/etc/glance-api-paste.ini
flavor = $flavor
[oslo_concurrency]
lock_path = $dir/run
[oslo_policy]
policy_file = $dir/etc/policy.yaml
CONF
if [ "$auth" = noauth ]; then
    # No roles or project without auth: make every request an admin's.
    printf '"context_is_admin": ""\n' > "$dir/etc/policy.yaml"
else
    : > "$dir/etc/policy.yaml"
    cat >> "$dir/etc/glance-api.conf" <<CONF
[keystone_authtoken]
www_authenticate_uri = $auth
auth_url = $auth
auth_type = password
project_domain_id = default
user_domain_id = default
project_name = service
username = glance
password = service
CONF
fi
"$venv/bin/glance-manage" --config-file "$dir/etc/glance-api.conf" db_sync > "$dir/db_sync.log" 2>&1
cd "$dir"
OS_GLANCE_CONFIG_DIR=$dir/etc "$venv/bin/gunicorn" --bind "127.0.0.1:$port" --workers 1 --threads 4 \
    --timeout 600 'glance.wsgi.api:application' > "$dir/glance.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$port/healthcheck" > /dev/null && { echo "$pid"; exit 0; }
    kill -0 "$pid" 2>/dev/null || { echo "glance exited; see $dir/glance.log" >&2; exit 1; }
    sleep 0.1
done
kill "$pid"; echo "glance did not start; see $dir/glance.log" >&2; exit 1
