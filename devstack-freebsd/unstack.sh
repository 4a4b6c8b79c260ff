#!/bin/sh
# Undo stack.sh: on FreeBSD, lib/freebsd.sh down (agent and datapath
# stopped, interfaces detached, tables and module gone); on Linux, the
# sandbox (processes, namespaces, shared memory).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)

case "$(uname -s)" in
FreeBSD) exec /bin/sh "$HERE/lib/freebsd.sh" down ;;
Linux) cd "$HERE/.." && exec .venv/bin/bsdnet-sandbox --prefix "${PREFIX:-bsx}" down ;;
*) echo "unstack.sh: unsupported system $(uname -s)" >&2; exit 1 ;;
esac
