"""Real FreeBSD message bytes (C initialisers over FreeBSD's structs) through the parser."""
from __future__ import annotations

import ipaddress

from bsdnet.routesock.events import Link
from bsdnet.routesock.layout import CONSTANTS as C
from bsdnet.routesock.messages import (
    IfAddrMsg, IfAnnounceMsg, IfInfoMsg, IfMaddrMsg, RouteMsg, SaEmpty,
    SaInet, SaInet6, SaLink,
)
from bsdnet.routesock.parser import Decoder
from bsdnet.routesock.tracker import Tracker, route_from_rtm

MAC0 = bytes([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30])


def one(fbsd, name):
    arch, imgs = fbsd
    msgs = Decoder(arch).decode(imgs[name])
    assert len(msgs) == 1, msgs
    return msgs[0]


def test_rtm_add_with_gateway_and_metrics(fbsd):
    m = one(fbsd, "rtm_add")
    assert isinstance(m, RouteMsg)
    assert (m.type, m.index, m.pid, m.seq, m.errno, m.mtu) == (C["RTM_ADD"], 1, 4242, 7, 0, 1500)
    assert m.addrs == {0: SaInet("10.1.0.0"), 1: SaInet("192.0.2.1"), 2: SaInet("255.255.0.0")}
    r = route_from_rtm(m)
    assert str(r.dst) == "10.1.0.0/16" and str(r.gateway) == "192.0.2.1"
    assert r.flags == {"gateway", "static"}


def test_default_route_with_zero_length_netmask(fbsd):
    m = one(fbsd, "rtm_default")
    assert m.addrs[2] == SaInet("0.0.0.0")    # placeholder read as the dst's family
    assert str(route_from_rtm(m).dst) == "0.0.0.0/0"


def test_trimmed_netmask_is_zero_filled(fbsd):
    m = one(fbsd, "rtm_delete")
    assert m.type == C["RTM_DELETE"]
    assert m.addrs[2] == SaInet("255.240.0.0")
    assert str(route_from_rtm(m).dst) == "172.16.0.0/12"


def test_interface_route_has_link_gateway(fbsd):
    m = one(fbsd, "rtm_iface")
    assert m.addrs[1] == SaLink(2, C["IFT_ETHER"], "", b"")
    r = route_from_rtm(m)
    assert r.gateway is None and r.index == 2 and str(r.dst) == "10.0.0.0/24"
    assert r.flags == frozenset()


def test_inet6_route_with_embedded_scope(fbsd):
    m = one(fbsd, "rtm_inet6")
    assert m.addrs[0] == SaInet6("fd00:1::")
    assert m.addrs[1] == SaInet6("fe80::1", 2)      # scope moved out of the address
    assert m.addrs[2] == SaInet6("ffff:ffff:ffff:ffff::")
    r = route_from_rtm(m)
    assert str(r.dst) == "fd00:1::/64" and r.gateway == ipaddress.ip_address("fe80::1")


def test_ifinfo(fbsd):
    m = one(fbsd, "ifinfo")
    assert isinstance(m, IfInfoMsg)
    assert (m.index, m.mtu, m.link_state, m.iftype) == (2, 9000, C["LINK_STATE_UP"], C["IFT_ETHER"])
    assert m.flags & C["IFF_UP"] and m.flags & C["IFF_DRV_RUNNING"]
    assert m.addrs == {}


def test_announce(fbsd):
    a, d = one(fbsd, "arrival"), one(fbsd, "departure")
    assert a == IfAnnounceMsg(C["RTM_IFANNOUNCE"], 7, "tap7", C["IFAN_ARRIVAL"])
    assert d == IfAnnounceMsg(C["RTM_IFANNOUNCE"], 7, "tap7", C["IFAN_DEPARTURE"])


def test_newaddr_sockaddrs_follow_a_20_byte_header(fbsd):
    m = one(fbsd, "newaddr")
    assert isinstance(m, IfAddrMsg) and m.index == 2
    assert m.addrs == {2: SaInet("255.255.255.0"), 4: SaLink(2, C["IFT_ETHER"], "vtnet0", MAC0),
                       5: SaInet("10.0.0.5"), 7: SaInet("10.0.0.255")}


def test_newmaddr(fbsd):
    m = one(fbsd, "newmaddr")
    assert isinstance(m, IfMaddrMsg)
    assert m.addrs == {5: SaInet("224.0.0.1"), 4: SaLink(2, C["IFT_ETHER"], "vtnet0", MAC0)}


def test_sysctl_dumps_rounded_to_8(fbsd):
    arch, imgs = fbsd
    dec = Decoder(arch)
    iflist, routes = dec.decode(imgs["iflist"]), dec.decode(imgs["rtdump"])
    assert [type(m) for m in iflist] == [IfInfoMsg, IfAddrMsg, IfInfoMsg, IfAddrMsg, IfAddrMsg]
    assert [m.type for m in routes] == [C["RTM_GET"]] * 2
    t = Tracker()
    t.load_dump(iflist, routes)
    st = t.state
    assert st.links == {
        1: Link(1, "lo0", True, True, 16384, None),
        2: Link(2, "vtnet0", True, False, 1500, "02:00:5e:10:20:30"),
    }
    assert {str(a.address) for a in st.addrs.values()} == {
        "127.0.0.1/8", "10.0.0.5/24", "fe80::5eff:fe10:2030/64"}
    assert {str(r.dst): (str(r.gateway), r.index) for r in st.routes.values()} == {
        "0.0.0.0/0": ("10.0.0.1", 2), "10.0.0.0/24": ("None", 2)}


def test_all_images_in_one_read(fbsd):
    # A read (or a saved file) may carry several messages back to back.
    arch, imgs = fbsd
    names = ["rtm_add", "newaddr", "arrival", "ifinfo", "rtm_inet6", "newmaddr", "departure"]
    msgs = Decoder(arch).decode(b"".join(imgs[n] for n in names))
    assert len(msgs) == len(names)
    assert isinstance(msgs[1], IfAddrMsg) and isinstance(msgs[6], IfAnnounceMsg)


def test_absent_slots_are_absent(fbsd):
    arch, imgs = fbsd
    m = Decoder(arch).decode(imgs["rtm_add"])[0]
    assert 3 not in m.addrs and not any(isinstance(v, SaEmpty) for v in m.addrs.values())
