"""Which MAC a TUNNEL nexthop gets: the static options, the peer's own
neighbour entry on the fabric's subnet, the default route's gateway's
otherwise; recorded host events through the agent's Watcher."""
from __future__ import annotations

import ipaddress
import logging

import pytest

from bsdnet.agent import hostevents, model
from bsdnet.agent.portstore import Route, RoutePath
from bsdnet.routesock.events import (
    Address, AddressAdded, Link, LinkAdded, Neighbour, NeighbourAdded,
    NeighbourChanged, NeighbourRemoved, Route as HostRoute, RouteAdded,
    RouteChanged, RouteRemoved,
)

from .fakes import FakeAgent, FakeUdp, nexthops

IP = ipaddress.ip_address
DFLT = ipaddress.ip_network("0.0.0.0/0")
GW, GW2 = IP("192.0.2.254"), IP("192.0.2.253")
ONLINK, OFFLINK = "192.0.2.7", "198.51.100.9"
GWMAC, GWMAC2, PEERMAC = ("02:00:00:00:fe:01", "02:00:00:00:fe:02",
                          "02:00:00:00:07:01")


def host(mac, onlink, what="host"):
    return lambda node: (mac, onlink, what)


@pytest.mark.parametrize("neighbors,nexthop_mac,resolved,want", [
    # [fabric] neighbors beats everything
    ({ONLINK: "02:aa:00:00:00:01"}, "02:bb:00:00:00:01",
     (PEERMAC, True), "02:aa:00:00:00:01"),
    # on the subnet: the peer's entry beats nexthop_mac ...
    ({}, "02:bb:00:00:00:01", (PEERMAC, True), PEERMAC),
    # ... which is the fallback while it is unresolved
    ({}, "02:bb:00:00:00:01", (None, True), "02:bb:00:00:00:01"),
    # off the subnet: nexthop_mac beats the gateway's entry
    ({}, "02:bb:00:00:00:01", (GWMAC, False), "02:bb:00:00:00:01"),
    ({}, "", (GWMAC, False), GWMAC),
    ({}, "", (None, False), None),
])
def test_peer_mac_precedence(neighbors, nexthop_mac, resolved, want):
    mac, _ = model.peer_mac(ONLINK, neighbors, nexthop_mac, host(*resolved))
    assert mac == want


def test_without_the_host_the_static_options_as_before():
    assert model.peer_mac(ONLINK, {}, "02:bb:00:00:00:01")[0] == \
        "02:bb:00:00:00:01"
    assert model.peer_mac(ONLINK, {}, "")[0] is None


def test_unknown_mac_leaves_the_path_out_and_says_why(caplog):
    route = Route(network="n", prefix="10.9.0.0/24",
                  paths=(RoutePath(ONLINK, 20), RoutePath(OFFLINK, 21)))
    resolve = {ONLINK: (None, True, "neighbour entry of 192.0.2.7 on fab0"),
               OFFLINK: (GWMAC, False, "gw")}.__getitem__
    with caplog.at_level(logging.WARNING, logger="bsdnet.agent.model"):
        out = model.route_members(route, {}, "", resolve)
    assert [(m["node"], m["node_mac"]) for m in out] == [(OFFLINK, GWMAC)]
    assert "no fabric MAC for node 192.0.2.7 (neighbour entry of " \
        "192.0.2.7 on fab0" in caplog.text


# -- the agent's Watcher over recorded events ------------------------------------


class FakeListener:
    neighbours = True
    NEIGH_POLL_S = None

    def __init__(self, events):
        self.events = events
        self.queued = []
        self.arp = []

    def start(self):
        return self.events

    def poll(self, timeout):
        out, self.queued = self.queued, []
        return out

    def refresh_neighbours(self):
        out, self.arp = self.arp, []
        return out

    def close(self):
        pass


@pytest.fixture
def watcher(monkeypatch):
    boot = [LinkAdded(Link(2, "fab0", True, True)),
            AddressAdded(Address(2, ipaddress.ip_interface("192.0.2.1/24"))),
            RouteAdded(HostRoute(DFLT, GW, 2, frozenset({"gateway"}))),
            NeighbourAdded(Neighbour(2, GW, GWMAC))]
    monkeypatch.setattr(hostevents, "open_listener",
                        lambda neighbours: FakeListener(boot))
    agent = FakeAgent()
    w = hostevents.Watcher(agent, "fab0")
    with w._lock:
        w.watcher.start(w.listener)
    w._deliver()
    w._udp = FakeUdp()
    return w, agent


def feed(w, *events):
    w.handle(list(events))


def test_start_reports_address_and_gateway(watcher):
    w, agent = watcher
    # (the gateway's own entry is also reported as a neighbour's; the
    # agent ignores neighbours that are no route's node)
    assert agent.calls == [("nexthop", str(GW)), ("address", "192.0.2.1"),
                           ("nexthop", None)]
    assert w.resolve(OFFLINK)[:2] == (GWMAC, False)
    # On the subnet, without an entry: unknown, and solicited once.
    assert w.resolve(ONLINK)[:2] == (None, True)
    assert w.resolve(ONLINK)[:2] == (None, True)
    assert w._udp.sent == [ONLINK]


def test_gateway_mac_and_default_route_changes_reach_the_agent(watcher):
    w, agent = watcher
    agent.calls.clear()
    feed(w, NeighbourChanged(Neighbour(2, GW, GWMAC2), Neighbour(2, GW, GWMAC)))
    assert ("nexthop", None) in agent.calls
    assert w.resolve(OFFLINK)[0] == GWMAC2
    agent.calls.clear()
    # A new gateway not resolved yet: said, solicited, then learnt.
    feed(w, RouteChanged(HostRoute(DFLT, GW2, 2), HostRoute(DFLT, GW, 2)))
    assert nexthops(agent) == [None]
    assert w.resolve(OFFLINK)[0] is None and w._udp.sent == [str(GW2)]
    agent.calls.clear()
    feed(w, NeighbourAdded(Neighbour(2, GW2, GWMAC)))
    assert ("nexthop", None) in agent.calls
    assert w.resolve(OFFLINK)[0] == GWMAC
    agent.calls.clear()
    feed(w, RouteRemoved(HostRoute(DFLT, GW2, 2)))
    assert nexthops(agent) == [None]
    assert w.resolve(OFFLINK)[:2] == (None, False)
    assert w.resolve(ONLINK)[1] is True      # on-link peers do not care


def test_a_mac_once_learnt_outlives_its_entry(watcher):
    w, agent = watcher
    feed(w, NeighbourAdded(Neighbour(2, IP(ONLINK), PEERMAC)))
    assert agent.calls[-1] == ("nexthop", ONLINK)
    agent.calls.clear()
    feed(w, NeighbourChanged(Neighbour(2, IP(ONLINK), None),
                             Neighbour(2, IP(ONLINK), PEERMAC)),
         NeighbourRemoved(Neighbour(2, GW, GWMAC)))
    assert w.resolve(ONLINK)[0] == PEERMAC
    assert w.resolve(OFFLINK)[0] == GWMAC
    assert w._udp.sent == []
    # Nothing to rewrite for an entry that only aged out ...
    assert ("nexthop", ONLINK) not in agent.calls
    # ... but a new MAC is news.
    feed(w, NeighbourAdded(Neighbour(2, IP(ONLINK), "02:00:00:00:07:02")))
    assert agent.calls[-1] == ("nexthop", ONLINK)
    assert w.resolve(ONLINK)[0] == "02:00:00:00:07:02"


def test_gateway_off_the_fabric_is_not_used(watcher):
    w, agent = watcher
    feed(w, LinkAdded(Link(3, "mgmt0", True, True)),
         RouteChanged(HostRoute(DFLT, IP("203.0.113.1"), 3),
                      HostRoute(DFLT, GW, 2)))
    mac, onlink, why = w.resolve(OFFLINK)
    assert mac is None and "not on fab0" in why


def test_pump_applies_socket_events_and_due_arp_redumps(watcher):
    w, agent = watcher
    agent.calls.clear()
    w.listener.queued = [NeighbourAdded(Neighbour(2, IP(ONLINK), PEERMAC))]
    w.listener.arp = [NeighbourChanged(Neighbour(2, GW, GWMAC2),
                                       Neighbour(2, GW, GWMAC))]
    w.pump(0)
    assert nexthops(agent) == [ONLINK]       # no re-dump: Linux-style
    assert w.resolve(OFFLINK)[0] == GWMAC
    # FreeBSD-style: a re-dump is due at every turn with a zero period.
    w._refresh_every, w._next_refresh = 0.0, 0.0
    w.pump(0)
    assert None in nexthops(agent)
    assert w.resolve(OFFLINK)[0] == GWMAC2
