"""The agent's Watcher over the FreeBSD listener: routing-socket bytes
(c/llinfo.c) and the ARP dump decide the off-link peers' MAC, and an
lltable event or a re-dump moves it."""
from __future__ import annotations

import pytest

from bsdnet.agent import hostevents
from bsdnet.routesock.listener import RouteSocketListener

from .fakes import MAC1, MAC2, ArpKernel, FakeAgent, FakeUdp, nexthops

OFFLINK, ONLINK = "198.51.100.9", "10.0.0.9"


@pytest.fixture
def bsd(arp_images, monkeypatch):
    arch, img = arp_images
    k = ArpKernel(img["arpdump"])
    k.add_iface(2, "vtnet0", addrs=(("10.0.0.5", "255.255.255.0"),))
    k.add_route("0.0.0.0", None, "10.0.0.1", 2)
    monkeypatch.setattr(hostevents, "open_listener", lambda neighbours:
                        RouteSocketListener(k.sock, k.dump, arch=arch, pid=1,
                                            settle=0.01, neighbours=neighbours))
    agent = FakeAgent()
    w = hostevents.Watcher(agent, "vtnet0")
    assert w._refresh_every == RouteSocketListener.NEIGH_POLL_S
    with w._lock:
        w.watcher.start(w.listener)
    w._deliver()
    w._udp = FakeUdp()
    yield k, img, w, agent
    k.close()


def test_gateway_from_the_arp_dump_then_an_lltable_event(bsd):
    k, img, w, agent = bsd
    assert w.resolve(OFFLINK)[:2] == (MAC1, False)
    # 10.0.0.9 is in the table but unresolved: unknown, solicited.
    assert w.resolve(ONLINK)[:2] == (None, True)
    assert w._udp.sent == [ONLINK]
    agent.calls.clear()
    k.send(img["lle_add"])
    w.pump(5)
    assert None in nexthops(agent)
    assert w.resolve(OFFLINK)[0] == MAC2


def test_expiry_keeps_the_mac_and_a_redump_brings_the_table_back(bsd):
    k, img, w, agent = bsd
    k.send(img["lle_add"])
    w.pump(5)
    k.send(img["lle_delete"])
    w.pump(5)
    assert w.watcher.neighbour("10.0.0.1") is None
    assert w.resolve(OFFLINK)[0] == MAC2          # learnt, kept
    agent.calls.clear()
    w._refresh_every, w._next_refresh = 0.0, 0.0   # a re-dump due now
    w.pump(0)
    assert w.watcher.neighbour("10.0.0.1") == MAC1
    assert None in nexthops(agent)
    assert w.resolve(OFFLINK)[0] == MAC1


def test_fabric_named_by_the_topology_is_followed(arp_images, monkeypatch):
    """[fabric] interface unset, the topology names vtnet1: its address
    and neighbours are followed from then on, as the configured one's."""
    arch, img = arp_images
    k = ArpKernel(img["arpdump"])
    k.add_iface(2, "vtnet0", addrs=(("10.0.0.5", "255.255.255.0"),))
    k.add_iface(3, "vtnet1", addrs=(("192.0.2.5", "255.255.255.0"),))
    k.add_route("0.0.0.0", None, "10.0.0.1", 2)
    monkeypatch.setattr(hostevents, "open_listener", lambda neighbours:
                        RouteSocketListener(k.sock, k.dump, arch=arch, pid=1,
                                            settle=0.01, neighbours=neighbours))
    agent = FakeAgent()
    w = hostevents.Watcher(agent, None)
    try:
        with w._lock:
            w.watcher.start(w.listener)
        w._deliver()
        assert w.watcher.fabric is None
        agent.calls.clear()
        w.follow(set(), fabric="vtnet1")
        w._deliver()
        fab = w.watcher.fabric
        assert fab is not None and fab.ifname == "vtnet1"
        assert str(fab.address.ip) == "192.0.2.5"
        assert ("address", "192.0.2.5") in agent.calls
    finally:
        k.close()
