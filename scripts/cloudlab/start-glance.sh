#!/usr/bin/env bash
# Start OpenStack Glance (image API v2) under gunicorn on 127.0.0.1:PORT,
# with sqlite and a file store under DIR. AUTH is `noauth` (every request is
# an admin's) or a Keystone URL (tokens checked by keystonemiddleware with
# the glance/service account that start-keystone.sh creates). With `swift`
# (and a Keystone URL), Glance also has a multi-tenant Swift store: an
# image may be a location in its owner's Swift account (`swift+http://…`,
# read with the caller's token), added with the location API
# (`POST /v2/images/ID/locations`, which needs the `service` role in the
# user's or an `X-Service-Token`'s roles). Prints the PID on stdout when
# Glance answers. Stop it by that PID.
#
# usage: scripts/cloudlab/start-glance.sh DIR PORT noauth|KEYSTONE_URL [swift]
set -euo pipefail
dir=$1; port=$2; auth=$3; store=${4:-}
LAB=${SNF_CLOUDLAB:-/var/tmp/snf-cloudlab}
venv=$LAB/venv-glance
[ -x "$venv/bin/gunicorn" ] || { echo "start-glance: $venv is missing: run scripts/cloudlab/install.sh" >&2; exit 1; }
mkdir -p "$dir/etc" "$dir/images" "$dir/staging" "$dir/tasks" "$dir/run"
cp "$venv/etc/glance/glance-api-paste.ini" "$dir/etc/"
flavor=; [ "$auth" != noauth ] && flavor=keystone
if [ "$store" = swift ]; then
    # One store configuration (the multi-store one matches Swift locations
    # to a store by a URL prefix that a multi-tenant store lacks): images
    # in files, and locations in the caller's own Swift account.
    stores="[DEFAULT]
node_staging_uri = file://$dir/staging
[glance_store]
stores = file,http,swift
default_store = file
filesystem_store_datadir = $dir/images
swift_store_multi_tenant = true
swift_store_endpoint_type = publicURL"
else
    stores="[DEFAULT]
enabled_backends = fs:file
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $dir/images
[os_glance_staging_store]
filesystem_store_datadir = $dir/staging
[os_glance_tasks_store]
filesystem_store_datadir = $dir/tasks"
fi
cat > "$dir/etc/glance-api.conf" <<CONF
[DEFAULT]
worker_self_reference_url = http://127.0.0.1:$port
use_stderr = true
$stores
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
