#!/usr/bin/env python3
"""Network driver benchmark on the Linux backend (real interfaces in a
throwaway network namespace).

Measures, per port: plug latency (tap create, mark, MTU, up, addm) and
unplug latency (deletem, destroy); then reconciling N ports after a
restart: a fresh driver over the same state directory checks every
network and port, repairs the ones lost while it was down, and cleans up.

    .venv/bin/python benchmarks/bench_netdrv.py [--ports 1000] [--samples 200]

Prints the figures and writes bench-results/netdrv.json.  Needs root.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bsdnet.driver.net import Network, Port, get_driver  # noqa: E402
from bsdnet.driver.net.linux import LinuxBackend  # noqa: E402
from bsdnet.driver.net.names import tap_name  # noqa: E402


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def summary(values: list[float]) -> dict:
    ms = [v * 1e3 for v in values]
    return {"n": len(ms), "median_ms": round(statistics.median(ms), 3),
            "p95_ms": round(pct(ms, 95), 3), "mean_ms": round(statistics.mean(ms), 3),
            "max_ms": round(max(ms), 3)}


def mac(i: int) -> str:
    return "52:54:%02x:%02x:%02x:%02x" % ((i >> 24) & 0xff, (i >> 16) & 0xff,
                                          (i >> 8) & 0xff, i & 0xff)


def run(ports: int, samples: int, lost: int) -> dict:
    from pyroute2 import netns
    ns = f"bnbench{secrets.token_hex(3)}"
    state = Path(tempfile.mkdtemp(prefix="bsdnet-bench-"))
    ip("netns", "add", ns)
    netns.pushns(ns)
    try:
        ip("-n", ns, "link", "add", "uplink0", "type", "veth", "peer", "name", "outer0")
        ip("-n", ns, "link", "set", "uplink0", "up")
        conf = {"state_dir": str(state), "dhcp": False}
        drv = get_driver(conf, backend=LinuxBackend())
        net = Network(id="bench", uplink="uplink0", mtu=1500)
        drv.ensure_network(net)

        # Per-port latency on an otherwise quiet bridge.
        plug, unplug = [], []
        for i in range(samples):
            p = Port(id=f"s{i}", network_id="bench", mac=mac(i + 1))
            t0 = time.perf_counter()
            drv.plug_port(p)
            t1 = time.perf_counter()
            drv.unplug_port(p.id)
            t2 = time.perf_counter()
            plug.append(t1 - t0)
            unplug.append(t2 - t1)

        # Fill the bridge with N ports.
        t0 = time.perf_counter()
        for i in range(ports):
            drv.plug_port(Port(id=f"p{i}", network_id="bench", mac=mac(0x10000 + i)))
        fill = time.perf_counter() - t0
        drv.backend.close()

        # Restart 1: nothing changed while we were down.
        drv = get_driver(conf, backend=LinuxBackend())
        t0 = time.perf_counter()
        res = drv.reconcile()
        clean = time.perf_counter() - t0
        assert res["ports"] == ports and res["removed"] == []

        # Restart 2: some taps vanished and a stale one appeared.
        for i in range(0, ports, max(1, ports // lost)):
            drv.backend.destroy(tap_name(f"p{i}"))
        drv.store.drop_port("p1")          # wanted no more: its tap is stale
        drv.backend.close()
        drv = get_driver(conf, backend=LinuxBackend())
        t0 = time.perf_counter()
        res = drv.reconcile()
        repair = time.perf_counter() - t0
        assert res["removed"] == [tap_name("p1")]
        members = len(drv.backend.get(drv.bridge_of(net)).members)
        assert members == ports   # uplink + (ports - 1) taps
        drv.backend.close()
        return {
            "plug": summary(plug), "unplug": summary(unplug),
            "fill_ports": ports, "fill_s": round(fill, 3),
            "fill_per_port_ms": round(fill / ports * 1e3, 3),
            "reconcile_unchanged_s": round(clean, 3),
            "reconcile_unchanged_per_port_ms": round(clean / ports * 1e3, 3),
            "reconcile_repair_s": round(repair, 3),
            "reconcile_repair_lost_taps": len(range(0, ports, max(1, ports // lost))),
        }
    finally:
        netns.popns()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(state, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ports", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--lost", type=int, default=100, help="taps destroyed before restart 2")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_netdrv: needs root (network namespaces)", file=sys.stderr)
        return 2
    figures = run(a.ports, a.samples, a.lost)
    out = {"benchmark": "netdrv-linux", "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "host": {"kernel": platform.release(), "cpus": os.cpu_count(),
                    "load1": os.getloadavg()[0]},
           "command": " ".join([Path(sys.executable).name, *sys.argv]), **figures}
    dest = ROOT / "bench-results"
    dest.mkdir(exist_ok=True)
    (dest / "netdrv.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"plug   per port: median {figures['plug']['median_ms']} ms, "
          f"p95 {figures['plug']['p95_ms']} ms (n={figures['plug']['n']})")
    print(f"unplug per port: median {figures['unplug']['median_ms']} ms, "
          f"p95 {figures['unplug']['p95_ms']} ms")
    print(f"fill {a.ports} ports: {figures['fill_s']} s "
          f"({figures['fill_per_port_ms']} ms/port)")
    print(f"reconcile {a.ports} ports after restart, nothing changed: "
          f"{figures['reconcile_unchanged_s']} s")
    print(f"reconcile {a.ports} ports after restart, "
          f"{figures['reconcile_repair_lost_taps']} taps lost + 1 stale: "
          f"{figures['reconcile_repair_s']} s")
    print(f"written to {dest / 'netdrv.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
