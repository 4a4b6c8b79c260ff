"""Forwarding-core benchmark: build bench_core.c with -O2, run it, report.

ns per packet on one core, no I/O, with 1M flows filling 90% of the flow
table (see bench_core.c for what is measured).  Prints a table and writes
bench-results/core.json.

    .venv/bin/python benchmarks/bench_core.py [--packets N] [--runs R]
        [--hugepages]

--hugepages backs the region with transparent huge pages (as a home
mapping it with huge/super pages would); the JSON says how much was
obtained.  Without it, 4 KiB pages: most flow lookups also miss the TLB.
"""
import argparse
import json
import logging
import platform
import runpy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("bench_core")

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "kmod" / "core"
INCLUDE = ROOT / "kmod" / "include"
CFLAGS = runpy.run_path(str(ROOT / "kmod" / "cflags.py"))["CFLAGS"]
OUT = ROOT / "bench-results" / "core.json"
OUT_HUGE = ROOT / "bench-results" / "core-hugepages.json"
GOAL_NS = 60.0


def build(workdir: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        raise SystemExit("no C compiler")
    exe = workdir / "bench_core"
    # As setup.py builds the Linux daemon: -O2 with link-time optimisation.
    argv = [cc, *CFLAGS["CSTD"], *CFLAGS["COPT"], *CFLAGS["CLTO"],
            *CFLAGS["CWARN"], "-I", str(INCLUDE), "-I", str(CORE),
            "-o", str(exe),
            str(ROOT / "benchmarks" / "bench_core.c"),
            *sorted(str(p) for p in CORE.glob("*.c"))]
    subprocess.run(argv, check=True)
    return exe


def run(exe: Path, packets: int, runs: int, huge: bool) -> dict:
    argv = [str(exe), str(packets), str(runs)] + (["huge"] if huge else [])
    res = subprocess.run(argv, check=True, capture_output=True, text=True)
    return json.loads(res.stdout)


def report(data: dict) -> None:
    print(f"flow table: {data['flows_inserted']} of "
          f"{data['flows_requested']} flows in {data['flow_entries']} "
          f"entries (load {data['load']:.1%})")
    print(f"huge pages: requested {data['hugepages_requested']}, "
          f"{data['hugepages_kb'] // 1024} MiB obtained")
    print(f"{'path':6} {'frame':>6} {'api':14} {'flows':>8} "
          f"{'ns/pkt':>8}  runs")
    for r in data["results"]:
        runs = " ".join(f"{x:.0f}" for x in r["ns_per_pkt_runs"])
        print(f"{r['path']:6} {r['frame_bytes']:>6} {r['api']:14} "
              f"{r['flows_touched']:>8} {r['ns_per_pkt_median']:>8.1f}  "
              f"{runs}")
    print(f"goal: <= {GOAL_NS:.0f} ns per packet", flush=True)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=2_000_000,
                    help="packets per timed run")
    ap.add_argument("--runs", type=int, default=5,
                    help="timed runs per case (the median is reported)")
    ap.add_argument("--hugepages", action="store_true",
                    help="ask for transparent huge pages for the region")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_core.") as tmp:
        exe = build(Path(tmp))
        data = run(exe, args.packets, args.runs, args.hugepages)
    data["machine"] = {"platform": platform.platform(),
                       "processor": platform.processor(),
                       "python": platform.python_version()}
    data["goal_ns"] = GOAL_NS
    report(data)
    out = OUT_HUGE if args.hugepages else OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    log.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
