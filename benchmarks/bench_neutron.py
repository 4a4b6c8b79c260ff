#!/usr/bin/env python3
"""bsdnet driven by a real Neutron (scripts/neutron-dev.sh), as a cloud
uses it.  Two measures, each on a sandbox of its own:

plug    Time from `port create` to the first ping answered, per port:
        create the port in Neutron, bind it to node n2 and plug it
        through n2's port API (what Nova and os-vif do), give the VM its
        address with a stock DHCP client (busybox udhcpc), then ping it
        from a VM on node n1 every 10 ms until it answers.  Each phase
        timed; medians and 99th percentiles over --ports ports (100).

resync  A full resync after an agent restart: --ports ports (1000) over
        --networks networks (50), all bound to node n1 and plugged through
        its port API (their taps need not exist: the tables are what is
        measured); then SIGTERM the agent, start it again, and time from
        its start to its "full resync done", with the RPC messages it sent
        (its own count, by method); --runs times (3).

Root, and a Neutron: started here with scripts/neutron-dev.sh (and
stopped after) unless one answers already.  Writes bench-results/neutron-
plug.json or neutron-resync.json.

  .venv/bin/python benchmarks/bench_neutron.py plug [--ports 100]
  .venv/bin/python benchmarks/bench_neutron.py resync [--ports 1000]
      [--networks 50] [--runs 3]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
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
from bsdnet.common import names  # noqa: E402
from bsdnet.sandbox import neutron as sbneutron  # noqa: E402
from bsdnet.sandbox import orchestrate, procs  # noqa: E402
from bsdnet.sandbox.neutronapi import Neutron  # noqa: E402
from bsdnet.sandbox.plan import make_plan  # noqa: E402

SCRIPT = os.path.join(ROOT, "scripts", "neutron-dev.sh")


def neutron_env() -> tuple[dict[str, str], bool]:
    """Neutron's URLs; starts it if it does not answer (True: stop it)."""
    started = subprocess.run([SCRIPT, "status"], capture_output=True).returncode != 0
    if started:
        subprocess.run([SCRIPT, "up"], check=True)
    out = subprocess.run([SCRIPT, "env"], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.split()), started


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def summary(xs: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(xs) * 1e3, 1),
            "p99_ms": round(pct(xs, 0.99) * 1e3, 1),
            "min_ms": round(min(xs) * 1e3, 1), "max_ms": round(max(xs) * 1e3, 1)}


class Sandbox:
    def __init__(self, env: dict[str, str], vms_per_node: int) -> None:
        self.rundir = tempfile.mkdtemp(prefix="bsdnet-bench-", dir="/run")
        os.chmod(self.rundir, 0o755)
        self.plan = make_plan("bnb", nodes=2, vms_per_node=vms_per_node, networks=1,
                              rundir=self.rundir,
                              neutron={"url": env["NEUTRON_URL"],
                                       "transport_url": env["TRANSPORT_URL"]})
        orchestrate.down("bnb", self.rundir)
        orchestrate.up(self.plan, self.rundir, ready_timeout=60)
        self.n = Neutron(env["NEUTRON_URL"])

    def close(self) -> None:
        orchestrate.down("bnb", self.rundir)
        shutil.rmtree(self.rundir, ignore_errors=True)


def ping_until(namespace: str, ip: str, timeout: float = 20.0) -> float:
    """When the first of pings sent every 10 ms is answered."""
    p = subprocess.run(["ip", "netns", "exec", namespace, "ping", "-n", "-i", "0.01", "-c", "1",
                        "-w", str(int(timeout)), "-D", ip], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{ip} did not answer in {timeout:g}s")
    return time.monotonic()


def bench_plug(a: argparse.Namespace, env: dict[str, str]) -> dict:
    sb = Sandbox(env, vms_per_node=1)
    try:
        src = next(v for v in sb.plan.vms if v.node == "n1")
        net = sb.plan.neutron["networks"]["red"]
        phases: dict[str, list[float]] = {"create": [], "bind_and_plug": [], "dhcp": [],
                                          "first_ping": [], "total": []}
        for i in range(a.ports):
            t0 = time.monotonic()
            port = sb.n.create("port", network_id=net, project_id=sb.plan.neutron["project_id"])
            t1 = time.monotonic()
            vm = sbneutron.VM(name=f"b{i}", node="n2", namespace=f"bnb-b{i}", interface="eth0",
                              host_interface=names.tap_name(port["id"]), ip="", prefixlen=0,
                              mac=port["mac_address"], network="red", port_id=port["id"])
            sbneutron.netns.build_vm(sb.plan, vm)      # the guest: not timed
            t2 = time.monotonic()
            sbneutron.plug(sb.plan, vm)
            t3 = time.monotonic()
            vm.ip, vm.prefixlen = sbneutron.dhcp(sb.plan, vm)
            t4 = time.monotonic()
            t5 = ping_until(src.namespace, vm.ip)
            phases["create"].append(t1 - t0)
            phases["bind_and_plug"].append(t3 - t2)
            phases["dhcp"].append(t4 - t3)
            phases["first_ping"].append(t5 - t4)
            phases["total"].append((t1 - t0) + (t5 - t2))
            sbneutron._remove_vm(sb.plan, vm)
            sb.n.delete("port", port["id"])
            if (i + 1) % 10 == 0:
                print(f"  {i + 1} ports, median so far "
                      f"{statistics.median(phases['total']) * 1e3:.0f} ms", flush=True)
        return {"ports": a.ports, **{k: summary(v) for k, v in phases.items()}}
    finally:
        sb.close()


def bench_resync(a: argparse.Namespace, env: dict[str, str]) -> dict:
    sb = Sandbox(env, vms_per_node=1)
    n1 = sb.plan.node("n1")
    try:
        project = sb.plan.neutron["project_id"]
        # Neutron's default quotas (500 ports, 100 networks) are per project.
        sb.n.call("PUT", f"/quotas/{project}", {"quota": {
            "port": a.ports + 100, "network": a.networks + 10,
            "subnet": a.networks + 10}})
        per = -(-a.ports // a.networks)
        nets = []
        for k in range(a.networks):
            net = sb.n.create("network", name=f"bench{k}", project_id=project)
            sb.n.create("subnet", network_id=net["id"], ip_version=4,
                        cidr=f"10.{100 + k // 200}.{k % 200}.0/24", project_id=project)
            nets.append(net["id"])
        t0 = time.monotonic()
        ports = []
        for k, net in enumerate(nets):
            want = min(per, a.ports - len(ports))
            if want <= 0:
                break
            ports += sb.n.call("POST", "/ports", {"ports": [
                {"network_id": net, "project_id": project, "device_owner": "compute:nova",
                 "binding:host_id": n1.host} for _ in range(want)]})["ports"]
        print(f"  {len(ports)} ports over {len(nets)} networks made in "
              f"{time.monotonic() - t0:.1f}s", flush=True)
        t0 = time.monotonic()

        def plug(p: dict) -> int:
            st, doc = apiclient.request(orchestrate.api_url(n1), "POST", "/port", {
                "id": p["id"], "instance-id": str(uuid.uuid4()), "vn-id": p["network_id"],
                "mac-address": p["mac_address"], "system-name": names.tap_name(p["id"])},
                timeout=600)
            return st
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            bad = [st for st in ex.map(plug, ports) if st != 200]
        if bad:
            raise SystemExit(f"{len(bad)} plugs failed: {bad[:5]}")
        print(f"  plugged in {time.monotonic() - t0:.1f}s", flush=True)
        log = os.path.join(n1.rundir, "agent.log")
        runs = []
        for r in range(a.runs):
            done = open(log).read().count("full resync done")
            procs.stop(n1.rundir, "agent", timeout=30)
            t_start = time.monotonic()
            orchestrate.start_agent(sb.plan, n1)
            while open(log).read().count("full resync done") <= done:
                if time.monotonic() - t_start > 600:
                    raise SystemExit("no resync within 600 s")
                time.sleep(0.05)
            wall = time.monotonic() - t_start
            line = [x for x in open(log).read().splitlines() if "full resync done" in x][-1]
            m = re.search(r"done in ([0-9.]+)s: (\d+) ports up, (\d+) RPC messages sent "
                          r"\((.*)\)", line)
            runs.append({"from_start_s": round(wall, 2), "resync_s": float(m.group(1)),
                         "ports_up": int(m.group(2)), "rpc_messages": int(m.group(3)),
                         "by_method": m.group(4)})
            print(f"  run {r + 1}: {runs[-1]}", flush=True)
        return {"ports": len(ports), "networks": len(nets), "runs": runs,
                "median_resync_s": statistics.median(x["resync_s"] for x in runs),
                "median_from_start_s": statistics.median(x["from_start_s"] for x in runs),
                "rpc_messages": runs[-1]["rpc_messages"]}
    finally:
        sb.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("plug", "resync"))
    ap.add_argument("--ports", type=int)
    ap.add_argument("--networks", type=int, default=50)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (services, namespaces)")
    a.ports = a.ports or (100 if a.what == "plug" else 1000)
    env, started = neutron_env()
    try:
        out = bench_plug(a, env) if a.what == "plug" else bench_resync(a, env)
    finally:
        if started:
            subprocess.run([SCRIPT, "down"])
    out["loadavg"] = open("/proc/loadavg").read().split()[:3]
    print(json.dumps(out, indent=1))
    os.makedirs(os.path.join(ROOT, "bench-results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench-results", f"neutron-{a.what}.json"), "w") as f:
        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
