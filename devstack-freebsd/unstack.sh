#!/usr/bin/env bash
# Remove what stack.sh built: the sandbox (processes, namespaces, shared
# memory, its Neutron objects), then the development Neutron, if running.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/bsdnet-sandbox --prefix "${PREFIX:-bsx}" down
if bash scripts/neutron-dev.sh status >/dev/null 2>&1; then
    bash scripts/neutron-dev.sh down
fi
