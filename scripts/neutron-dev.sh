#!/usr/bin/env bash
# A real Neutron server for development and CI, without Keystone.
#
#   neutron-dev.sh up        start MariaDB, RabbitMQ, the Neutron API and RPC server
#                            (or restart a server whose configuration changed)
#   neutron-dev.sh down      stop everything `up` started; leaves nothing running
#   neutron-dev.sh status    say what runs (exit 1 if something is not up)
#   neutron-dev.sh env       print NEUTRON_URL=... and TRANSPORT_URL=... for scripts
#   neutron-dev.sh restart api|rpc|rabbitmq
#                            stop and start one part (tests of resync use it)
#
# Neutron is PyPI's neutron 29 in the project's .venv (scripts/setup-linux.sh
# installs it with the pins of scripts/constraints.txt).  neutron 29 has no
# neutron-server command: the API is its WSGI application under gunicorn, the
# agents' RPC is neutron-rpc-server.  ML2 runs bsdnet's mechanism driver with
# l2population, the vxlan, flat and vlan type drivers; auth_strategy = noauth.
#
# Environment:
#   NEUTRON_DEV_DIR   state, configuration and logs (/var/lib/bsdnet-neutron-dev)
#   NEUTRON_API_HOST  address the API listens on (127.0.0.1); port NEUTRON_API_PORT (9696)
#   RABBIT_HOST       address agents reach RabbitMQ at (127.0.0.1); it listens on
#                     every address, so agents in other namespaces can use another
#   VNI_RANGES        ml2_type_vxlan vni_ranges (1:1000; bsdnet maps a VNI to an
#                     MPLS label, so VNIs must fit the agents' label window)
#   VLAN_RANGES       ml2_type_vlan network_vlan_ranges (physnet1:100:200)
#   AGENT_DOWN_TIME   seconds without a report before an agent is dead (75;
#                     the tests use less, with agents reporting more often)
#
# Needs root (apt, services).  Logs: $NEUTRON_DEV_DIR/log/.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DIR=${NEUTRON_DEV_DIR:-/var/lib/bsdnet-neutron-dev}
API_HOST=${NEUTRON_API_HOST:-127.0.0.1}
API_PORT=${NEUTRON_API_PORT:-9696}
RABBIT_HOST=${RABBIT_HOST:-127.0.0.1}
VENV=$REPO/.venv
# One node name whatever the host is called: rabbitmqctl must reach it.
export RABBITMQ_NODENAME=rabbit@localhost
export HOME=${HOME:-/root}

say() { printf 'neutron-dev: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

secret() {  # name: a random password kept in $DIR/secrets (made once)
    local f=$DIR/secrets/$1
    if [ ! -s "$f" ]; then
        umask 077
        mkdir -p "$DIR/secrets"
        head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$f"
    fi
    cat "$f"
}

api_url() { echo "http://$API_HOST:$API_PORT"; }
transport_url() { echo "rabbit://neutron:$(secret rabbit)@$RABBIT_HOST:5672/neutron"; }

write_config() {
    mkdir -p "$DIR"/{etc,state,log,lock,run}
    cp "$VENV/etc/neutron/api-paste.ini" "$DIR/etc/api-paste.ini"
    cat >"$DIR/etc/neutron.conf" <<EOF
[DEFAULT]
core_plugin = ml2
service_plugins =
auth_strategy = noauth
transport_url = $(transport_url)
api_paste_config = $DIR/etc/api-paste.ini
state_path = $DIR/state
bind_host = $API_HOST
bind_port = $API_PORT
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 0
# No Nova and no DHCP agent here: do not try to notify them.
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
dhcp_agent_notification = false
agent_down_time = ${AGENT_DOWN_TIME:-75}
debug = false

[database]
connection = mysql+pymysql://neutron:$(secret mariadb)@127.0.0.1/neutron

[oslo_concurrency]
lock_path = $DIR/lock
EOF
    cat >"$DIR/etc/ml2_conf.ini" <<EOF
[ml2]
# gre: not one bsdnet carries; there so that tests can see it refused.
type_drivers = flat,vlan,vxlan,gre
tenant_network_types = vxlan
mechanism_drivers = bsdnet,l2population
extension_drivers = port_security
overlay_ip_version = 4

[ml2_type_flat]
flat_networks = *

[ml2_type_vlan]
network_vlan_ranges = ${VLAN_RANGES:-physnet1:100:200}

[ml2_type_vxlan]
vni_ranges = ${VNI_RANGES:-1:1000}

[ml2_type_gre]
tunnel_id_ranges = 1:1000
EOF
    # oslo.config parses sys.argv: hide gunicorn's arguments from it, and
    # name a log file (gunicorn daemonises; stderr would be lost).
    cat >"$DIR/run/neutron_api_wsgi.py" <<EOF
import os
import sys
os.environ["OS_NEUTRON_CONFIG_DIR"] = "$DIR/etc"
os.environ["OS_NEUTRON_CONFIG_FILES"] = "neutron.conf;ml2_conf.ini"
sys.argv = [sys.argv[0], "--log-file", "$DIR/log/neutron-api.log"]
from neutron.wsgi.api import application  # noqa: E402,F401
EOF
}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() {  # seconds, what, command...
    local t=$1 what=$2 i; shift 2
    for ((i = 0; i < t * 4; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    die "gave up after ${t}s waiting for $what (logs in $DIR/log)"
}

mariadb_up() {
    if ! mysqladmin ping >/dev/null 2>&1; then
        /etc/init.d/mariadb start >"$DIR/log/mariadb-start.log" 2>&1 ||
            die "MariaDB did not start: $(tail -3 "$DIR/log/mariadb-start.log")"
        touch "$DIR/run/started-mariadb"
    fi
    mysql -uroot <<SQL
CREATE DATABASE IF NOT EXISTS neutron;
CREATE USER IF NOT EXISTS 'neutron'@'127.0.0.1' IDENTIFIED BY '$(secret mariadb)';
ALTER USER 'neutron'@'127.0.0.1' IDENTIFIED BY '$(secret mariadb)';
GRANT ALL ON neutron.* TO 'neutron'@'127.0.0.1';
SQL
}

rabbit_ping() { rabbitmqctl -q await_startup --timeout 1 >/dev/null 2>&1; }

rabbit_up() {
    if ! rabbit_ping; then
        rabbitmq-server -detached >"$DIR/log/rabbitmq-start.log" 2>&1
        wait_for 60 RabbitMQ rabbit_ping
    fi
    local users
    users=$(rabbitmqctl -q list_users)
    grep -q '^neutron\b' <<<"$users" ||
        rabbitmqctl -q add_user neutron "$(secret rabbit)" >/dev/null
    rabbitmqctl -q change_password neutron "$(secret rabbit)" >/dev/null
    grep -qx neutron <<<"$(rabbitmqctl -q list_vhosts)" || rabbitmqctl -q add_vhost neutron
    rabbitmqctl -q set_permissions -p neutron neutron '.*' '.*' '.*' >/dev/null
}

rabbit_down() {
    rabbitmqctl -q stop >/dev/null 2>&1 || true
    # rabbitmqctl stop leaves epmd, Erlang's port mapper, listening on 4369.
    local epmd
    epmd=$(ss -ltnpH 'sport = :4369' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
    [ -z "$epmd" ] || kill "$epmd" 2>/dev/null || true
}

api_ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$(api_url)/v2.0/networks")" = 200 ]; }
rpc_ready() {  # (not a pipe into grep -q: with pipefail, SIGPIPE would fail it)
    local q
    q=$(rabbitmqctl -q list_queues -p neutron name consumers 2>/dev/null) || return 1
    grep -qE '^q-reports-plugin\s+[1-9]' <<<"$q"
}

# What the running servers were started with: `up` restarts a server whose
# configuration (or venv) changed since, so that it converges.
config_id() { cat "$DIR/etc/neutron.conf" "$DIR/etc/ml2_conf.ini" | cksum; echo "$VENV"; }

fresh() {  # pidfile: alive and started with the configuration now written
    alive "$1" && [ "$(cat "$1.config" 2>/dev/null)" = "$(config_id)" ]
}

api_up() {
    fresh "$DIR/run/neutron-api.pid" && return 0
    stop_pid "$DIR/run/neutron-api.pid"
    config_id >"$DIR/run/neutron-api.pid.config"
    "$VENV/bin/gunicorn" -D -b "$API_HOST:$API_PORT" -w 1 --threads 4 \
        --chdir "$DIR/run" --no-control-socket -p "$DIR/run/neutron-api.pid" \
        --log-file "$DIR/log/gunicorn.log" neutron_api_wsgi:application
    wait_for 60 "the Neutron API at $(api_url)" api_ready
}

rpc_up() {
    fresh "$DIR/run/neutron-rpc.pid" && return 0
    stop_pid "$DIR/run/neutron-rpc.pid"
    config_id >"$DIR/run/neutron-rpc.pid.config"
    setsid nohup "$VENV/bin/neutron-rpc-server" --config-file "$DIR/etc/neutron.conf" \
        --config-file "$DIR/etc/ml2_conf.ini" --log-file "$DIR/log/neutron-rpc.log" \
        >"$DIR/log/neutron-rpc.stdout" 2>&1 </dev/null &
    echo $! >"$DIR/run/neutron-rpc.pid"
    wait_for 60 "neutron-rpc-server to consume q-reports-plugin" rpc_ready
}

stop_pid() {  # pidfile: TERM, wait, then KILL; never by name
    local f=$1 p i
    [ -s "$f" ] || return 0
    p=$(cat "$f")
    kill -TERM "$p" 2>/dev/null || { rm -f "$f"; return 0; }
    for ((i = 0; i < 40; i++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$p" 2>/dev/null && kill -KILL -- -"$p" "$p" 2>/dev/null
    rm -f "$f"
}

up() {
    [ "$(id -u)" -eq 0 ] || die "run as root (services)"
    [ -x "$VENV/bin/neutron-db-manage" ] ||
        die "no Neutron in $VENV: run scripts/setup-linux.sh first"
    write_config
    local t0=$SECONDS
    mariadb_up
    rabbit_up
    if [ ! -e "$DIR/state/schema-done" ]; then
        "$VENV/bin/neutron-db-manage" --config-file "$DIR/etc/neutron.conf" \
            --config-file "$DIR/etc/ml2_conf.ini" upgrade heads >"$DIR/log/db-manage.log" 2>&1 ||
            die "neutron-db-manage failed: see $DIR/log/db-manage.log"
        touch "$DIR/state/schema-done"
    fi
    api_up
    rpc_up
    say "up in $((SECONDS - t0))s: API $(api_url), RPC $(transport_url | sed 's/:[^:@]*@/:***@/')"
}

down() {
    stop_pid "$DIR/run/neutron-rpc.pid"
    stop_pid "$DIR/run/neutron-api.pid"
    rabbit_down
    if [ -e "$DIR/run/started-mariadb" ]; then
        /etc/init.d/mariadb stop >/dev/null 2>&1 || true
        rm -f "$DIR/run/started-mariadb"
    fi
    say "down"
}

status() {
    local bad=0
    api_ready && say "API: $(api_url) answers" || { say "API: not answering"; bad=1; }
    rabbit_ping && say "RabbitMQ: up" || { say "RabbitMQ: down"; bad=1; }
    rabbit_ping && rpc_ready && say "RPC server: consuming" || { say "RPC server: not consuming"; bad=1; }
    mysqladmin ping >/dev/null 2>&1 && say "MariaDB: up" || { say "MariaDB: down"; bad=1; }
    return $bad
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
env)
    echo "NEUTRON_URL=$(api_url)"
    echo "TRANSPORT_URL=$(transport_url)"
    echo "NEUTRON_DEV_DIR=$DIR" ;;
restart)
    case "${2:-}" in
    api) stop_pid "$DIR/run/neutron-api.pid"; api_up ;;
    rpc) stop_pid "$DIR/run/neutron-rpc.pid"; rpc_up ;;
    rabbitmq) rabbit_down; rabbit_up; wait_for 60 "neutron-rpc-server to reconnect" rpc_ready ;;
    *) die "restart what? api, rpc or rabbitmq" ;;
    esac ;;
-h | --help | help) usage ;;
*) usage >&2; exit 2 ;;
esac
