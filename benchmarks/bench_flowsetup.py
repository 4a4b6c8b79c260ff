#!/usr/bin/env python3
"""New flows per second through trap -> agent -> install -> RELEASE.

A generator process (C by default, compiled at start with the datapath's
own flow-table code; or Python) plays the datapath: for each new flow it
claims a HOLD entry in the shared flow table (bsdnet_flow_claim), counts
it in st_holds and sends the trap datagram (struct bsdnet_trap_hdr +
a 64-byte frame) from its bound control socket; it keeps a window of flows
outstanding and counts RELEASE messages coming back.  The agent side is
bsdnet.agent.flows (TrapChannel + FlowManager with the default policy) in
this process, looping like the daemon does.  Time runs from the first trap
sent to the last RELEASE received; every flow is then checked ACTIVE with
its reverse.

A unix datagram queue holds net.unix.max_dgram_qlen messages (10 by
default), which caps every batch at 10 traps.  --qlen N (root) runs the
benchmark in a private network namespace with that sysctl set to N, to
show what a node tuned for it gets.

--rules N puts security groups in the loop, as the daemon does for ports
of the port API: the flows' source port has an egress-only group, their
destination port a group of N ingress TCP rules (distinct port ranges and
prefixes; the one allowing the flows is the last), decided by
secgroups.SecGroupPolicy for every trap, through the daemon's
flows.VerdictCache (--no-cache: the rules are walked for every flow).

Usage: bench_flowsetup.py [--flows N] [--runs R] [--window W] [--qlen N]
                          [--generator c|python] [--rules N]
Writes bench-results/flowsetup.json (flowsetup-qlenN.json with --qlen,
flowsetup-sgN.json with --rules N).
Goal: 100,000 flows/s.  Besides the end-to-end rate (which needs a core
each for generator and agent) it reports the agent's CPU per flow.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import runpy
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bsdnet.shm.abi import ffi, lib  # noqa: E402
from bsdnet.agent.flows import (FlowManager, TrapChannel,  # noqa: E402
                                VerdictCache)
from bsdnet.shm.region import Region, geometry  # noqa: E402
from bsdnet.agent import secgroups as sg  # noqa: E402

GOAL = 100_000
CHUNK = 8           # traps sent between two drains of the RELEASE queue
FRAME = b"\x02" * 64
TRAP = struct.Struct("<HHHHIIII")
assert TRAP.size == ffi.sizeof("struct bsdnet_trap_hdr")


# Python's headers define _GNU_SOURCE (recvmmsg) before this is included.
C_GEN = r"""
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include "bsdnet_abi.h"
#include "bsdnet_flowtab.h"

/* Claim HOLD entries for flows start..start+count-1 and trap each, as
 * the datapath's flow_miss() does.  The socket is connected and
 * blocking. */
static uint32_t
bench_gen(uintptr_t ftp, uintptr_t holdsp, int fd, uint32_t start,
    uint32_t count, uint32_t *failed)
{
	struct bsdnet_flowtab *ft = (struct bsdnet_flowtab *)ftp;
	uint32_t *holds = (uint32_t *)holdsp;
	struct { struct bsdnet_trap_hdr th; uint8_t frame[64]; } m;
	struct bsdnet_flow_key k;
	uint32_t i, idx, gen;

	memset(&m, 2, sizeof(m));
	memset(&k, 0, sizeof(k));
	k.fk_vrf = 1;
	k.fk_proto = 6;
	k.fk_dport = 80;
	k.fk_dst = 0x0a800001;
	for (i = start; i < start + count; i++) {
		k.fk_src = 0x0a000000 | (i >> 16);
		k.fk_sport = (uint16_t)i;
		idx = bsdnet_flow_claim(ft, &k, 2, 0, &gen);
		if (idx == (uint32_t)BSDNET_FLOW_NONE) {
			(*failed)++;
			continue;
		}
		__atomic_add_fetch(holds, 1, __ATOMIC_RELAXED);
		m.th.th_version = BSDNET_TRAP_VERSION;
		m.th.th_reason = BSDNET_TRAP_FLOW_MISS;
		m.th.th_vif = 2;
		m.th.th_vrf = 1;
		m.th.th_flow = idx;
		m.th.th_gen = gen;
		m.th.th_len = sizeof(m.frame);
		m.th.th_nh = 0;
		if (send(fd, &m, sizeof(m), 0) < 0)
			return (i - start);
	}
	return (count);
}

/* Count RELEASEs waiting (block: wait for the first). */
static int
bench_drain(int fd, int block)
{
	struct mmsghdr mm[64];
	struct iovec iov[64];
	uint8_t buf[64][32];
	int i, n;

	memset(mm, 0, sizeof(mm));
	for (i = 0; i < 64; i++) {
		iov[i].iov_base = buf[i];
		iov[i].iov_len = sizeof(buf[i]);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	n = recvmmsg(fd, mm, 64, block ? MSG_WAITFORONE : MSG_DONTWAIT, NULL);
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR ? 0 : -errno);
	return (n);
}
"""


def build_c_generator(tmpdir: str):
    """Compile the C trap generator (with the datapath's flow table code)
    into tmpdir; None if there is no compiler."""
    try:
        from cffi import FFI
        root = os.path.dirname(HERE)
        core = os.path.join(root, "kmod", "core")
        cf = runpy.run_path(os.path.join(root, "kmod", "cflags.py"))[
            "CFLAGS"]
        b = FFI()
        b.cdef("uint32_t bench_gen(uintptr_t ft, uintptr_t holds, int fd, "
               "uint32_t start, uint32_t count, uint32_t *failed);"
               "int bench_drain(int fd, int block);")
        b.set_source("_bsdnet_bench_gen", C_GEN,
                     sources=[os.path.join(core, "bsdnet_flowtab.c")],
                     include_dirs=[os.path.join(root, "kmod", "include"),
                                   core],
                     extra_compile_args=cf["CSTD"] + cf["COPT"] +
                     cf["CWARN"])
        b.compile(tmpdir=tmpdir)
        sys.path.insert(0, tmpdir)
        import _bsdnet_bench_gen
        return _bsdnet_bench_gen
    except Exception as e:      # no compiler: the Python generator
        print(f"C generator unavailable ({e}); using Python", file=sys.stderr)
        return None


def _connect(sock, agent_path: str) -> None:
    # Connected: a send waits for room in the agent's queue (the real
    # datapath would drop and count TRAP_FAILED; here we measure the agent).
    deadline = time.monotonic() + 30
    while True:
        try:
            sock.connect(agent_path)
            return
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def c_generator(mod, region_path: str, dp_path: str, agent_path: str,
                n: int, window: int, ready, result) -> None:
    region = Region.open(region_path)
    ft = ffi.new("struct bsdnet_flowtab *")
    lib.bsdnet_flowtab_bind(ft, region.hdr, region.base)
    ftp = int(ffi.cast("uintptr_t", ft))
    holds = int(ffi.cast("uintptr_t", ffi.addressof(region.stats, "st_holds")))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(dp_path)
    ready.set()
    _connect(sock, agent_path)
    fd = sock.fileno()
    failed = mod.ffi.new("uint32_t *")
    sent = released = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    while released + failed[0] < n:
        room = min(n - sent, window - (sent - released - failed[0]), CHUNK)
        if room > 0:
            sent += mod.lib.bench_gen(ftp, holds, fd, sent, room, failed)
        full = sent == n or sent - released - failed[0] >= window
        got = mod.lib.bench_drain(fd, 1 if full else 0)
        if got < 0:
            raise OSError(-got, os.strerror(-got))
        released += got
    elapsed = time.perf_counter() - t0
    result.put({"elapsed": elapsed, "released": released,
                "failed": failed[0], "generator": "c",
                "generator_cpu_s": time.process_time() - c0})


def generator(region_path: str, dp_path: str, agent_path: str, n: int,
              window: int, ready, result) -> None:
    """The fake datapath (its own process, like the real one)."""
    region = Region.open(region_path)
    ft = ffi.new("struct bsdnet_flowtab *")
    lib.bsdnet_flowtab_bind(ft, region.hdr, region.base)
    holds = ffi.addressof(region.stats, "st_holds")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(dp_path)
    ready.set()
    _connect(sock, agent_path)
    k = ffi.new("struct bsdnet_flow_key *")
    k.fk_vrf, k.fk_proto, k.fk_dport = 1, 6, 80
    g = ffi.new("uint32_t *")
    claim, add = lib.bsdnet_flow_claim, lib.bsdnet_agent_add32
    pack, send = TRAP.pack, sock.send
    version, miss = lib.BSDNET_TRAP_VERSION, lib.BSDNET_TRAP_FLOW_MISS
    none = lib.BSDNET_FLOW_NONE & 0xffffffff
    sent = released = failed = 0
    t0 = time.perf_counter()
    c0 = time.process_time()
    while released + failed < n:
        chunk = 0
        while (sent < n and sent - released - failed < window and
               chunk < CHUNK):
            chunk += 1
            # Unique 5-tuples: source address and port from the counter.
            k.fk_src = 0x0a000000 | (sent >> 16)
            k.fk_sport = sent & 0xffff
            k.fk_dst = 0x0a800001
            idx = claim(ft, k, 2, 0, g)
            if idx == none:
                failed += 1
                sent += 1
                continue
            add(holds, 1)
            send(pack(version, miss, 2, 1, idx, g[0], len(FRAME), 0) + FRAME)
            sent += 1
        # Drain RELEASEs after every few traps, as the datapath's event
        # loop would (its control queue is short); block only when the
        # window is full or everything is sent.
        sock.setblocking(not (sent < n and sent - released - failed < window))
        try:
            while True:
                sock.recv(64)
                released += 1
                sock.setblocking(False)
        except BlockingIOError:
            pass
        sock.setblocking(True)
    elapsed = time.perf_counter() - t0
    result.put({"elapsed": elapsed, "released": released, "failed": failed,
                "generator": "python",
                "generator_cpu_s": time.process_time() - c0})


def sg_policy(nrules: int) -> sg.SecGroupPolicy:
    """Security groups for the generator's flows (vif 2, 10.0.x.x ->
    10.128.0.1:80 in VRF 1): the destination's group holds nrules ingress
    rules, only the last of which allows port 80."""
    idx = sg.GroupsIndex()
    rules = [{"id": f"r{i}", "direction": "ingress", "protocol": "tcp",
              "port_range_min": 1000 + 10 * i,
              "port_range_max": 1000 + 10 * i + 5,
              "remote_ip_prefix": f"172.{16 + i % 16}.{i // 16}.0/24"}
             for i in range(nrules - 1)]
    rules.append({"id": "web", "direction": "ingress", "protocol": "tcp",
                  "port_range_min": 80, "port_range_max": 80,
                  "remote_ip_prefix": "10.0.0.0/8"})
    idx.set_group(sg.SecurityGroup.from_json({"id": "srv", "rules": rules}))
    idx.set_group(sg.SecurityGroup.from_json(
        {"id": "out", "rules": [{"id": "eg", "direction": "egress"}]}))
    idx.set_port(sg.PortBinding("client", (0x0a000001,), ("out",)))
    idx.set_port(sg.PortBinding("server", (0x0a800001,), ("srv",)))
    return sg.SecGroupPolicy(
        idx, {2: "client"}.get,
        lambda vrf, a: "server" if (vrf, a) == (1, 0x0a800001) else None)


def agent_loop(fm: FlowManager, stop) -> None:
    """The daemon's loop without its timers."""
    c0 = time.thread_time()
    while not stop.is_set():
        fm.serve()
    fm.counters["cpu_ms"] = int((time.thread_time() - c0) * 1000)


def one_run(n: int, window: int, cgen, rules: int = 0,
            cache: bool = True) -> dict:
    nbuckets = 1 << max(10, (2 * n // lib.BSDNET_FLOW_WAYS * 10 // 7)
                        .bit_length())
    g = geometry(nflowbuckets=nbuckets, novfbuckets=max(64, nbuckets // 5),
                 maxhold=min(65536, nbuckets))
    tmp = tempfile.mkdtemp(prefix="bnbench")
    shm = f"/dev/shm/bsdnet-bench-{os.getpid()}"
    region = Region.create(shm if os.path.isdir("/dev/shm") else
                           os.path.join(tmp, "region"), g)
    dp_path, agent_path = os.path.join(tmp, "dp"), os.path.join(tmp, "ag")
    ctx = mp.get_context("fork")
    ready, stop, result = ctx.Event(), ctx.Event(), ctx.Queue()
    args = (region.path, dp_path, agent_path, n, window, ready, result)
    if cgen is not None:
        gen = ctx.Process(target=c_generator, args=(cgen, *args))
    else:
        gen = ctx.Process(target=generator, args=args)
    try:
        gen.start()
        ready.wait(30)
        ch = TrapChannel(agent_path, dp_path)
        policy = sg_policy(rules) if rules else None
        if policy is not None and cache:
            policy = VerdictCache(policy)
        fm = FlowManager(region, ch, policy) if policy else \
            FlowManager(region, ch)
        t = threading.Thread(target=agent_loop, args=(fm, stop))
        t.start()
        res = result.get(timeout=600)
        stop.set()
        t.join()
        gen.join(30)
        active = sum(1 for w in region.flow_states()
                     if w & 0xff == lib.BSDNET_FLOW_ACTIVE)
        res.update(flows=n, rate=res["released"] / res["elapsed"],
                   agent_cpu_us_per_flow=fm.counters["cpu_ms"] * 1000 / n,
                   active_entries=active, holds_left=region.stats.st_holds,
                   agent=dict(fm.counters), table_entries=region.nflows)
        ch.close()
        return res
    finally:
        stop.set()
        if gen.is_alive():
            gen.kill()
        region.close()
        for p in (shm, dp_path, agent_path):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        os.rmdir(tmp) if not os.listdir(tmp) else None


def private_qlen(qlen: int) -> None:
    """unshare(CLONE_NEWNET) and set net.unix.max_dgram_qlen there: the
    sysctl is per network namespace, so the host's is left alone."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    clone_newnet = 0x40000000
    if libc.unshare(clone_newnet) != 0:
        err = ctypes.get_errno()
        raise SystemExit(f"unshare(CLONE_NEWNET): {os.strerror(err)} "
                         "(--qlen needs root)")
    with open("/proc/sys/net/unix/max_dgram_qlen", "w") as f:
        f.write(str(qlen))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--window", type=int, default=1024,
                    help="flows outstanding (trapped, not yet released)")
    ap.add_argument("--generator", choices=("c", "python"), default="c",
                    help="trap generator: C (compiled at start, with the "
                         "datapath's flow table code) or Python")
    ap.add_argument("--qlen", type=int,
                    help="run in a private network namespace with "
                         "net.unix.max_dgram_qlen set to this (root)")
    ap.add_argument("--rules", type=int, default=0,
                    help="decide each flow through security groups with "
                         "this many rules on the destination port")
    ap.add_argument("--no-cache", action="store_true",
                    help="with --rules: no verdict cache, every flow walks "
                         "the rules")
    args = ap.parse_args()
    if args.qlen:
        private_qlen(args.qlen)
    build = tempfile.mkdtemp(prefix="bnbenchgen")
    cgen = None if args.generator == "python" else build_c_generator(build)
    runs = []
    for i in range(args.runs):
        r = one_run(args.flows, args.window, cgen, args.rules,
                    not args.no_cache)
        runs.append(r)
        print(f"run {i + 1}: {r['released']} flows in {r['elapsed']:.3f}s = "
              f"{r['rate']:,.0f} flows/s (active entries "
              f"{r['active_entries']}, "
              f"holds left {r['holds_left']})")
    shutil.rmtree(build, ignore_errors=True)
    rates = [r["rate"] for r in runs]
    out = {"benchmark": "flowsetup", "goal_flows_per_s": GOAL,
           "security_group_rules": args.rules,
           "verdict_cache": bool(args.rules) and not args.no_cache,
           "median_flows_per_s": statistics.median(rates),
           "median_agent_cpu_us_per_flow": statistics.median(
               r["agent_cpu_us_per_flow"] for r in runs),
           "best_flows_per_s": max(rates), "runs": runs,
           "cpus": os.cpu_count(),
           "unix_max_dgram_qlen": open("/proc/sys/net/unix/max_dgram_qlen")
           .read().strip() if os.path.exists(
               "/proc/sys/net/unix/max_dgram_qlen") else None,
           "command": " ".join([os.path.basename(sys.executable)] + sys.argv)}
    os.makedirs(os.path.join(os.path.dirname(HERE), "bench-results"),
                exist_ok=True)
    out["agent_capacity_flows_per_s"] = 1e6 / out[
        "median_agent_cpu_us_per_flow"]
    name = "flowsetup" + (f"-sg{args.rules}" if args.rules else "") + \
        ("-nocache" if args.rules and args.no_cache else "") + \
        (f"-qlen{args.qlen}" if args.qlen else "") + ".json"
    path = os.path.join(os.path.dirname(HERE), "bench-results", name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    print(f"median {out['median_flows_per_s']:,.0f} flows/s "
          f"(goal {GOAL:,}); agent CPU "
          f"{out['median_agent_cpu_us_per_flow']:.2f} us/flow, i.e. "
          f"{out['agent_capacity_flows_per_s']:,.0f} flows/s on one core; "
          f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
