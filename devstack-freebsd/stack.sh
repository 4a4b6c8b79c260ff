#!/usr/bin/env bash
# Bring up bsdnet's main job.
#
# On Linux (development, CI): install what is needed, then build the
# two-node sandbox (nodes and VMs as network namespaces, each node with its
# own datapath and agent) and ping across it, VM to VM over MPLS over GRE.
#
# Environment: NODES (2), VMS_PER_NODE (2), NETWORKS (2), PREFIX (bsx).
set -euo pipefail
cd "$(dirname "$0")/.."

case "$(uname -s)" in
Linux) ;;
FreeBSD)
    echo "stack.sh: bring-up of a real FreeBSD node (kernel module, rc.d services) is not" >&2
    echo "written yet; see kmod/README for building and loading bsdnet.ko by hand." >&2
    exit 1 ;;
*)
    echo "stack.sh: unsupported system $(uname -s)" >&2; exit 1 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
    echo "stack.sh: run as root (network namespaces, apt)" >&2; exit 1
fi

bash scripts/setup-linux.sh
SB=(.venv/bin/bsdnet-sandbox --prefix "${PREFIX:-bsx}")
"${SB[@]}" down >/dev/null 2>&1 || true
"${SB[@]}" -v up --nodes "${NODES:-2}" --vms-per-node "${VMS_PER_NODE:-2}" \
    --networks "${NETWORKS:-2}"
echo
echo "== ping from n1-vm1 to n2-vm1 (same network, other node) =="
"${SB[@]}" exec n1-vm1 -- ping -n -c 3 10.0.0.2
echo
echo "sandbox is up: '${SB[*]} status --json' describes it, '.venv/bin/bsdnet-vrctl --shm ${PREFIX:-bsx}-n1 flow' shows node n1's flows,"
echo "'bash devstack-freebsd/unstack.sh' removes it."
