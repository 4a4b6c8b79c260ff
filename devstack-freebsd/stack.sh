#!/bin/sh
# Bring up bsdnet's main job.  /bin/sh: stock FreeBSD has no bash.
#
# On FreeBSD: a real compute node (lib/freebsd.sh up: packages, bsdnet.ko,
# rc.conf, services, self-check; see its header for the environment).
# On Linux (development, CI): install what is needed, then build the
# two-node sandbox (nodes and VMs as network namespaces, each node with its
# own datapath and agent) and ping across it, VM to VM over MPLS over GRE.
# Environment (Linux): NODES (2), VMS_PER_NODE (2), NETWORKS (2),
# PREFIX (bsx).
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
	$sb -v up --nodes "${NODES:-2}" --vms-per-node "${VMS_PER_NODE:-2}" \
	    --networks "${NETWORKS:-2}"
	echo
	echo "== ping from n1-vm1 to n2-vm1 (same network, other node) =="
	$sb exec n1-vm1 -- ping -n -c 3 10.0.0.2
	echo
	echo "sandbox is up: '$sb status --json' describes it," \
	    "'.venv/bin/bsdnet-vrctl --shm ${PREFIX:-bsx}-n1 flow' shows node" \
	    "n1's flows, 'sh devstack-freebsd/unstack.sh' removes it."
}

case "$(uname -s)" in
FreeBSD) exec /bin/sh "$HERE/lib/freebsd.sh" up ;;
Linux) linux_sandbox ;;
*) echo "stack.sh: unsupported system $(uname -s)" >&2; exit 1 ;;
esac
