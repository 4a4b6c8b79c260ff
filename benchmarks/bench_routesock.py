#!/usr/bin/env python3
"""Routing-socket decode throughput on a 100,000-message dump.

Builds a NET_RT_DUMP-style buffer (lengths rounded to 8) that mixes what a
busy FreeBSD host shows: IPv4 routes via gateways and on links, IPv6 routes,
RTM_IFINFO with sockaddr_dl, RTM_NEWADDR with four sockaddrs, announcements.
Reports messages decoded per second (bytes -> typed messages with parsed
sockaddrs), and the rate including the tracker's state and events.  Goal:
>= 200,000 messages/s decoded.

    .venv/bin/python benchmarks/bench_routesock.py [--messages N] [--repeat R]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bsdnet.routesock.encoder import (  # noqa: E402
    encode_announce, encode_ifaddr, encode_ifinfo, encode_route,
)
from bsdnet.routesock.layout import CONSTANTS as C  # noqa: E402
from bsdnet.routesock.messages import SaInet, SaInet6, SaLink  # noqa: E402
from bsdnet.routesock.parser import Decoder  # noqa: E402
from bsdnet.routesock.tracker import Tracker  # noqa: E402


def build(n: int) -> bytes:
    """n messages, mostly routes (as in a real NET_RT_DUMP), rounded to 8."""
    gw = C["RTF_UP"] | C["RTF_GATEWAY"] | C["RTF_STATIC"]
    parts = []
    for i in range(n):
        k = i % 10
        a, b, c = (i >> 16) & 255, (i >> 8) & 255, i & 255
        if k < 5:
            parts.append(encode_route(C["RTM_GET"], {
                0: SaInet(f"10.{a}.{b}.{c}"), 1: SaInet("192.0.2.1"), 2: SaInet("255.255.255.255")},
                flags=gw | C["RTF_HOST"], index=1 + i % 4, round_to=8))
        elif k < 7:
            parts.append(encode_route(C["RTM_GET"], {
                0: SaInet(f"172.{a}.{b}.0"), 1: SaLink(2, 6, "", b""), 2: SaInet("255.255.255.0")},
                flags=C["RTF_UP"], index=2, round_to=8))
        elif k == 7:
            parts.append(encode_route(C["RTM_GET"], {
                0: SaInet6(f"2001:db8:{a:x}:{b:x}{c:02x}::"), 1: SaInet6("fe80::1", 2),
                2: SaInet6("ffff:ffff:ffff:ffff::")}, flags=gw, index=2, round_to=8))
        elif k == 8:
            idx = 1 + i % 4096
            sdl = SaLink(idx, 6, f"tap{idx}", bytes([2, 0, 0, 0, idx >> 8, idx & 255]))
            parts.append(encode_ifaddr(C["RTM_NEWADDR"], idx, {
                2: SaInet("255.255.255.0"), 4: sdl, 5: SaInet(f"10.{a}.{b}.{c}"),
                7: SaInet(f"10.{a}.{b}.255")}, round_to=8))
        else:
            idx = 1 + i % 4096
            if i % 20 == 9:
                parts.append(encode_ifinfo(idx, C["IFF_UP"], link_state=2, addrs={
                    4: SaLink(idx, 6, f"tap{idx}", bytes(6))}, round_to=8))
            else:
                m = encode_announce(idx, f"tap{idx}", 0)
                parts.append(m)
    return b"".join(parts)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--arch", default="amd64")
    args = p.parse_args()
    buf = build(args.messages)
    dec = Decoder(args.arch)
    # The machine is shared: report CPU time (what decoding costs) as the
    # figure, and wall time beside it.
    best = best_wall = float("inf")
    for _ in range(args.repeat):
        t0, w0 = time.process_time(), time.perf_counter()
        msgs = dec.decode(buf)
        best = min(best, time.process_time() - t0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    assert len(msgs) == args.messages, len(msgs)
    t0 = time.process_time()
    Tracker().load_dump(msgs, msgs)
    track = time.process_time() - t0
    res = {
        "benchmark": "routesock-decode",
        "messages": args.messages,
        "bytes": len(buf),
        "decode_cpu_seconds_best": round(best, 4),
        "decode_wall_seconds_best": round(best_wall, 4),
        "decode_messages_per_wall_second": round(args.messages / best_wall),
        "decode_messages_per_second": round(args.messages / best),
        "decode_plus_state_messages_per_second": round(args.messages / (best + track)),
        "goal_messages_per_second": 200_000,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "routesock.json").write_text(json.dumps(res, indent=2) + "\n")
    print(f"decoded {args.messages} messages ({len(buf)} bytes) in {best:.3f} CPU s: "
          f"{res['decode_messages_per_second']:,} msg/s (goal 200,000; "
          f"{res['decode_messages_per_wall_second']:,} per wall-clock s); "
          f"with tracker state/events: {res['decode_plus_state_messages_per_second']:,} msg/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
