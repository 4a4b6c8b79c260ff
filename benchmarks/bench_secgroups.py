#!/usr/bin/env python3
"""Security-group decisions per second with 1, 10 and 100 rules per port.

Each port holds one group of N ingress TCP rules (distinct port ranges and
remote prefixes, one of them a remote-group rule) plus one egress rule.
Three workloads:
  hit-first  the first rule matches
  deny       nothing matches: every rule of the protocol is compared
  mixed      a 50/50 mix of random allowed and denied connections

Prints a table and writes bench-results/secgroups.json.

  .venv/bin/python benchmarks/bench_secgroups.py [--seconds S] [--ports P]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time

from bsdnet.agent import secgroups as sg


def build(nrules: int, nports: int) -> tuple[sg.GroupsIndex, list[str]]:
    idx = sg.GroupsIndex()
    rules = []
    for i in range(nrules):
        r = {"id": f"r{i}", "direction": "ingress", "protocol": "tcp",
             "port_range_min": 1000 + 10 * i,
             "port_range_max": 1000 + 10 * i + 5}
        if i == nrules - 1 and nrules > 1:
            r["remote_group_id"] = "peers"
        else:
            r["remote_ip_prefix"] = f"172.{16 + i % 16}.{i // 16}.0/24"
        rules.append(r)
    rules.append({"id": "out", "direction": "egress"})
    idx.set_group(sg.SecurityGroup.from_json({"id": "g", "rules": rules}))
    idx.set_group(sg.SecurityGroup.from_json({"id": "peers"}))
    for i in range(64):
        idx.set_port(sg.PortBinding(f"peer{i}", (0x0a640000 + i,),
                                    ("peers",)))
    ports = []
    for i in range(nports):
        pid = f"p{i}"
        idx.set_port(sg.PortBinding(pid, (0x0a000000 + i,), ("g",)))
        ports.append(pid)
    return idx, ports


def keys(kind: str, nrules: int, ports: list[str], n: int
         ) -> list[tuple[sg.FlowKey, str]]:
    rnd = random.Random(1)
    out = []
    for j in range(n):
        pi = rnd.randrange(len(ports))
        dst = 0x0a000000 + pi
        if kind == "hit-first" or (kind == "mixed" and j % 2 == 0):
            i = 0 if kind == "hit-first" else rnd.randrange(
                max(1, nrules - 1))
            src = (172 << 24) | ((16 + i % 16) << 16) | ((i // 16) << 8) | 9
            dport = 1000 + 10 * i + 2
        else:
            src = 0xc0000200 + rnd.randrange(256)      # matches no prefix
            dport = 1000 + 10 * rnd.randrange(nrules) + 2
        out.append((sg.FlowKey(6, src, dst, 40000 + j % 20000, dport),
                    ports[pi]))
    return out


def run(nrules: int, kind: str, nports: int, seconds: float) -> dict:
    idx, ports = build(nrules, nports)
    work = keys(kind, nrules, ports, 20000)
    decide, ingress = sg.decide, sg.INGRESS
    for k, p in work:                   # warm the compiled cache
        decide(k, ingress, p, idx)
    allowed = sum(decide(k, ingress, p, idx).allow for k, p in work)
    # CPU time as well as wall time: on a shared machine the wall-clock
    # rate measures the neighbours as much as the code.
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        for k, p in work:
            decide(k, ingress, p, idx)
        n += len(work)
        dt = time.perf_counter() - t0
        if dt >= seconds:
            break
    cpu = time.process_time() - c0
    return {"rules_per_port": nrules, "workload": kind, "ports": nports,
            "decisions": n, "seconds": round(dt, 3),
            "cpu_seconds": round(cpu, 3),
            "decisions_per_second": round(n / dt),
            "decisions_per_cpu_second": round(n / cpu) if cpu else None,
            "allowed_fraction": round(allowed / len(work), 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0,
                    help="time per measurement (default 2)")
    ap.add_argument("--ports", type=int, default=1000,
                    help="ports holding the group (default 1000)")
    ap.add_argument("--out", default="bench-results/secgroups.json")
    a = ap.parse_args()
    results = []
    print(f"{'rules':>6} {'workload':>10} {'decisions/s':>12} "
          f"{'per CPU s':>12} {'allowed':>8}")
    for nrules in (1, 10, 100):
        for kind in ("hit-first", "deny", "mixed"):
            r = run(nrules, kind, a.ports, a.seconds)
            results.append(r)
            print(f"{nrules:>6} {kind:>10} {r['decisions_per_second']:>12,}"
                  f" {r['decisions_per_cpu_second'] or 0:>12,}"
                  f" {r['allowed_fraction']:>8}")
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"benchmark": "secgroups", "python":
                   platform.python_version(), "machine": platform.machine(),
                   "results": results}, f, indent=1)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
