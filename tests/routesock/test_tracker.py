"""Tracker and HostState rules that the listener tests do not pin down."""
from __future__ import annotations

import ipaddress

from bsdnet.routesock.encoder import encode_announce, encode_ifaddr, encode_ifinfo, encode_route
from bsdnet.routesock.events import Address, Link, LinkAdded, LinkRemoved, Route
from bsdnet.routesock.layout import CONSTANTS as C
from bsdnet.routesock.messages import SaEmpty, SaInet, SaInet6, SaLink
from bsdnet.routesock.parser import decode
from bsdnet.routesock.state import HostState
from bsdnet.routesock.tracker import Tracker

UP = C["RTF_UP"]


def feed(t, *raw):
    return t.feed_all(decode(b"".join(raw)))


def names(evs):
    return [type(e).__name__ for e in evs]


def test_own_sequence_numbers_match_once_and_only_with_our_pid():
    t = Tracker(pid=10)
    t.expect_own(5)
    add = encode_route(C["RTM_ADD"], {0: SaInet("192.0.2.1")}, flags=UP | C["RTF_HOST"], pid=10, seq=5)
    other = encode_route(C["RTM_ADD"], {0: SaInet("192.0.2.2")}, flags=UP | C["RTF_HOST"], pid=11, seq=5)
    again = encode_route(C["RTM_ADD"], {0: SaInet("192.0.2.3")}, flags=UP | C["RTF_HOST"], pid=10, seq=5)
    assert [e.own for e in feed(t, add, other, again)] == [True, False, False]


def test_rtm_get_counts_only_in_dumps_and_other_types_are_ignored():
    t = Tracker()
    get = encode_route(C["RTM_GET"], {0: SaInet("10.0.0.0"), 2: SaInet("255.0.0.0")}, flags=UP)
    miss = encode_route(C["RTM_MISS"], {0: SaInet("10.9.9.9")})
    assert feed(t, get, miss) == []
    assert names(t.load_dump([], decode(get))) == ["RouteAdded"]


def test_link_local_routes_are_per_interface():
    t = Tracker()
    r1 = encode_route(C["RTM_ADD"], {0: SaInet6("fe80::"), 1: SaLink(1, 6, "", b""),
                                     2: SaInet6("ffff:ffff:ffff:ffff::")}, flags=UP, index=1)
    r2 = encode_route(C["RTM_ADD"], {0: SaInet6("fe80::"), 1: SaLink(2, 6, "", b""),
                                     2: SaInet6("ffff:ffff:ffff:ffff::")}, flags=UP, index=2)
    assert names(feed(t, r1, r2)) == ["RouteAdded", "RouteAdded"]
    assert len(t.state.routes) == 2


def test_held_departure_is_released_by_any_other_message():
    t = Tracker()
    feed(t, encode_announce(3, "tap3", C["IFAN_ARRIVAL"]))
    evs = feed(t, encode_announce(3, "tap3", C["IFAN_DEPARTURE"]),
               encode_announce(4, "tap4", C["IFAN_ARRIVAL"]))
    assert names(evs) == ["LinkRemoved", "LinkAdded"]
    assert not t.holding_departure


def test_dump_drops_a_held_departure():
    t = Tracker()
    feed(t, encode_announce(3, "tap3", C["IFAN_ARRIVAL"]), encode_announce(3, "tap3", 1))
    assert t.holding_departure
    evs = t.load_dump([], [])
    assert names(evs) == ["LinkRemoved"] and not t.holding_departure


def test_ifinfo_without_lookup_and_carrier_rules():
    t = Tracker()
    evs = feed(t, encode_ifinfo(5, C["IFF_UP"], link_state=C["LINK_STATE_UNKNOWN"]),
               encode_ifinfo(5, C["IFF_UP"] | C["IFF_DRV_RUNNING"], link_state=C["LINK_STATE_UNKNOWN"]),
               encode_ifinfo(5, C["IFF_UP"] | C["IFF_DRV_RUNNING"], link_state=C["LINK_STATE_DOWN"]),
               encode_ifinfo(5, C["IFF_UP"] | C["IFF_DRV_RUNNING"], link_state=C["LINK_STATE_DOWN"]))
    assert names(evs) == ["LinkAdded", "LinkChanged", "LinkChanged"]
    assert [e.link.running for e in evs] == [False, True, False]


def test_address_without_netmask_is_a_host_address():
    t = Tracker()
    evs = feed(t, encode_ifaddr(C["RTM_NEWADDR"], 1, {5: SaInet("192.0.2.7")}))
    assert evs[0].addr.address == ipaddress.ip_interface("192.0.2.7/32")
    assert feed(t, encode_ifaddr(C["RTM_NEWADDR"], 1, {4: SaLink(1, 6, "x", b"")})) == []


def test_replace_orders_removals_before_additions():
    old, new = HostState(), HostState()
    old.set_link(Link(1, "a"))
    old.add_addr(Address(1, ipaddress.ip_interface("10.0.0.1/24")))
    new.set_link(Link(2, "b", up=True))
    new.set_route(Route(ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_address("10.0.0.9"), 2))
    evs = old.replace(new)
    assert names(evs) == ["AddressRemoved", "LinkRemoved", "LinkAdded", "RouteAdded"]
    assert old == new
    assert old.replace(new) == []


def test_set_link_reports_rename_and_change_separately():
    s = HostState()
    s.set_link(Link(1, "a", mtu=1500))
    evs = s.set_link(Link(1, "b", mtu=9000))
    assert names(evs) == ["LinkRenamed", "LinkChanged"]
    assert evs[1].old == Link(1, "b", mtu=1500)
    assert isinstance(s.remove_link(1)[0], LinkRemoved) and s.remove_link(1) == []
    assert s.set_link(Link(2, "c")) == [LinkAdded(Link(2, "c"))]


def test_zero_length_netmask_in_route_is_default():
    t = Tracker()
    evs = feed(t, encode_route(C["RTM_ADD"], {0: SaInet("0.0.0.0"), 1: SaInet("10.0.0.1"),
                                              2: SaEmpty()}, flags=UP | C["RTF_GATEWAY"], index=1))
    assert str(evs[0].route.dst) == "0.0.0.0/0"


def _path(rtm, gw, index):
    return encode_route(C[rtm], {0: SaInet("198.51.100.0"), 1: SaInet(gw),
                                 2: SaInet("255.255.255.0")},
                        flags=UP | C["RTF_GATEWAY"], index=index)


def test_ecmp_path_delete_keeps_the_other_paths():
    """ROUTE_MPATH (GENERIC): two paths to one destination, each added
    and deleted by its own message; one delete must not remove both."""
    t = Tracker()
    evs = feed(t, _path("RTM_ADD", "192.0.2.1", 1),
               _path("RTM_ADD", "192.0.2.2", 2))
    assert names(evs) == ["RouteAdded"]
    evs = feed(t, _path("RTM_DELETE", "192.0.2.1", 1))
    assert names(evs) == ["RouteChanged"]
    (route,) = t.state.routes.values()
    assert str(route.gateway) == "192.0.2.2" and route.index == 2
    assert feed(t, _path("RTM_DELETE", "192.0.2.1", 1)) == []
    assert names(feed(t, _path("RTM_DELETE", "192.0.2.2", 2))) == \
        ["RouteRemoved"]
    assert not t.state.routes and not t.state.paths


def test_ecmp_paths_from_a_dump_and_a_link_going():
    t = Tracker()
    evs = t.load_dump(decode(encode_ifinfo(1, UP) + encode_ifinfo(2, UP)),
                      decode(_path("RTM_GET", "192.0.2.1", 1) +
                             _path("RTM_GET", "192.0.2.2", 2)))
    assert names(evs).count("RouteAdded") == 1
    assert len(t.state.paths[next(iter(t.state.routes))]) == 2
    # The second path's interface goes: the route stays on the first.
    feed(t, encode_announce(2, "vtnet1", C["IFAN_DEPARTURE"]),
         encode_ifinfo(1, UP))
    (route,) = t.state.routes.values()
    assert route.index == 1


def test_rtm_change_replaces_every_path():
    t = Tracker()
    feed(t, _path("RTM_ADD", "192.0.2.1", 1), _path("RTM_ADD", "192.0.2.2", 2))
    evs = feed(t, _path("RTM_CHANGE", "192.0.2.9", 1))
    assert names(evs) == ["RouteChanged"]
    assert len(t.state.paths[next(iter(t.state.routes))]) == 1
