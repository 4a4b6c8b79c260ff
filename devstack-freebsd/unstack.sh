#!/usr/bin/env bash
# Remove the sandbox stack.sh built (processes, namespaces, shared memory).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/bsdnet-sandbox --prefix "${PREFIX:-bsx}" down
