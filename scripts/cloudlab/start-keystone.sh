#!/usr/bin/env bash
# Start OpenStack Keystone (identity v3, sqlite, fernet tokens) under
# gunicorn on 127.0.0.1:PORT, with: admin/admin (project admin), demo/demo
# (project demo, role member), service user glance/service (project
# service, roles admin and service), and an `image` endpoint GLANCE_URL;
# with SWIFT_URL, also a service user swift/service and an `object-store`
# endpoint SWIFT_URL/v1/AUTH_%(project_id)s.
# A bootstrapped database is cached per (PORT, GLANCE_URL[, SWIFT_URL]) in the cloud-lab
# cache, so later starts only copy it. Prints the PID on stdout when
# Keystone answers. Stop it by that PID.
#
# usage: scripts/cloudlab/start-keystone.sh DIR PORT GLANCE_URL [SWIFT_URL]
set -euo pipefail
dir=$1; port=$2; glance=$3; swift=${4:-}
LAB=${SNF_CLOUDLAB:-/var/tmp/snf-cloudlab}
venv=$LAB/venv-keystone
[ -x "$venv/bin/gunicorn" ] || { echo "start-keystone: $venv is missing: run scripts/cloudlab/install.sh" >&2; exit 1; }
mkdir -p "$dir/etc" "$dir/run"
cat > "$dir/etc/keystone.conf" <<CONF
[DEFAULT]
use_stderr = true
[database]
connection = sqlite:///$dir/keystone.sqlite
[identity]
password_hash_rounds = 4
[token]
provider = fernet
[fernet_tokens]
key_repository = $dir/fernet-keys
[fernet_receipts]
key_repository = $dir/fernet-receipts
[credential]
key_repository = $dir/credential-keys
CONF
km() { "$venv/bin/keystone-manage" --config-file "$dir/etc/keystone.conf" "$@" >> "$dir/setup.log" 2>&1; }
tpl=$LAB/keystone-template/$(echo "$port $glance${swift:+ $swift}" | md5sum | cut -c1-12)
fresh=0
if [ -f "$tpl/keystone.sqlite" ]; then
    cp -a "$tpl/keystone.sqlite" "$tpl/fernet-keys" "$tpl/fernet-receipts" "$tpl/credential-keys" "$dir/"
else
    fresh=1
    km db_sync
    km fernet_setup --keystone-user root --keystone-group root
    km credential_setup --keystone-user root --keystone-group root
    km bootstrap --bootstrap-password admin --bootstrap-admin-url "http://127.0.0.1:$port/v3/" \
        --bootstrap-internal-url "http://127.0.0.1:$port/v3/" \
        --bootstrap-public-url "http://127.0.0.1:$port/v3/" --bootstrap-region-id RegionOne
fi
# Keystone parses sys.argv with oslo.config: hide gunicorn's arguments.
printf 'import sys\nsys.argv = sys.argv[:1]\nfrom keystone.wsgi.api import application  # noqa\n' > "$dir/run/ks_wsgi.py"
OS_KEYSTONE_CONFIG_FILES=$dir/etc/keystone.conf "$venv/bin/gunicorn" --chdir "$dir/run" \
    --bind "127.0.0.1:$port" --workers 1 --threads 4 'ks_wsgi:application' > "$dir/keystone.log" 2>&1 &
pid=$!
K=http://127.0.0.1:$port/v3
for _ in $(seq 1 600); do
    curl -sf "$K" > /dev/null && break
    kill -0 "$pid" 2>/dev/null || { echo "keystone exited; see $dir/keystone.log" >&2; exit 1; }
    sleep 0.1
done
curl -sf "$K" > /dev/null || { kill "$pid"; echo "keystone did not start; see $dir/keystone.log" >&2; exit 1; }
if [ $fresh = 1 ]; then
    token=$(curl -s -D - -o /dev/null -X POST "$K/auth/tokens" -H 'Content-Type: application/json' \
        -d '{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"id":"default"},"password":"admin"}}},"scope":{"project":{"name":"admin","domain":{"id":"default"}}}}}' |
        tr -d '\r' | awk -F': ' 'tolower($1)=="x-subject-token"{print $2}')
    api() { curl -sf -X "$1" "$K$2" -H "X-Auth-Token: $token" -H 'Content-Type: application/json' ${3:+-d "$3"}; }
    id_of() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1']['id'])"; }
    role() { api GET "/roles?name=$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['roles'][0]['id'])"; }
    member=$(role member); admin=$(role admin); service=$(role service)
    sp=$(api POST /projects '{"project":{"name":"service","domain_id":"default"}}' | id_of project)
    dp=$(api POST /projects '{"project":{"name":"demo","domain_id":"default"}}' | id_of project)
    du=$(api POST /users '{"user":{"name":"demo","domain_id":"default","password":"demo"}}' | id_of user)
    api PUT "/projects/$dp/users/$du/roles/$member" > /dev/null
    gu=$(api POST /users '{"user":{"name":"glance","domain_id":"default","password":"service"}}' | id_of user)
    api PUT "/projects/$sp/users/$gu/roles/$admin" > /dev/null
    api PUT "/projects/$sp/users/$gu/roles/$service" > /dev/null
    img=$(api POST /services '{"service":{"name":"glance","type":"image"}}' | id_of service)
    api POST /endpoints "{\"endpoint\":{\"service_id\":\"$img\",\"interface\":\"public\",\"region_id\":\"RegionOne\",\"url\":\"$glance\"}}" > /dev/null
    if [ -n "$swift" ]; then
        su=$(api POST /users '{"user":{"name":"swift","domain_id":"default","password":"service"}}' | id_of user)
        api PUT "/projects/$sp/users/$su/roles/$admin" > /dev/null
        api PUT "/projects/$sp/users/$su/roles/$service" > /dev/null
        obj=$(api POST /services '{"service":{"name":"swift","type":"object-store"}}' | id_of service)
        api POST /endpoints "{\"endpoint\":{\"service_id\":\"$obj\",\"interface\":\"public\",\"region_id\":\"RegionOne\",\"url\":\"$swift/v1/AUTH_%(project_id)s\"}}" > /dev/null
    fi
    mkdir -p "$tpl"
    cp -a "$dir/keystone.sqlite" "$dir/fernet-keys" "$dir/fernet-receipts" "$dir/credential-keys" "$tpl/"
fi
echo "$pid"
