#!/usr/bin/env bash
# The test command of README.md: set the machine up, then run every test.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-linux.sh
exec .venv/bin/python -m pytest "$@"
