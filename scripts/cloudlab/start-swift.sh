#!/usr/bin/env bash
# Start OpenStack Swift on 127.0.0.1: a one-replica, one-device cluster
# under DIR (account, container and object servers on free ports) and its
# proxy on PORT, with Keystone auth (keystonemiddleware's authtoken with
# the swift/service account that start-keystone.sh creates given a
# SWIFT_URL, and keystoneauth: roles admin and member own their project's
# account), and static and dynamic large objects. One supervising process
# runs the four servers and stops them when it gets SIGTERM; its PID is
# printed on stdout once the proxy answers. Stop it by that PID.
#
# usage: scripts/cloudlab/start-swift.sh DIR PORT KEYSTONE_URL
set -euo pipefail
dir=$(realpath -m "$1"); port=$2; keystone=$3
LAB=${SNF_CLOUDLAB:-/var/tmp/snf-cloudlab}
venv=$LAB/venv-swift
[ -x "$venv/bin/swift-proxy-server" ] || { echo "start-swift: $venv is missing: run scripts/cloudlab/install.sh" >&2; exit 1; }
etc=$dir/etc; mkdir -p "$etc" "$dir/srv/d1" "$dir/log"
read -r acc cont obj < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
cat > "$etc/swift.conf" <<CONF
[swift-hash]
swift_hash_path_suffix = snf-cloudlab
swift_hash_path_prefix = snf-cloudlab
[storage-policy:0]
name = gold
default = yes
CONF
for kind in account:$acc container:$cont object:$obj; do
    name=${kind%%:*}; p=${kind##*:}
    cat > "$etc/$name-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $p
devices = $dir/srv
mount_check = false
disable_fallocate = true
swift_dir = $etc
workers = 0
log_name = $name
[pipeline:main]
pipeline = $name-server
[app:$name-server]
use = egg:swift#$name
CONF
    b=$etc/$name.builder
    "$venv/bin/swift-ring-builder" "$b" create 6 1 1 > /dev/null
    "$venv/bin/swift-ring-builder" "$b" add "r1z1-127.0.0.1:$p/d1" 100 > /dev/null
    "$venv/bin/swift-ring-builder" "$b" rebalance > /dev/null || true
done
cat > "$etc/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
swift_dir = $etc
workers = 0
log_name = proxy
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging authtoken keystoneauth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = $keystone
auth_url = $keystone
auth_type = password
project_domain_id = default
user_domain_id = default
project_name = service
username = swift
password = service
delay_auth_decision = True
[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, member
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
CONF
# The supervisor: the four servers as its children, stopped with it.
(
    pids=
    for s in account container object proxy; do
        "$venv/bin/swift-$s-server" "$etc/$s-server.conf" > "$dir/log/$s.log" 2>&1 &
        pids="$pids $!"
    done
    trap 'kill $pids 2>/dev/null; wait; exit 0' TERM INT
    wait
) > /dev/null 2>&1 < /dev/null &
pid=$!
for _ in $(seq 1 600); do
    up() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }
    up "$acc" && up "$cont" && up "$obj" && curl -sf "http://127.0.0.1:$port/healthcheck" > /dev/null &&
        { echo "$pid"; exit 0; }
    kill -0 "$pid" 2>/dev/null || { echo "swift exited; see $dir/log" >&2; exit 1; }
    sleep 0.1
done
kill "$pid"; echo "swift did not start; see $dir/log" >&2; exit 1
