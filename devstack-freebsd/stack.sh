#!/bin/sh
# Bring up bsdnet's main job.  /bin/sh: stock FreeBSD has no bash.
#
# On FreeBSD: a real compute node (lib/freebsd.sh up: packages, bsdnet.ko,
# rc.conf, services, self-check; see its header for the environment).
# On Linux (development, CI): install what is needed, start a real Neutron
# (scripts/neutron-dev.sh: MariaDB, RabbitMQ, neutron-server from PyPI),
# then build the two-node sandbox it drives (nodes and VMs as network
# namespaces, each node with its own datapath and its agent in Neutron
# mode; networks, subnets and ports made in Neutron, addresses by DHCP)
# and ping across it, VM to VM over MPLS over GRE.
# Environment (Linux): NODES (2), VMS_PER_NODE (2), NETWORKS (2),
# PREFIX (bsx); HAND_FED=1 for the sandbox without Neutron (agents fed by
# topology files).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)

linux_sandbox() {
	cd "$HERE/.."
	if [ "$(id -u)" -ne 0 ]; then
		echo "stack.sh: run as root (network namespaces, apt)" >&2
		exit 1
	fi
	bash scripts/setup-linux.sh
	sb=".venv/bin/bsdnet-sandbox --prefix ${PREFIX:-bsx}"
	$sb down >/dev/null 2>&1 || true
	if [ "${HAND_FED:-0}" = 1 ]; then
		$sb -v up --nodes "${NODES:-2}" --vms-per-node "${VMS_PER_NODE:-2}" \
		    --networks "${NETWORKS:-2}"
	else
		bash scripts/neutron-dev.sh up
		eval "$(bash scripts/neutron-dev.sh env)"
		$sb -v up --nodes "${NODES:-2}" --vms-per-node "${VMS_PER_NODE:-2}" \
		    --networks "${NETWORKS:-2}" --neutron --neutron-url "$NEUTRON_URL" \
		    --transport-url "$TRANSPORT_URL"
	fi
	# n2-vm1: the same network as n1-vm1, on the other node.
	dst=$($sb status --json | .venv/bin/python -c 'import json, sys
print(next(v["ip"] for v in json.load(sys.stdin)["vms"] if v["name"] == "n2-vm1"))')
	echo
	echo "== ping from n1-vm1 to n2-vm1 at $dst (same network, other node) =="
	$sb exec n1-vm1 -- ping -n -c 3 "$dst"
	echo
	echo "sandbox is up: '$sb status --json' describes it," \
	    "'.venv/bin/bsdnet-vrctl --shm ${PREFIX:-bsx}-n1 flow' shows node" \
	    "n1's flows, 'sh devstack-freebsd/unstack.sh' removes it."
	if [ "${HAND_FED:-0}" != 1 ]; then
		echo "Neutron's API is at $NEUTRON_URL (no Keystone:" \
		    "curl $NEUTRON_URL/v2.0/agents)."
	fi
}

case "$(uname -s)" in
FreeBSD) exec /bin/sh "$HERE/lib/freebsd.sh" up ;;
Linux) linux_sandbox ;;
*) echo "stack.sh: unsupported system $(uname -s)" >&2; exit 1 ;;
esac
