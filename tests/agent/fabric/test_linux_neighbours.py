"""The rtnetlink twin's neighbour table, for real, in a fresh namespace:
the initial dump, lladdr changes, and bsdnet-routesock monitor --neighbours."""
from __future__ import annotations

import ipaddress
import json
import select
import subprocess
import sys

import pytest

from bsdnet.routesock.events import (
    Neighbour, NeighbourAdded, NeighbourChanged, NeighbourRemoved,
)

from routesock.netlinkmsg import collect

from .conftest import ip, suffix

pytestmark = pytest.mark.root
GW = ipaddress.ip_address("192.0.2.254")


@pytest.fixture
def veth(netns):
    fab = f"fn{suffix()}"
    ip(netns, "link", "add", fab, "type", "veth", "peer", "name", fab + "p")
    ip(netns, "addr", "add", "192.0.2.1/24", "dev", fab)
    ip(netns, "link", "set", fab, "up")
    ip(netns, "link", "set", fab + "p", "up")
    ip(netns, "neigh", "replace", str(GW), "lladdr", "02:00:00:00:fe:01",
       "dev", fab, "nud", "permanent")
    return netns, fab


def test_twin_dumps_and_follows_neighbours(veth):
    from bsdnet.routesock.netlink import NetlinkListener
    ns, fab = veth
    lst = NetlinkListener(ns, neighbours=True)
    try:
        ev = lst.start()
        idx = next(e.link.index for e in ev if getattr(e, "link", None)
                   and e.link.name == fab)
        assert [e.neigh for e in ev if isinstance(e, NeighbourAdded)] == [
            Neighbour(idx, GW, "02:00:00:00:fe:01", static=True)]
        ip(ns, "neigh", "replace", str(GW), "lladdr", "02:00:00:00:fe:02",
           "dev", fab, "nud", "permanent")
        ev = collect(lst, lambda e: isinstance(e, NeighbourChanged))
        (ch,) = [e for e in ev if isinstance(e, NeighbourChanged)]
        assert (ch.old.mac, ch.neigh.mac, ch.ifname) == (
            "02:00:00:00:fe:01", "02:00:00:00:fe:02", fab)
        ip(ns, "neigh", "del", str(GW), "dev", fab)
        collect(lst, lambda e: isinstance(e, NeighbourRemoved))
        assert lst.refresh_neighbours() == []
    finally:
        lst.close()


def test_twin_without_neighbours_is_as_before(veth):
    from bsdnet.routesock.netlink import NetlinkListener
    ns, fab = veth
    lst = NetlinkListener(ns)
    try:
        assert not any(isinstance(e, NeighbourAdded) for e in lst.start())
        assert lst.refresh_neighbours() == []
    finally:
        lst.close()


def test_monitor_neighbours(veth):
    ns, fab = veth
    argv = [sys.executable, "-m", "bsdnet.cmd.routesock", "monitor", "--json",
            "--neighbours", "--netns", ns]
    # Unbuffered: select() must see every line, not a buffer's worth.
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, bufsize=0)
    try:
        for _ in range(20):
            r, _, _ = select.select([proc.stdout], [], [], 20)
            assert r, "monitor printed nothing"
            ev = json.loads(proc.stdout.readline())
            if ev["event"] == "neighbour-added":
                assert ev["neigh"]["address"] == str(GW)
                assert ev["neigh"]["mac"] == "02:00:00:00:fe:01"
                assert ev["ifname"] == fab
                break
        else:
            raise AssertionError("no neighbour-added in the dump")
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
