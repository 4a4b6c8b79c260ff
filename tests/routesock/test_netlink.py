"""The rtnetlink twin, for real, in a fresh network namespace."""
from __future__ import annotations

import ipaddress
import socket

import pytest

from bsdnet.routesock.events import (
    AddressAdded, AddressRemoved, LinkAdded, LinkChanged, LinkRemoved, LinkRenamed,
    RouteAdded, RouteChanged, RouteRemoved,
)

from .conftest import ip, suffix
from .netlinkmsg import collect

pytestmark = pytest.mark.root


@pytest.fixture
def twin(netns):
    from bsdnet.routesock.netlink import NetlinkListener
    lst = NetlinkListener(netns)
    yield lst
    lst.close()


def test_initial_dump_then_every_kind_of_change(twin, netns):
    ev = twin.start()
    assert any(isinstance(e, LinkAdded) and e.link.name == "lo" for e in ev)
    tap, new, peer = f"rt{suffix()}", f"rn{suffix()}", f"rp{suffix()}"

    ip(netns, "tuntap", "add", "dev", tap, "mode", "tap")
    ev = collect(twin, lambda e: isinstance(e, LinkAdded) and e.link.name == tap)
    idx = next(e.link.index for e in ev if isinstance(e, LinkAdded))
    ip(netns, "link", "set", tap, "name", new)
    ev = collect(twin, lambda e: isinstance(e, LinkRenamed))
    assert [(e.old_name, e.link.name, e.link.index) for e in ev if isinstance(e, LinkRenamed)] == [
        (tap, new, idx)]
    ip(netns, "link", "set", new, "mtu", "1400", "up")
    ev = collect(twin, lambda e: isinstance(e, LinkChanged) and e.link.up and e.link.mtu == 1400)

    # A veth pair gives carrier, so a route via a gateway can be added.
    ip(netns, "link", "add", peer, "type", "veth", "peer", "name", peer + "b")
    ip(netns, "link", "set", peer, "up")
    ip(netns, "link", "set", peer + "b", "up")
    collect(twin, lambda e: isinstance(e, LinkChanged) and e.link.name == peer and e.link.running)
    ip(netns, "addr", "add", "10.77.0.2/24", "dev", peer)
    ev = collect(twin, lambda e: isinstance(e, AddressAdded))
    (a,) = [e for e in ev if isinstance(e, AddressAdded)]
    assert str(a.addr.address) == "10.77.0.2/24" and a.ifname == peer

    ip(netns, "route", "add", "default", "via", "10.77.0.1")
    ev = collect(twin, lambda e: isinstance(e, RouteAdded) and e.route.dst.prefixlen == 0)
    r = next(e.route for e in ev if isinstance(e, RouteAdded) and e.route.dst.prefixlen == 0)
    assert r.gateway == ipaddress.ip_address("10.77.0.1") and "gateway" in r.flags
    ip(netns, "route", "replace", "default", "via", "10.77.0.9")
    ev = collect(twin, lambda e: isinstance(e, RouteChanged))
    assert next(e for e in ev if isinstance(e, RouteChanged)).old.gateway == r.gateway

    ip(netns, "addr", "del", "10.77.0.2/24", "dev", peer)
    subnet = ipaddress.ip_network("10.77.0.0/24")
    ev = collect(twin, lambda e: isinstance(e, RouteRemoved) and e.route.dst == subnet)
    assert any(isinstance(e, AddressRemoved) for e in ev)

    ip(netns, "link", "del", new)
    ev = collect(twin, lambda e: isinstance(e, LinkRemoved) and e.link.name == new)
    assert idx not in twin.state.links


def test_host_route_writes_come_back_marked_own(twin, netns):
    twin.start()
    peer = f"rw{suffix()}"
    ip(netns, "link", "add", peer, "type", "veth", "peer", "name", peer + "b")
    ip(netns, "link", "set", peer, "up")
    ip(netns, "link", "set", peer + "b", "up")
    ip(netns, "addr", "add", "10.78.0.2/24", "dev", peer)
    collect(twin, lambda e: isinstance(e, AddressAdded))
    w = twin.writer()
    w.add_host_route("10.79.0.1", gateway="10.78.0.1")
    ev = collect(twin, lambda e: isinstance(e, RouteAdded) and e.route.dst.prefixlen == 32)
    (mine,) = [e for e in ev if isinstance(e, RouteAdded) and e.route.dst.prefixlen == 32]
    assert mine.own and mine.route.flags >= {"gateway", "host", "static"}
    ip(netns, "route", "add", "10.79.0.2/32", "via", "10.78.0.1")
    ev = collect(twin, lambda e: isinstance(e, RouteAdded))
    assert [e.own for e in ev if isinstance(e, RouteAdded)] == [False]
    w.delete_host_route("10.79.0.1")
    ev = collect(twin, lambda e: isinstance(e, RouteRemoved))
    assert [(str(e.route.dst), e.own) for e in ev if isinstance(e, RouteRemoved)] == [
        ("10.79.0.1/32", True)]


def test_overflow_resync_equals_fresh_start(twin, netns):
    from bsdnet.routesock.netlink import NetlinkListener
    twin.start()
    # Shrink the monitor's buffer so a burst of changes overflows it.
    twin.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    peer = f"ro{suffix()}"
    ip(netns, "link", "add", peer, "type", "veth", "peer", "name", peer + "b")
    ip(netns, "link", "set", peer, "up")
    for i in range(60):
        ip(netns, "addr", "add", f"10.80.{i}.1/24", "dev", peer)
    twin.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    for _ in range(10):
        twin.poll(0.2)
    if twin.resyncs == 0:
        pytest.skip("the kernel did not overflow the small buffer")
    fresh = NetlinkListener(netns)
    try:
        fresh.start()
        assert twin.state == fresh.state
        assert len([a for a in twin.state.addrs.values() if a.address.version == 4]) == 60
    finally:
        fresh.close()
