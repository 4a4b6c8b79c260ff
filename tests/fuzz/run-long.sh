#!/usr/bin/env bash
# Longer fuzzing of the forwarding core, for anyone with a spare machine.
#   tests/fuzz/run-long.sh [seconds-per-harness] [jobs]
# Builds the harnesses into build/fuzz, keeps the growing corpora in
# build/fuzz/corpus_* (seeded from git) and crash artifacts in build/fuzz/.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-3600}"
jobs="${2:-1}"
out=build/fuzz
py=.venv/bin/python
[ -x "$py" ] || py=python3
mapfile -t bins < <("$py" tests/fuzz/fuzz_build.py "$out")
for bin in "${bins[@]}"; do
	name="$(basename "$bin" | sed 's/^fuzz_//')"
	corpus="$out/corpus_$name"
	mkdir -p "$corpus"
	cp -n tests/fuzz/corpus_"$name"/* "$corpus"/ 2>/dev/null || true
	echo "== fuzz_$name for ${secs}s, $jobs job(s); corpus $corpus"
	par=()
	if [ "$jobs" -gt 1 ]; then
		par=(-jobs="$jobs" -workers="$jobs")
	fi
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    "${par[@]}" -artifact_prefix="$out/" -print_final_stats=1 "$corpus"
done
