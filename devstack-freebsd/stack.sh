#!/usr/bin/env bash
# Bring up bsdnet's main job.
#
# On Linux (development, CI): install what is needed, start a real Neutron
# (scripts/neutron-dev.sh: MariaDB, RabbitMQ, neutron-server from PyPI),
# then build the two-node sandbox it drives (nodes and VMs as network
# namespaces, each node with its own datapath and its agent in Neutron
# mode; networks, subnets and ports made in Neutron, addresses by DHCP)
# and ping across it, VM to VM over MPLS over GRE.
#
# Environment: NODES (2), VMS_PER_NODE (2), NETWORKS (2), PREFIX (bsx);
# HAND_FED=1 for the sandbox without Neutron (the agents fed by topology
# files, as before Neutron drove them).
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
UP=(up --nodes "${NODES:-2}" --vms-per-node "${VMS_PER_NODE:-2}" --networks "${NETWORKS:-2}")
if [ "${HAND_FED:-0}" != 1 ]; then
    bash scripts/neutron-dev.sh up
    eval "$(bash scripts/neutron-dev.sh env)"
    UP+=(--neutron --neutron-url "$NEUTRON_URL" --transport-url "$TRANSPORT_URL")
fi
"${SB[@]}" -v "${UP[@]}"
# n2-vm1: the same network as n1-vm1, on the other node.
DST=$("${SB[@]}" status --json | .venv/bin/python -c \
    'import json, sys; print(next(v["ip"] for v in json.load(sys.stdin)["vms"] if v["name"] == "n2-vm1"))')
echo
echo "== ping from n1-vm1 to n2-vm1 at $DST (same network, other node) =="
"${SB[@]}" exec n1-vm1 -- ping -n -c 3 "$DST"
echo
echo "sandbox is up: '${SB[*]} status --json' describes it, '.venv/bin/bsdnet-vrctl --shm ${PREFIX:-bsx}-n1 flow' shows node n1's flows,"
if [ "${HAND_FED:-0}" != 1 ]; then
    echo "Neutron's API is at $NEUTRON_URL (no Keystone: curl $NEUTRON_URL/v2.0/agents);"
fi
echo "'bash devstack-freebsd/unstack.sh' removes it."
