#!/usr/bin/env python3
"""End-to-end forwarding rate: VM namespace -> datapath -> fabric ->
datapath -> VM namespace, against the Linux bridge in the same run.

Topology (all network namespaces, made and removed by this script):

  overlay:  vmA -veth- [node1: bsdnet-datapath] =fabric veth= [node2:
            bsdnet-datapath] -veth- vmB      (MPLS over GRE on the fabric)
  baseline: vmC -veth- [bridge br0 in brns] -veth- vmD

A C blaster (AF_PACKET, sendmmsg, qdisc bypass) sends 64-byte frames
(60 bytes + FCS on a wire: Ethernet/IPv4/UDP, one flow) from vmA (vmC) as
fast as it can for --seconds; a C counter (AF_PACKET, TPACKET_V3 ring) in
vmB (vmD) counts the frames that arrive.  Received frames per second of
both are printed and written to bench-results/e2e.json with their ratio.
The vifs have no POLICY flag, so no agent is involved.

Run as root from the source tree after building:
  .venv/bin/python setup.py -q build_ext --inplace
  .venv/bin/python benchmarks/bench_e2e.py [--seconds 5] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import runpy
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bsdnet.shm.abi import lib  # noqa: E402
from bsdnet.shm.region import Region  # noqa: E402
from bsdnet.shm.tables import Nexthop, Tables, Vif  # noqa: E402
from bsdnet.datapath.process import (DatapathConfig,  # noqa: E402
                                     DatapathProcess)

ROUTER_MAC = "00:00:5e:00:01:00"
UDP_DPORT = 9999

TOOLS_C = r"""
/* blaster: send the same 60-byte frame as fast as possible for N seconds.
 * counter: count frames with our UDP destination port for N seconds. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
	struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int mac(const char *s, uint8_t *m) {
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2],
	    &m[3], &m[4], &m[5]) == 6 ? 0 : -1;
}

static uint16_t csum(const uint8_t *p, int n) {
	uint32_t s = 0;
	for (int i = 0; i < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16) s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static int blaster(char **av) {
	/* ifname dmac smac sip dip dport seconds */
	uint8_t f[60]; memset(f, 0, sizeof(f));
	if (mac(av[1], f) || mac(av[2], f + 6)) return 2;
	f[12] = 0x08; f[13] = 0x00;
	uint8_t *ip = f + 14;
	ip[0] = 0x45; ip[2] = 0; ip[3] = 46; ip[6] = 0x40; ip[8] = 64; ip[9] = 17;
	inet_pton(AF_INET, av[3], ip + 12); inet_pton(AF_INET, av[4], ip + 16);
	uint16_t c = csum(ip, 20); ip[10] = c >> 8; ip[11] = c & 0xff;
	uint8_t *udp = ip + 20; int dport = atoi(av[5]);
	udp[0] = 0x9c; udp[1] = 0x40; udp[2] = dport >> 8; udp[3] = dport & 0xff;
	udp[4] = 0; udp[5] = 26;
	double secs = atof(av[6]);
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) { perror("socket"); return 1; }
	int one = 1;
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	struct sockaddr_ll sll; memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET; sll.sll_ifindex = if_nametoindex(av[0]);
	sll.sll_protocol = htons(ETH_P_IP);
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) { perror("bind"); return 1; }
	enum { B = 64 };
	struct mmsghdr m[B]; struct iovec iov[B];
	for (int i = 0; i < B; i++) {
		iov[i].iov_base = f; iov[i].iov_len = sizeof(f);
		memset(&m[i], 0, sizeof(m[i]));
		m[i].msg_hdr.msg_iov = &iov[i]; m[i].msg_hdr.msg_iovlen = 1;
	}
	unsigned long long sent = 0, fail = 0;
	double t0 = now(), end = t0 + secs;
	while (now() < end) {
		for (int k = 0; k < 16; k++) {
			int n = sendmmsg(fd, m, B, 0);
			if (n > 0) sent += n; else fail++;
		}
	}
	printf("{\"sent\": %llu, \"seconds\": %.6f, \"failed_calls\": %llu}\n",
	    sent, now() - t0, fail);
	return 0;
}

static int counter(char **av) {
	/* ifname dport seconds */
	int dport = atoi(av[1]); double secs = atof(av[2]);
	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0) { perror("socket"); return 1; }
	int v = TPACKET_V3;
	setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v));
	struct tpacket_req3 req; memset(&req, 0, sizeof(req));
	req.tp_block_size = 1 << 20; req.tp_block_nr = 64;
	req.tp_frame_size = 2048;
	req.tp_frame_nr = (req.tp_block_size / 2048) * req.tp_block_nr;
	req.tp_retire_blk_tov = 10;
	if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req))) { perror("ring"); return 1; }
	uint8_t *ring = mmap(NULL, (size_t)req.tp_block_size * req.tp_block_nr,
	    PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ring == MAP_FAILED) { perror("mmap"); return 1; }
	struct sockaddr_ll sll; memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET; sll.sll_ifindex = if_nametoindex(av[0]);
	sll.sll_protocol = htons(ETH_P_ALL);
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll))) { perror("bind"); return 1; }
	printf("ready\n"); fflush(stdout);
	unsigned long long count = 0, other = 0; unsigned blk = 0;
	double end = now() + secs;
	while (now() < end) {
		struct tpacket_block_desc *bd = (void *)(ring + (size_t)blk * req.tp_block_size);
		if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
			struct pollfd p = { fd, POLLIN, 0 }; poll(&p, 1, 50); continue;
		}
		struct tpacket3_hdr *h = (void *)((uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt);
		for (unsigned i = 0; i < bd->hdr.bh1.num_pkts; i++) {
			uint8_t *e = (uint8_t *)h + h->tp_mac;
			if (h->tp_snaplen >= 42 && e[12] == 8 && e[13] == 0 && e[23] == 17 &&
			    (e[36] << 8 | e[37]) == dport) count++; else other++;
			h = (void *)((uint8_t *)h + h->tp_next_offset);
		}
		__atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
		blk = (blk + 1) % req.tp_block_nr;
	}
	struct tpacket_stats_v3 st; socklen_t l = sizeof(st);
	getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &l);
	printf("{\"received\": %llu, \"other\": %llu, \"ring_drops\": %u}\n",
	    count, other, st.tp_drops);
	return 0;
}

int main(int ac, char **av) {
	if (ac == 9 && !strcmp(av[1], "blast")) return blaster(av + 2);
	if (ac == 5 && !strcmp(av[1], "count")) return counter(av + 2);
	fprintf(stderr, "usage: tools blast IF DMAC SMAC SIP DIP DPORT SECS | count IF DPORT SECS\n");
	return 2;
}
"""


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), check=check, capture_output=True,
                          text=True)


def ip(*args: str, ns: str | None = None) -> None:
    run(*(["ip"] + (["-n", ns] if ns else []) + list(args)))


def link_mac(ns: str, dev: str) -> str:
    out = run("ip", "-n", ns, "-j", "link", "show", "dev", dev).stdout
    return json.loads(out)[0]["address"]


def build_tools(workdir: Path) -> Path:
    src = workdir / "e2e_tools.c"
    exe = workdir / "e2e_tools"
    src.write_text(TOOLS_C)
    cc = shutil.which("cc") or shutil.which("gcc") or "clang"
    cf = runpy.run_path(str(ROOT / "kmod" / "cflags.py"))["CFLAGS"]
    run(cc, *cf["CSTD"], *cf["COPT"], *cf["CWARN"], "-o", str(exe), str(src))
    return exe


class Lab:
    """Namespaces, links, regions and datapaths of one run; close() undoes
    all of it."""

    def __init__(self) -> None:
        self.sfx = secrets.token_hex(3)
        self.netns: list[str] = []
        self.dps: list[DatapathProcess] = []
        self.regions: list[Region] = []
        self.shm: list[str] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="bdpe2e"))

    def ns(self, name: str) -> str:
        n = f"{name}{self.sfx}"
        ip("netns", "add", n)
        self.netns.append(n)
        ip("link", "set", "lo", "up", ns=n)
        run("ip", "netns", "exec", n, "sysctl", "-qw",
            "net.ipv6.conf.all.disable_ipv6=1")
        return n

    def veth(self, ns_a: str, a: str, ns_b: str, b: str) -> None:
        ip("link", "add", a, "netns", ns_a, "type", "veth", "peer", "name",
           b, "netns", ns_b)
        ip("link", "set", a, "up", ns=ns_a)
        ip("link", "set", b, "up", ns=ns_b)

    def datapath(self, node_ns: str, idx: int,
                 extra: list[str] | None = None) -> Tables:
        shm = f"bsdnet-e2e{idx}-{self.sfx}"
        self.shm.append(shm)
        cfg = DatapathConfig(
            shm=shm, trap_socket=str(self.tmp / f"dp{idx}.sock"),
            netns=node_ns, log_level="info", extra_args=list(extra or []),
            geometry={"nvifs": 64, "nnexthops": 256, "nlabels": 256,
                      "nvrfs": 16, "nrtbuckets": 64, "nflowbuckets": 1024,
                      "novfbuckets": 256, "maxhold": 256})
        dp = DatapathProcess(cfg, log_path=str(self.tmp / f"dp{idx}.log"))
        self.dps.append(dp)
        dp.start()
        region = Region.open(shm)
        self.regions.append(region)
        return Tables(region)

    def close(self) -> None:
        for dp in self.dps:
            if dp.alive():
                dp.stop()
        for r in self.regions:
            r.close()
        for n in reversed(self.netns):
            run("ip", "netns", "del", n, check=False)
        for s in self.shm:
            Path("/dev/shm", s).unlink(missing_ok=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


def wait_attached(region: Region, vifs: list[int], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while any(region.vifs[v].vif_os_index == 0 for v in vifs):
        if time.monotonic() > deadline:
            raise RuntimeError("datapath did not attach its vifs")
        time.sleep(0.05)


def setup_overlay(lab: Lab, extra: list[str]) -> dict[str, str]:
    """Two nodes, one VM each, same virtual network, across the fabric."""
    n1, n2 = lab.ns("bn1"), lab.ns("bn2")
    va, vb = lab.ns("bva"), lab.ns("bvb")
    s = lab.sfx
    lab.veth(n1, f"f1{s}", n2, f"f2{s}")
    lab.veth(n1, f"ta{s}", va, "eth0")
    lab.veth(n2, f"tb{s}", vb, "eth0")
    ip_a, ip_b = "10.66.0.2", "10.66.0.3"
    fab = {1: "192.168.66.1", 2: "192.168.66.2"}
    ip("addr", "add", f"{ip_a}/24", "dev", "eth0", ns=va)
    ip("addr", "add", f"{ip_b}/24", "dev", "eth0", ns=vb)
    mac_a, mac_b = link_mac(va, "eth0"), link_mac(vb, "eth0")
    fmac = {1: link_mac(n1, f"f1{s}"), 2: link_mac(n2, f"f2{s}")}
    t1, t2 = lab.datapath(n1, 1, extra), lab.datapath(n2, 2, extra)
    plan = {1: (t1, f"ta{s}", ip_a, mac_a, f"f1{s}"),
            2: (t2, f"tb{s}", ip_b, mac_b, f"f2{s}")}
    local: dict[int, dict[str, int]] = {}
    for n, (t, tap, vm_ip, vm_mac, fdev) in plan.items():
        vrf = t.vrfs.alloc("vn")
        fvif = t.vifs.add(Vif(type=lib.BSDNET_VIF_FABRIC,
                              flags=lib.BSDNET_VIF_F_UP, ip=fab[n],
                              mac=fmac[n], name=fdev))
        v = Vif(type=lib.BSDNET_VIF_VIRTUAL, flags=lib.BSDNET_VIF_F_UP,
                vrf=vrf, ip=vm_ip, mac=vm_mac, name=tap)
        vif = t.vifs.add(v)
        nh = t.nexthops.add(Nexthop(type=lib.BSDNET_NH_ENCAP, vrf=vrf,
                                    vif=vif, dmac=vm_mac, smac=ROUTER_MAC))
        v.nh = nh
        t.vifs.update(vif, v)
        label = t.labels.alloc(nh)
        t.vrfs.add_route(vrf, f"{vm_ip}/32", nh)
        local[n] = {"vrf": vrf, "fvif": fvif, "vif": vif, "label": label}
    for n, peer in ((1, 2), (2, 1)):
        t = plan[n][0]
        tun = t.nexthops.add(Nexthop(
            type=lib.BSDNET_NH_TUNNEL, vrf=local[n]["vrf"],
            vif=local[n]["fvif"], dmac=fmac[peer], smac=fmac[n],
            tun_src=fab[n], tun_dst=fab[peer], label=local[peer]["label"]))
        t.vrfs.add_route(local[n]["vrf"], f"{plan[peer][2]}/32", tun)
    for n in (1, 2):
        wait_attached(lab.regions[n - 1], [local[n]["fvif"], local[n]["vif"]])
    # Prove the path before measuring it.
    r = run("ip", "netns", "exec", va, "ping", "-c", "2", "-W", "5", ip_b,
            check=False)
    if r.returncode != 0:
        raise RuntimeError("overlay ping failed:\n" + r.stdout + r.stderr)
    return {"src_ns": va, "dst_ns": vb, "dmac": ROUTER_MAC, "smac": mac_a,
            "sip": ip_a, "dip": ip_b}


def setup_bridge(lab: Lab) -> dict[str, str]:
    br = lab.ns("bbr")
    vc, vd = lab.ns("bvc"), lab.ns("bvd")
    s = lab.sfx
    ip("link", "add", "br0", "type", "bridge", ns=br)
    ip("link", "set", "br0", "up", ns=br)
    lab.veth(br, f"pc{s}", vc, "eth0")
    lab.veth(br, f"pd{s}", vd, "eth0")
    for p in (f"pc{s}", f"pd{s}"):
        ip("link", "set", p, "master", "br0", ns=br)
    mac_c, mac_d = link_mac(vc, "eth0"), link_mac(vd, "eth0")
    # Static entry: forwarded to one port, as the overlay does, not flooded.
    run("bridge", "-n", br, "fdb", "add", mac_d, "dev", f"pd{s}", "master",
        "static")
    for n, addr in ((vc, "10.67.0.2/24"), (vd, "10.67.0.3/24")):
        ip("addr", "add", addr, "dev", "eth0", ns=n)
    return {"src_ns": vc, "dst_ns": vd, "dmac": mac_d, "smac": mac_c,
            "sip": "10.67.0.2", "dip": "10.67.0.3"}


def node_counters(region: Region) -> dict:
    """What one datapath counted over the whole run."""
    st = region.stats
    names = {v: k for k, v in vars(lib).items()
             if k.startswith("BSDNET_DROP_") and isinstance(v, int)}
    return {"rx": int(st.st_rx_pkts), "tx": int(st.st_tx_pkts),
            "encaps": int(st.st_encaps), "decaps": int(st.st_decaps),
            "drops": {names.get(i, str(i)): int(st.st_drops[i])
                      for i in range(lib.BSDNET_DROP_MAX) if st.st_drops[i]}}


def cpu_usage(pid: int, packets: int) -> dict:
    """CPU the process used (user, system: softirq work it triggered is
    charged here too) and per packet it received."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    hz = os.sysconf("SC_CLK_TCK")
    user, system = int(fields[11]) / hz, int(fields[12]) / hz
    return {"cpu_user_s": user, "cpu_system_s": system,
            "cpu_ns_per_packet": (user + system) * 1e9 / packets
            if packets else None}


def measure(tools: Path, path: dict[str, str], seconds: float) -> dict:
    counter = subprocess.Popen(
        ["ip", "netns", "exec", path["dst_ns"], str(tools), "count", "eth0",
         str(UDP_DPORT), str(seconds + 3)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert counter.stdout is not None
        if counter.stdout.readline().strip() != "ready":
            raise RuntimeError("counter failed: " + counter.stderr.read())
        blast = run("ip", "netns", "exec", path["src_ns"], str(tools),
                    "blast", "eth0", path["dmac"], path["smac"], path["sip"],
                    path["dip"], str(UDP_DPORT), str(seconds))
        out, err = counter.communicate(timeout=seconds + 60)
    finally:
        if counter.poll() is None:
            counter.kill()
            counter.wait()
    sent = json.loads(blast.stdout)
    got = json.loads(out.strip().splitlines()[-1])
    return {"sent": sent["sent"], "received": got["received"],
            "seconds": sent["seconds"],
            "sent_pps": sent["sent"] / sent["seconds"],
            "pps": got["received"] / sent["seconds"],
            "counter_ring_drops": got["ring_drops"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--datapath-arg", action="append", default=[],
                    help="extra bsdnet-datapath option (repeatable), "
                    "e.g. --datapath-arg=--no-tx-batch")
    ap.add_argument("--datapath-nice", type=int, default=None,
                    help="nice value of the datapath processes (default: "
                    "the daemon's own, -5, ahead of the VMs; 0 runs them "
                    "level with the blaster)")
    ap.add_argument("--out", default=str(ROOT / "bench-results" / "e2e.json"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_e2e: needs root (network namespaces)", file=sys.stderr)
        return 2
    lab = Lab()
    try:
        tools = build_tools(lab.tmp)
        extra = list(args.datapath_arg)
        if args.datapath_nice is not None:
            extra.append(f"--nice={args.datapath_nice}")
        overlay = setup_overlay(lab, extra)
        bridge = setup_bridge(lab)
        runs: dict[str, list[dict]] = {"bsdnet": [], "bridge": []}
        for _ in range(args.runs):      # interleaved: same machine load
            runs["bsdnet"].append(measure(tools, overlay, args.seconds))
            runs["bridge"].append(measure(tools, bridge, args.seconds))
        nodes = [node_counters(r) for r in lab.regions]
        for node, dp in zip(nodes, lab.dps):
            node.update(cpu_usage(dp.pid, node["rx"]))
        for dp in lab.dps:
            dp.stop()
        logs = [Path(dp.log_path).read_text(errors="replace")
                for dp in lab.dps if dp.log_path]
    finally:
        lab.close()
    med = {k: statistics.median(r["pps"] for r in v) for k, v in runs.items()}
    result = {
        "benchmark": "e2e",
        "frame_bytes": 60,
        "frame_note": "60 bytes handed to AF_PACKET = 64 on a wire with FCS",
        "seconds_per_run": args.seconds,
        "datapath_nice": (args.datapath_nice if args.datapath_nice
                          is not None else "daemon default (-5)"),
        "datapath_args": args.datapath_arg,
        "runs": runs,
        "bsdnet_pps_median": med["bsdnet"],
        "bridge_pps_median": med["bridge"],
        "ratio": med["bsdnet"] / med["bridge"] if med["bridge"] else None,
        "datapath_counters": nodes,
        "datapath_exit_logs": [lg.strip().splitlines()[-1:] for lg in logs],
        "host": {"kernel": platform.release(), "cpus": os.cpu_count()},
        "command": " ".join([sys.executable] + sys.argv),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"bsdnet overlay (2 datapaths, MPLSoGRE): "
          f"{med['bsdnet']:,.0f} pps received (median of {args.runs})")
    print(f"linux bridge (veth-bridge-veth):        "
          f"{med['bridge']:,.0f} pps received")
    print(f"ratio bsdnet/bridge: {result['ratio']:.3f}")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
