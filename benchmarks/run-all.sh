#!/usr/bin/env bash
# Run every benchmark once, one after the other, on whatever this machine
# is doing: each prints its figures and writes bench-results/NAME.json.
# Quote medians from one run, with `cat /proc/loadavg` beside them.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
mkdir -p bench-results
echo "load average before: $(cat /proc/loadavg)"
status=0
for b in bench_core bench_e2e bench_flowsetup bench_agent bench_secgroups bench_netdrv bench_routesock \
        "bench_neutron plug" "bench_neutron resync"; do
    echo "== $b"
    set -- $b
    "$PY" "benchmarks/$1.py" "${@:2}" || { echo "$b failed" >&2; status=1; }
done
echo "load average after: $(cat /proc/loadavg)"
exit $status
