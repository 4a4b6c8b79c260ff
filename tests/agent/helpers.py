"""What the agent tests share besides fixtures (conftest.py): the
topology of two networks, the agent as a process, and a datapath's side
of the flow table and trap channel."""
from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys

from bsdnet.shm.abi import ffi, lib
from bsdnet.shm.tables import ip_to_int
from tests.datapath.helpers import wait_for as wait_until


def fabric_topology(**over) -> dict:
    topo = {
        "fabric": {"interface": "fab0", "address": "192.0.2.1",
                   "mac": "02:00:00:00:00:01", "mtu": 1500},
        "networks": [{"name": "red"}, {"name": "blue"}],
        "ports": [
            {"id": "port-a", "network": "red", "interface": "vmtapA",
             "mac": "02:00:00:00:01:0a", "ip": "10.0.0.1", "policy": True},
            {"id": "port-b", "network": "blue", "interface": "vmtapB",
             "mac": "02:00:00:00:01:0b", "ip": "10.0.0.1"},
        ],
        "remote": [
            {"network": "red", "prefix": "10.0.0.2/32", "node": "192.0.2.2",
             "node_mac": "02:00:00:00:00:02", "label": 17},
            {"network": "red", "prefix": "10.0.1.0/24", "node": "192.0.2.2",
             "node_mac": "02:00:00:00:00:02", "label": 18},
            {"network": "red", "prefix": "10.0.1.0/24", "node": "192.0.2.3",
             "node_mac": "02:00:00:00:00:03", "label": 19},
        ],
    }
    topo.update(over)
    return topo


WAIT = 60.0
wait_for = functools.partial(wait_until, timeout=WAIT)


class AgentProc:
    def __init__(self, tmp_path, sockdir, region_path):
        self.tmp = tmp_path
        self.topo = tmp_path / "topology.json"
        self.state_dir = tmp_path / "state"
        self.pid_file = tmp_path / "agent.pid"
        self.log = tmp_path / "agent.log"
        self.trap = os.path.join(sockdir, "agent.sock")
        self.ctl = os.path.join(sockdir, "dp.sock")
        self.region_path = region_path
        self.proc = None

    def write_topology(self, doc):
        tmp = self.topo.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        tmp.rename(self.topo)

    def start(self, *extra):
        argv = [sys.executable, "-m", "bsdnet.cmd.agent",
                "--datapath-shm_name", self.region_path,
                "--datapath-trap_socket", self.trap,
                "--datapath-control_socket", self.ctl,
                "--datapath-region_wait", "30",
                "--agent-state_dir", str(self.state_dir),
                "--agent-topology_file", str(self.topo),
                "--agent-pid_file", str(self.pid_file),
                "--agent-api_socket", str(self.state_dir / "api.sock"),
                "--agent-metrics_port", "0", *extra]
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        return self

    def log_text(self):
        return self.log.read_text()

    def wait_serving(self, n=1):
        wait_for(lambda: self.log_text().count("serving traps") >= n or
                 self.proc.poll() is not None, "agent start")
        assert self.proc.poll() is None, self.log_text()

    def state(self):
        return json.loads((self.state_dir / "state.json").read_text())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc:
            self.logf.close()


NONE = lib.BSDNET_FLOW_NONE & 0xffffffff


def key(vrf=1, proto=6, src="10.0.0.1", dst="10.0.0.2", sport=1234,
        dport=80):
    k = ffi.new("struct bsdnet_flow_key *")
    k.fk_vrf, k.fk_proto = vrf, proto
    k.fk_src, k.fk_dst = ip_to_int(src), ip_to_int(dst)
    k.fk_sport, k.fk_dport = sport, dport
    return k


class FakeDatapath:
    """What the datapath does on a flow miss: claim HOLD, count it, trap."""

    def __init__(self, region, path):
        self.region = region
        self.ft = ffi.new("struct bsdnet_flowtab *")
        lib.bsdnet_flowtab_bind(self.ft, region.hdr, region.base)
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(10)

    def claim(self, k, vif=2):
        g = ffi.new("uint32_t *")
        idx = lib.bsdnet_flow_claim(self.ft, k, vif, 1000, g)
        assert idx != NONE
        lib.bsdnet_agent_add32(ffi.addressof(self.region.stats, "st_holds"), 1)
        return idx, g[0]

    def trap(self, agent_path, idx, g, reason=lib.BSDNET_TRAP_FLOW_MISS,
             frame=b"\0" * 60, vif=2, vrf=1):
        th = ffi.new("struct bsdnet_trap_hdr *")
        th.th_version = lib.BSDNET_TRAP_VERSION
        th.th_reason, th.th_vif, th.th_vrf = reason, vif, vrf
        th.th_flow, th.th_gen, th.th_len = idx, g, len(frame)
        self.sock.sendto(bytes(ffi.buffer(th)) + frame, agent_path)

    def control(self):
        data = self.sock.recv(256)
        ch = ffi.new("struct bsdnet_ctl_hdr *")
        ffi.memmove(ch, data, ffi.sizeof(ch[0]))
        return ch.ch_type, ch.ch_flow, ch.ch_gen

    def close(self):
        self.sock.close()
