#!/bin/sh
# The FreeBSD bring-up of a bsdnet compute node: stack.sh and unstack.sh
# run it as "freebsd.sh up" and "freebsd.sh down".  /bin/sh: stock
# FreeBSD has no bash.
#
# up: packages (the port's dependencies, pkg install), kernel sources if
# missing, bsdnet.ko, bsdnetctl and bsdnet-netmap built and installed,
# the Python package installed, the rc.d scripts installed, the modules
# bhyve and the bridges need loaded (and kept in kld_list), tap up on
# open, the agent's configuration (fabric interface and address), the
# rc.conf knobs, service bsdnet_datapath start, service bsdnet_agent
# start, and a self-check that says what works.
# down: the agent stopped, every interface detached, the tables and the
# module gone (kmod), the datapath stopped, the services disabled.
#
# Environment:
#   BSDNET_MODE    kmod (default: bsdnet.ko) or netmap (bsdnet-netmap)
#   BSDNET_FABRIC  the fabric interface (default: the default route's)
#   BSDNET_PYTHON  python3.11 (its pkg prefix, py311-, follows)
#   BSDNET_ROOT    prefix of the files written (tests; default /)
set -eu

REPO=$(cd "$(dirname "$0")/../.." && pwd)
ROOT=${BSDNET_ROOT:-}
MODE=${BSDNET_MODE:-kmod}
PY=${BSDNET_PYTHON:-python3.11}
PYPKG=py$(echo "${PY#python}" | tr -d .)-
PORT="$REPO/port/net/py-bsdnet"
RCD="$ROOT/usr/local/etc/rc.d"
CONFDIR="$ROOT/usr/local/etc/bsdnet"
KMODS="vmm nmdm if_bridge"

say() { echo "freebsd.sh: $*"; }
die() { echo "freebsd.sh: $*" >&2; exit 1; }

check_host() {
	[ "$(uname -s)" = FreeBSD ] || die "not FreeBSD: $(uname -s)"
	major=$(uname -r | sed 's/\..*//')
	[ "$major" -ge 14 ] || die "FreeBSD $(uname -r): 14.0 or later needed"
	[ "$(id -u)" -eq 0 ] || die "run as root"
	case "$MODE" in
	kmod|netmap) ;;
	*) die "BSDNET_MODE must be kmod or netmap, not '$MODE'" ;;
	esac
}

# The fabric: BSDNET_FABRIC, or the interface of the default route.
find_fabric() {
	FABRIC=${BSDNET_FABRIC:-}
	if [ -z "$FABRIC" ]; then
		FABRIC=$(route -n get default 2>/dev/null |
		    awk '$1 == "interface:" { print $2 }')
	fi
	[ -n "$FABRIC" ] || die "no fabric interface: set BSDNET_FABRIC"
	case "$FABRIC" in
	*[!A-Za-z0-9_.-]*) die "fabric '$FABRIC': not an interface name" ;;
	esac
	[ ${#FABRIC} -lt 16 ] || die "fabric '$FABRIC': longer than IFNAMSIZ"
	ifconfig "$FABRIC" >/dev/null || die "no interface $FABRIC"
	FABRIC_IP=$(ifconfig "$FABRIC" | awk '$1 == "inet" { print $2; exit }')
	[ -n "$FABRIC_IP" ] || die "$FABRIC has no IPv4 address (the tunnel source)"
}

# The port's BUILD_ and RUN_DEPENDS, as package names: one list.
port_packages() {
	sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$PORT/Makefile" |
	    awk '/^(BUILD|RUN)_DEPENDS=/ { sub(/^[A-Z_]+=[ \t]*/, ""); print }' |
	    tr ' \t' '\n\n' | sed -n 's/^\([^:]*\):.*/\1/p' |
	    sed -e "s/\${PYTHON_PKGNAMEPREFIX}/$PYPKG/" -e 's/[<>=].*//' |
	    grep -v '^bsdnet-kmod$' | sort -u
}

install_packages() {
	pkgs="$(echo "$PY" | tr -d .) ${PYPKG}pip $(port_packages)"
	say "packages: $pkgs"
	# shellcheck disable=SC2086
	pkg install -y $pkgs
}

kernel_sources() {
	[ -f "$ROOT/usr/src/sys/conf/kmod.mk" ] && return 0
	rel=$(uname -r | cut -d- -f1,2)
	say "kernel sources for $rel (src.txz)"
	fetch -o "$ROOT/tmp/src.txz" \
	    "https://download.freebsd.org/releases/$(uname -m)/$rel/src.txz"
	tar -C "$ROOT/" -xf "$ROOT/tmp/src.txz"
	[ -f "$ROOT/usr/src/sys/conf/kmod.mk" ] || die "no /usr/src after src.txz"
}

build_kmod() {
	if [ "$MODE" = kmod ]; then
		say "building bsdnet.ko and bsdnetctl"
		make -C "$REPO/kmod/freebsd" SYSDIR="$ROOT/usr/src/sys"
		make -C "$REPO/kmod/freebsd" SYSDIR="$ROOT/usr/src/sys" install
		kldxref "$ROOT/boot/modules"
		make -C "$REPO/kmod/freebsd/bsdnetctl"
		install -m 555 "$REPO/kmod/freebsd/bsdnetctl/bsdnetctl" \
		    "$ROOT/usr/local/sbin/"
	fi
	say "building bsdnet-netmap"
	make -C "$REPO/kmod/netmap"
	install -m 555 "$REPO/kmod/netmap/bsdnet-netmap" "$ROOT/usr/local/sbin/"
}

install_python() {
	say "installing the bsdnet package with $PY"
	"$PY" -m pip install --no-deps --no-build-isolation "$REPO"
}

# As the port does: %%PREFIX%% and %%PYTHON_CMD%% substituted.
install_rc_scripts() {
	mkdir -p "$RCD"
	for s in bsdnet_datapath bsdnet_agent; do
		sed -e "s|%%PREFIX%%|/usr/local|g" \
		    -e "s|%%PYTHON_CMD%%|/usr/local/bin/$PY|g" \
		    "$PORT/files/$s.in" > "$RCD/$s"
		chmod 555 "$RCD/$s"
	done
}

# bhyve (vmm), its consoles (nmdm), bridged networks (if_bridge); taps
# up when bhyve opens them (libvirt's taps are not brought up again on
# a VM's restart).  Kept across reboots.
kernel_setup() {
	say "kernel modules: $KMODS"
	# shellcheck disable=SC2086
	kldload -n $KMODS
	sysrc kld_list+="$KMODS"
	sysctl net.link.tap.up_on_open=1
	sysrc -f "$ROOT/etc/sysctl.conf" net.link.tap.up_on_open=1
}

agent_config() {
	mkdir -p "$CONFDIR"
	conf="$CONFDIR/bsdnet-agent.conf"
	if [ -f "$conf" ]; then
		say "keeping $conf"
		return 0
	fi
	transport=shm
	[ "$MODE" = kmod ] && transport=device
	cat > "$conf" <<CONF
# Written by devstack-freebsd/stack.sh; every option:
# bsdnet-agent.conf.sample beside it.
[datapath]
transport = $transport
device_create = true

[fabric]
interface = $FABRIC
address = $FABRIC_IP
CONF
	cp "$REPO/etc/bsdnet-agent.conf.sample" "$CONFDIR/"
	say "wrote $conf (fabric $FABRIC, $FABRIC_IP, transport $transport)"
}

# Started, or restarted when it runs (a second stack.sh picks up what
# changed); the datapath is left running: its tables carry the VMs.
start_services() {
	if ! service bsdnet_datapath status >/dev/null 2>&1; then
		service bsdnet_datapath start
	fi
	if service bsdnet_agent status >/dev/null 2>&1; then
		service bsdnet_agent stop
	fi
	service bsdnet_agent start
}

rc_conf() {
	sysrc bsdnet_datapath_enable=YES bsdnet_datapath_mode="$MODE" \
	    bsdnet_datapath_fabric="$FABRIC" bsdnet_agent_enable=YES
}

# What works, said plainly; non-zero if the node is not forwarding.
self_check() {
	ok=0
	if [ "$MODE" = kmod ]; then
		kldstat -q -m bsdnet || { say "FAIL: bsdnet.ko not loaded"; ok=1; }
		bsdnetctl geometry >/dev/null 2>&1 ||
		    { say "FAIL: no tables (bsdnetctl geometry)"; ok=1; }
		tries=0
		while :; do
			ports=$(bsdnetctl stats 2>/dev/null |
			    sed -n 's/.* ports \([0-9]*\) .*/\1/p')
			[ "${ports:-0}" -ge 1 ] && break
			tries=$((tries + 1))
			if [ "$tries" -ge "${BSDNET_CHECK_WAIT:-30}" ]; then
				say "FAIL: the agent attached no interface"
				ok=1
				break
			fi
			sleep 1
		done
	fi
	service bsdnet_datapath status >/dev/null ||
	    { say "FAIL: bsdnet_datapath not running"; ok=1; }
	service bsdnet_agent status >/dev/null ||
	    { say "FAIL: bsdnet_agent not running"; ok=1; }
	if [ "$ok" -eq 0 ]; then
		say "self-check passed: $MODE datapath up, fabric $FABRIC" \
		    "($FABRIC_IP) attached, agent running"
	fi
	return $ok
}

up() {
	check_host
	find_fabric
	install_packages
	[ "$MODE" = kmod ] && kernel_sources
	build_kmod
	install_python
	install_rc_scripts
	kernel_setup
	agent_config
	rc_conf
	ifconfig "$FABRIC" up
	start_services
	self_check
}

# Every interface the kernel holds, detached (the agent leaves them so
# that VMs keep forwarding across its restarts).
detach_all() {
	bsdnet-vrctl --device /dev/bsdnet --json vif |
	    "$PY" -c 'import json, sys
for v in json.load(sys.stdin):
    if v["os_index"]:
        print(v["vif"], v["name"])' |
	    while read -r vif name; do
		bsdnetctl detach "$vif" "$name"
	done
}

down() {
	check_host
	MODE=$(sysrc -n bsdnet_datapath_mode 2>/dev/null || echo "$MODE")
	service bsdnet_agent onestop || true
	if [ "$MODE" = kmod ] && kldstat -q -m bsdnet; then
		if bsdnetctl geometry >/dev/null 2>&1; then
			detach_all
			bsdnetctl destroy
		fi
		kldunload bsdnet
	fi
	service bsdnet_datapath onestop || true
	sysrc bsdnet_agent_enable=NO bsdnet_datapath_enable=NO
	say "bsdnet stopped; packages, modules and configuration stay"
}

case "${1:-}" in
up) up ;;
down) down ;;
*) die "usage: freebsd.sh up | down" ;;
esac
