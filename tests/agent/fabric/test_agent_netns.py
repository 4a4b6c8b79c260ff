"""bsdnet-agent in a network namespace whose fabric veth has a default
route via a gateway with a neighbour entry: the TUNNEL nexthops' nh_dmac
in the region follows the gateway's MAC, the default route and an
on-link peer's MAC, and a route whose MAC is unknown waits for it.
The region is a file made by the test (no datapath); waits are bounded
polls, never timing assertions."""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import uuid

import pytest

from bsdnet.shm.abi import ffi
from bsdnet.agent.portstore import Network, PortStore, Route, RoutePath
from bsdnet.shm.region import Region, small_geometry
from tests.datapath.helpers import wait_for as wait_until

from .conftest import ip, suffix

pytestmark = pytest.mark.root

WAIT = 60.0
NET = str(uuid.uuid4())
OFF, ON = "10.9.1.0/24", "10.9.2.0/24"          # via 198.51.100.9 / 192.0.2.7
GW1, GW2, GW3, PEER1, PEER2 = (
    "02:00:00:00:fe:01", "02:00:00:00:fe:02", "02:00:00:00:fe:03",
    "02:00:00:00:07:01", "02:00:00:00:07:02")

wait_for = functools.partial(wait_until, timeout=WAIT)


class NsAgent:
    """bsdnet-agent run with ip netns exec, over a region file."""

    def __init__(self, ns, tmp_path, sockdir, fab):
        self.ns, self.fab = ns, fab
        self.state_dir = tmp_path / "state"
        self.log = tmp_path / "agent.log"
        self.region = Region.create(str(tmp_path / "region"), small_geometry())
        self.sockdir = sockdir
        self.proc = None

    def start(self):
        argv = ["ip", "netns", "exec", self.ns, sys.executable, "-m",
                "bsdnet.cmd.agent",
                "--datapath-shm_name", self.region.path,
                "--datapath-trap_socket", os.path.join(self.sockdir, "a.sock"),
                "--datapath-control_socket", os.path.join(self.sockdir, "d.sock"),
                "--datapath-region_wait", "30",
                "--agent-state_dir", str(self.state_dir),
                "--agent-topology_file", str(self.state_dir / "none.json"),
                "--agent-api_socket", os.path.join(self.sockdir, "api.sock"),
                "--fabric-interface", self.fab,
                "--fabric-address", "192.0.2.1",
                "--fabric-mac", "02:00:00:00:00:01"]
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.logf,
                                     stderr=subprocess.STDOUT)

    def log_text(self):
        return self.log.read_text()

    def remote(self, prefix):
        """The TUNNEL nexthop of a one-path remote prefix, as raw bytes
        and its nh_dmac; None while the prefix is not programmed."""
        try:
            st = json.loads((self.state_dir / "state.json").read_text())
        except (OSError, ValueError):
            return None
        r = st["remote"].get(f"{NET} {prefix}")
        if r is None or not r["nexthops"]:
            return None
        nh = self.region.nexthops[r["nexthops"][0]]
        raw = bytes(ffi.buffer(ffi.addressof(nh),
                               ffi.sizeof("struct bsdnet_nh")))
        return raw, ":".join(f"{b:02x}" for b in bytes(nh.nh_dmac))

    def dmac(self, prefix):
        r = self.remote(prefix)
        return r[1] if r else None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None:
            self.logf.close()
        self.region.close()


@pytest.fixture
def fabric(netns):
    fab = f"fb{suffix()}"
    ip(netns, "link", "set", "lo", "up")
    ip(netns, "link", "add", fab, "type", "veth", "peer", "name", fab + "p")
    ip(netns, "addr", "add", "192.0.2.1/24", "dev", fab)
    ip(netns, "link", "set", fab, "up")
    ip(netns, "link", "set", fab + "p", "up")
    ip(netns, "neigh", "replace", "192.0.2.254", "lladdr", GW1, "dev", fab,
       "nud", "permanent")
    ip(netns, "neigh", "replace", "192.0.2.7", "lladdr", PEER1, "dev", fab,
       "nud", "permanent")
    ip(netns, "route", "add", "default", "via", "192.0.2.254")
    return netns, fab


@pytest.fixture
def agent(fabric, tmp_path, sockdir):
    ns, fab = fabric
    store = PortStore(str(tmp_path / "state" / "ports"))
    store.commit("network", NET, Network(id=NET, name="n"))
    for prefix, node, label in ((OFF, "198.51.100.9", 20),
                                (ON, "192.0.2.7", 21)):
        r = Route(network=NET, prefix=prefix,
                  paths=(RoutePath(node, label),))
        store.commit("route", r.id, r)
    a = NsAgent(ns, tmp_path, sockdir, fab)
    try:
        a.start()
        yield a
    finally:
        a.stop()


def test_tunnel_dmac_follows_the_fabric(agent):
    ns, fab, log = agent.ns, agent.fab, agent.log_text
    wait_for(lambda: agent.dmac(OFF) == GW1 and agent.dmac(ON) == PEER1,
             "off-link peer at the gateway's MAC, on-link at its own", log=log)

    # The gateway's MAC changes: only the off-link peer's nexthop moves.
    on_before = agent.remote(ON)[0]
    ip(ns, "neigh", "replace", "192.0.2.254", "lladdr", GW2, "dev", fab,
       "nud", "permanent")
    wait_for(lambda: agent.dmac(OFF) == GW2, "the new gateway MAC", log=log)
    assert agent.remote(ON)[0] == on_before

    # The default route moves to another gateway.
    ip(ns, "neigh", "replace", "192.0.2.253", "lladdr", GW3, "dev", fab,
       "nud", "permanent")
    ip(ns, "route", "replace", "default", "via", "192.0.2.253")
    wait_for(lambda: agent.dmac(OFF) == GW3, "the new gateway's MAC", log=log)

    # A gateway nobody has resolved: the route waits, said so in the log ...
    ip(ns, "route", "replace", "default", "via", "192.0.2.252")
    wait_for(lambda: agent.remote(OFF) is None, "the route left out", log=log)
    assert "no fabric MAC for node 198.51.100.9" in log()
    assert agent.dmac(ON) == PEER1
    # ... and comes back when the MAC is known.
    ip(ns, "neigh", "replace", "192.0.2.252", "lladdr", GW1, "dev", fab,
       "nud", "permanent")
    wait_for(lambda: agent.dmac(OFF) == GW1, "the route back", log=log)

    # An on-link peer's own entry changes.
    ip(ns, "neigh", "replace", "192.0.2.7", "lladdr", PEER2, "dev", fab,
       "nud", "permanent")
    wait_for(lambda: agent.dmac(ON) == PEER2, "the peer's new MAC", log=log)
    assert agent.dmac(OFF) == GW1
    assert agent.proc.poll() is None, log()
