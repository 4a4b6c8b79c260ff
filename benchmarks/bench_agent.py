#!/usr/bin/env python3
"""bsdnet-agent as an operator runs it: port add latency through the port
API, and time to reprogram a datapath restarted with empty tables.

Everything runs in a private network namespace (root): a bsdnet-datapath
(real process, default geometry) and a bsdnet-agent with its port API on
the namespace's loopback.  The ports' taps do not exist, so the datapath
attaches none of them; what is measured is the agent's work and the
tables being complete.

1. Port add: one network, then --ports POST /port requests on one
   keep-alive connection (as bsdnet-port-control and Nova send them one by
   one); each is timed from request to answer, and the answer comes after
   the port is persisted (fsync) and its vif, nexthop, label and /32 route
   are written.  Reports median and 99th percentile.
2. Datapath restart with empty tables: SIGKILL the datapath, remove its
   shared-memory object, start it again; the clock runs from the new
   datapath's start until every port's /32 route resolves to its nexthop
   in the new region and its label is set (full forwarding state).  Also
   reports the agent's own figure from its log.

Writes bench-results/agent.json.

  .venv/bin/python benchmarks/bench_agent.py [--ports N] [--runs R]
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from bsdnet.agent import apiclient  # noqa: E402
from bsdnet.shm.mtrie import lookup  # noqa: E402
from bsdnet.shm.region import Region, RegionError  # noqa: E402
from bsdnet.shm.tables import ip_to_int  # noqa: E402

BIN = os.path.dirname(sys.executable)
NET = str(uuid.UUID(int=0x1000))


def private_netns() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:       # CLONE_NEWNET
        raise SystemExit("unshare(CLONE_NEWNET): "
                         f"{os.strerror(ctypes.get_errno())} (needs root)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with open("/proc/sys/net/unix/max_dgram_qlen", "w") as f:
        f.write("512")


def wait(pred, what: str, timeout: float = 120.0, pause: float = 0.001):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(pause)
    raise SystemExit(f"timed out waiting for {what}")


class Node:
    def __init__(self, tmp: str) -> None:
        self.tmp = tmp
        self.shm = f"bnbench{os.getpid()}"
        self.ctl = os.path.join(tmp, "dp.sock")
        self.trap = os.path.join(tmp, "ag.sock")
        self.state = os.path.join(tmp, "state")
        self.dp: subprocess.Popen | None = None
        self.agent: subprocess.Popen | None = None

    def start_datapath(self) -> None:
        self.dp = subprocess.Popen(
            [os.path.join(BIN, "bsdnet-datapath"), "--shm", self.shm,
             "--trap-socket", self.ctl, "--agent-socket", self.trap],
            stdout=subprocess.DEVNULL,
            stderr=open(os.path.join(self.tmp, "dp.log"), "ab"))

    def start_agent(self) -> None:
        topo = os.path.join(self.tmp, "topology.json")
        with open(topo, "w") as f:
            json.dump({"fabric": {"interface": "fab0",
                                  "address": "192.0.2.1",
                                  "mac": "02:00:00:00:00:01"}}, f)
        self.log = os.path.join(self.tmp, "agent.log")
        self.agent = subprocess.Popen(
            [os.path.join(BIN, "bsdnet-agent"),
             "--datapath-shm_name", self.shm,
             "--datapath-control_socket", self.ctl,
             "--datapath-trap_socket", self.trap,
             "--agent-state_dir", self.state, "--agent-topology_file", topo,
             "--agent-api_socket", os.path.join(self.tmp, "api.sock")],
            stdout=subprocess.DEVNULL, stderr=open(self.log, "ab"))
        url = os.path.join(self.state, "api-url")
        wait(lambda: os.path.exists(url), "the port API", pause=0.05)
        # One keep-alive connection on the agent's unix socket, as Nova's
        # plugging would use it.
        self.conn = apiclient.connection(open(url).read().split()[0], 60)

    def call(self, method: str, path: str, body: dict) -> float:
        data = json.dumps(body).encode()
        t0 = time.perf_counter()
        self.conn.request(method, path, body=data,
                          headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        text = r.read()
        dt = time.perf_counter() - t0
        if r.status != 200:
            raise SystemExit(f"{method} {path}: {r.status} {text!r}")
        return dt

    def stop(self) -> None:
        for p in (self.agent, self.dp):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        try:
            os.unlink(f"/dev/shm/{self.shm}")
        except FileNotFoundError:
            pass


def port_doc(i: int) -> dict:
    i += 2          # past the network address and the first host
    return {"id": str(uuid.UUID(int=0x2000 + i)),
            "instance-id": str(uuid.UUID(int=0x3000 + i)), "vn-id": NET,
            "ip-address": f"10.{64 + i // 65536}.{i // 256 % 256}.{i % 256}",
            "mac-address": "02:00:%02x:%02x:%02x:%02x" % (
                i >> 24 & 255, i >> 16 & 255, i >> 8 & 255, i & 255),
            "system-name": f"tapb{i}", "security-groups": []}


def complete(node: Node, n: int, old_instance: int) -> bool:
    """Every port's route and label in a new region."""
    try:
        r = Region.open(node.shm, readonly=True)
    except RegionError:
        return False
    try:
        if r.instance == old_instance:
            return False
        try:
            with open(os.path.join(node.state, "state.json")) as f:
                st = json.load(f)
        except (OSError, ValueError):
            return False
        if st.get("instance") != r.instance or len(st["ports"]) < n:
            return False
        for i in range(n):
            p = st["ports"].get(port_doc(i)["id"])
            ip = ip_to_int(port_doc(i)["ip-address"])
            if p is None or lookup(r, p["vrf"], ip) != (p["nexthop"], 32) \
                    or r.labels[p["label"]].lbl_nh != p["nexthop"]:
                return False
        return True
    finally:
        r.close()


def one_run(n: int) -> dict:
    tmp = tempfile.mkdtemp(prefix="bnbag")
    node = Node(tmp)
    try:
        node.start_datapath()
        wait(lambda: os.path.exists(f"/dev/shm/{node.shm}") and
             os.path.exists(node.ctl), "the datapath", pause=0.05)
        node.start_agent()
        node.call("POST", "/network", {
            "id": NET, "name": "bench", "subnets": [
                {"cidr": f"10.{64 + k}.0.0/16"} for k in
                range(max(1, -(-(n + 4) // 65536)))]})
        lat = [node.call("POST", "/port", port_doc(i)) for i in range(n)]
        lat.sort()
        r = Region.open(node.shm, readonly=True)
        old = r.instance
        r.close()
        node.dp.kill()
        node.dp.wait()
        os.unlink(f"/dev/shm/{node.shm}")
        mark = os.path.getsize(node.log)
        t0 = time.monotonic()
        node.start_datapath()
        wait(lambda: complete(node, n, old), "the new region to be complete",
             pause=0.002)
        full = time.monotonic() - t0
        agent_s = None
        wait(lambda: "reprogrammed in" in open(node.log).read()[mark:],
             "the agent's log", pause=0.05)
        for line in open(node.log).read()[mark:].splitlines():
            if "reprogrammed in" in line:
                agent_s = float(line.split("reprogrammed in ")[1]
                                .split("s")[0])
        return {"ports": n,
                "port_add_median_ms": statistics.median(lat) * 1000,
                "port_add_p99_ms": lat[min(n - 1, int(n * 0.99))] * 1000,
                "port_add_max_ms": lat[-1] * 1000,
                "reprogram_full_s": full, "agent_reprogram_s": agent_s}
    finally:
        node.stop()
        subprocess.run(["rm", "-rf", tmp], check=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ports", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    private_netns()
    runs = []
    for i in range(args.runs):
        r = one_run(args.ports)
        runs.append(r)
        print(f"run {i + 1}: port add median {r['port_add_median_ms']:.2f} "
              f"ms, p99 {r['port_add_p99_ms']:.2f} ms; datapath restart "
              f"with empty tables: {r['ports']} ports forwarding again "
              f"after {r['reprogram_full_s']:.3f} s (agent's own "
              f"reprogram {r['agent_reprogram_s']:.3f} s)")
    out = {"benchmark": "agent", "ports": args.ports, "runs": runs,
           "median_port_add_ms": statistics.median(
               r["port_add_median_ms"] for r in runs),
           "median_port_add_p99_ms": statistics.median(
               r["port_add_p99_ms"] for r in runs),
           "median_reprogram_s": statistics.median(
               r["reprogram_full_s"] for r in runs),
           "cpus": os.cpu_count(),
           "command": " ".join([os.path.basename(sys.executable)] + sys.argv)}
    os.makedirs(os.path.join(ROOT, "bench-results"), exist_ok=True)
    path = os.path.join(ROOT, "bench-results", "agent.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
    print(f"median: port add {out['median_port_add_ms']:.2f} ms "
          f"(p99 {out['median_port_add_p99_ms']:.2f} ms), reprogram "
          f"{args.ports} ports {out['median_reprogram_s']:.3f} s; "
          f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
