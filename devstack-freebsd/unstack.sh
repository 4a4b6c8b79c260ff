#!/bin/sh
# Undo stack.sh: on FreeBSD, lib/freebsd.sh down (agent and datapath
# stopped, interfaces detached, tables and module gone); on Linux, the
# sandbox (processes, namespaces, shared memory, its Neutron objects),
# then the development Neutron, if it runs.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)

linux_sandbox() {
	cd "$HERE/.."
	.venv/bin/bsdnet-sandbox --prefix "${PREFIX:-bsx}" down
	if bash scripts/neutron-dev.sh status >/dev/null 2>&1; then
		bash scripts/neutron-dev.sh down
	fi
}

case "$(uname -s)" in
FreeBSD) exec /bin/sh "$HERE/lib/freebsd.sh" down ;;
Linux) linux_sandbox ;;
*) echo "unstack.sh: unsupported system $(uname -s)" >&2; exit 1 ;;
esac
