"""The same host facts, told by FreeBSD's routing socket and by rtnetlink, give the same events.

The netlink side is encoded with pyroute2's own message classes and decoded
by the twin's monitor path (feed_bytes); the FreeBSD side is real
routing-socket bytes.  No sockets are needed, so this runs everywhere.
"""
from __future__ import annotations

import pytest

from bsdnet.routesock.encoder import encode_announce, encode_ifaddr, encode_ifinfo, encode_route
from bsdnet.routesock.layout import CONSTANTS as C
from bsdnet.routesock.messages import SaInet, SaLink
from bsdnet.routesock.parser import decode
from bsdnet.routesock.tracker import Tracker

pytest.importorskip("pyroute2")
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg  # noqa: E402
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # noqa: E402
from pyroute2.netlink.rtnl.rtmsg import rtmsg  # noqa: E402
from .netlinkmsg import nl  # noqa: E402

MAC = bytes([2, 0, 0x5e, 0x10, 0x20, 0x30])


def nl_link(mtype, index, name, flags, mtu=1500):
    return nl(ifinfmsg, mtype, {"index": index, "flags": flags},
              [("IFLA_IFNAME", name), ("IFLA_MTU", mtu),
               ("IFLA_ADDRESS", ":".join(f"{b:02x}" for b in MAC))])


def nl_addr(mtype, index, ip, plen):
    return nl(ifaddrmsg, mtype, {"family": 2, "prefixlen": plen, "index": index},
              [("IFA_ADDRESS", ip), ("IFA_LOCAL", ip)])


def nl_route(mtype, dst, plen, gw, oif, proto=4):
    attrs = [("RTA_TABLE", 254), ("RTA_OIF", oif)]
    if plen:
        attrs.append(("RTA_DST", dst))
    if gw:
        attrs.append(("RTA_GATEWAY", gw))
    return nl(rtmsg, mtype, {"family": 2, "dst_len": plen, "table": 254, "proto": proto,
                             "type": 1}, attrs)


class FakeNetlink:
    """A NetlinkListener without sockets: its decoding and state only."""

    def __init__(self):
        from bsdnet.routesock import netlink
        self.lst = netlink.NetlinkListener.__new__(netlink.NetlinkListener)
        self.lst.state = netlink.HostState()
        self.lst.own_ports = set()
        self.lst._marshal = netlink.MarshalRtnl()

    def feed(self, data):
        return self.lst.feed_bytes(data)


def normal(events):
    return [e.to_dict() for e in events]


def test_same_story_same_events():
    up = C["IFF_UP"] | C["IFF_DRV_RUNNING"]
    sdl = SaLink(2, 6, "vtnet0", MAC)
    gwflags = C["RTF_UP"] | C["RTF_GATEWAY"] | C["RTF_STATIC"]
    # What NET_RT_IFLIST for index 2 answers at each step (the listener's lookup).
    iflist = [
        encode_ifinfo(2, 0, link_state=C["LINK_STATE_DOWN"], addrs={4: SaLink(2, 6, "tap0", MAC)}),
        encode_ifinfo(2, 0, link_state=C["LINK_STATE_DOWN"], addrs={4: sdl}),
    ] + [b""] * 8
    fbsd = [
        encode_announce(2, "tap0", C["IFAN_ARRIVAL"]),
        encode_announce(2, "tap0", C["IFAN_DEPARTURE"]) + encode_announce(2, "vtnet0", C["IFAN_ARRIVAL"]),
        encode_ifinfo(2, up, link_state=C["LINK_STATE_UP"], mtu=9000),
        encode_ifaddr(C["RTM_NEWADDR"], 2, {2: SaInet("255.255.255.0"), 4: sdl, 5: SaInet("10.0.0.5")}),
        encode_route(C["RTM_ADD"], {0: SaInet("0.0.0.0"), 1: SaInet("10.0.0.1"), 2: SaInet("0.0.0.0")},
                     flags=gwflags, index=2),
        encode_route(C["RTM_CHANGE"], {0: SaInet("0.0.0.0"), 1: SaInet("10.0.0.9"), 2: SaInet("0.0.0.0")},
                     flags=gwflags, index=2),
        encode_route(C["RTM_ADD"], {0: SaInet("192.0.2.7"), 1: SaInet("10.0.0.1")},
                     flags=gwflags | C["RTF_HOST"], index=2),
        encode_route(C["RTM_DELETE"], {0: SaInet("192.0.2.7")}, flags=C["RTF_HOST"], index=2),
        encode_ifaddr(C["RTM_DELADDR"], 2, {2: SaInet("255.255.255.0"), 4: sdl, 5: SaInet("10.0.0.5")}),
        encode_announce(2, "vtnet0", C["IFAN_DEPARTURE"]),
    ]
    linux = [
        nl_link(16, 2, "tap0", 0),
        nl_link(16, 2, "vtnet0", 0),
        nl_link(16, 2, "vtnet0", 0x41, mtu=9000),
        nl_addr(20, 2, "10.0.0.5", 24),
        nl_route(24, "0.0.0.0", 0, "10.0.0.1", 2),
        nl_route(24, "0.0.0.0", 0, "10.0.0.9", 2),
        nl_route(24, "192.0.2.7", 32, "10.0.0.1", 2),
        nl_route(25, "192.0.2.7", 32, "10.0.0.1", 2),
        nl_addr(21, 2, "10.0.0.5", 24),
        nl_link(17, 2, "vtnet0", 0x41, mtu=9000),
    ]
    step = [0]
    t, n = Tracker(lookup=lambda index: decode(iflist[step[0]])), FakeNetlink()
    assert len(fbsd) == len(linux)
    for i, (fb, lx) in enumerate(zip(fbsd, linux)):
        step[0] = i
        a = normal(t.feed_all(decode(fb)) + t.flush())
        b = normal(n.feed(lx))
        assert a == b, f"step {i}: FreeBSD {a} != Linux {b}"
    assert t.state == n.lst.state
    assert t.state.links == {}
