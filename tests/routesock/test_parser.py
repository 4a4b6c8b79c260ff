"""Parser edge cases: framing, sockaddr rounding, malformed input."""
from __future__ import annotations

import struct

import pytest

from bsdnet.routesock.encoder import (
    encode_announce, encode_ifaddr, encode_ifinfo, encode_route, encode_sockaddr, sa_size,
)
from bsdnet.routesock.layout import CONSTANTS as C
from bsdnet.routesock.messages import (
    IfAddrMsg, ParseError, RouteMsg, SaEmpty, SaInet, SaInet6, SaLink, SaOther, UnknownMsg,
)
from bsdnet.routesock.parser import Decoder, decode


def test_sa_size_rounding():
    assert [sa_size(n) for n in (0, 1, 7, 8, 9, 16, 28, 54)] == [8, 8, 8, 8, 16, 16, 32, 56]


def test_roundtrip_every_header_kind():
    link = SaLink(3, 6, "em0", bytes(range(6)))
    buf = (encode_route(C["RTM_CHANGE"], {0: SaInet6("2001:db8::"), 1: SaInet6("fe80::9", 3),
                                          2: SaInet6("ffff:ffff::")}, flags=3, seq=9, pid=5)
           + encode_ifaddr(C["RTM_DELADDR"], 3, {4: link, 5: SaInet("198.51.100.7")})
           + encode_ifinfo(3, 1, mtu=1280, addrs={4: link})
           + encode_announce(3, "em0", 1))
    m = decode(buf)
    assert [type(x).__name__ for x in m] == ["RouteMsg", "IfAddrMsg", "IfInfoMsg", "IfAnnounceMsg"]
    assert m[0].addrs[1] == SaInet6("fe80::9", 3) and (m[0].seq, m[0].pid) == (9, 5)
    assert m[1].addrs == {4: link, 5: SaInet("198.51.100.7")}
    assert m[2].addrs[4] == link and m[2].mtu == 1280


def test_zero_length_placeholder_keeps_following_sockaddrs_aligned():
    buf = encode_route(C["RTM_ADD"], {0: SaInet("10.0.0.0"), 1: SaEmpty(), 2: SaInet("255.0.0.0"),
                                      4: SaLink(2, 6, "vtnet0", b"")})
    m = decode(buf)[0]
    assert m.addrs[1] == SaEmpty() and m.addrs[2] == SaInet("255.0.0.0")
    assert m.addrs[4].name == "vtnet0"


def test_unknown_family_and_version_are_kept_not_fatal():
    buf = encode_route(C["RTM_ADD"], {0: SaOther(99, b"\x01\x02\x03")})
    assert decode(buf)[0].addrs[0] == SaOther(99, b"\x01\x02\x03")
    old = bytearray(encode_announce(1, "x", 0))
    old[2] = 4   # RTM_VERSION 4
    assert decode(bytes(old) + encode_announce(2, "y", 0))[0] == UnknownMsg(C["RTM_IFANNOUNCE"], 4, 24)
    assert isinstance(decode(struct.pack("<HBB", 8, 5, 0x7f) + bytes(4))[0], UnknownMsg)


@pytest.mark.parametrize("bad, why", [
    (b"\x01\x00", "trailing"),
    (struct.pack("<HBB", 2, 5, 1), "length 2"),
    (struct.pack("<HBB", 400, 5, 1) + bytes(100), "length 400"),
    (struct.pack("<HBB", 40, 5, C["RTM_ADD"]) + bytes(36), "header 152"),
])
def test_framing_errors(bad, why):
    with pytest.raises(ParseError, match=why):
        decode(bad)


def test_sockaddr_overrunning_its_message():
    buf = bytearray(encode_ifaddr(C["RTM_NEWADDR"], 1, {5: SaInet("10.0.0.1")}))
    buf[20] = 64    # sin_len beyond the message
    with pytest.raises(ParseError, match="overruns"):
        decode(bytes(buf))


def test_sockaddr_dl_name_longer_than_sdl_len():
    sdl = bytearray(encode_sockaddr(SaLink(1, 6, "em0", b"")))
    sdl[0] = 8   # sdl_len 8 but nlen 3
    hdr = bytearray(encode_ifaddr(C["RTM_NEWADDR"], 1, {}))
    msg = hdr[:4] + struct.pack("<i", 1 << 4) + hdr[8:] + sdl[:8]
    msg[0:2] = struct.pack("<H", len(msg))
    with pytest.raises(ParseError, match="sockaddr_dl"):
        decode(bytes(msg))


def test_address_bits_beyond_rtax_max_rejected():
    buf = bytearray(encode_route(C["RTM_ADD"], {0: SaInet("10.0.0.0")}))
    buf[12:16] = struct.pack("<i", 0x101)
    with pytest.raises(ParseError, match="bitmask"):
        decode(bytes(buf))


def test_memoryview_and_bytearray_inputs():
    buf = encode_announce(4, "tap0", 0)
    assert decode(bytearray(buf)) == decode(memoryview(buf)) == decode(buf)


def test_route_messages_keep_errno():
    m = decode(encode_route(C["RTM_ADD"], {0: SaInet("10.0.0.1")}, errno=17))[0]
    assert isinstance(m, RouteMsg) and m.errno == 17
    assert isinstance(Decoder("arm64").decode(encode_ifaddr(12, 1, {}))[0], IfAddrMsg)


def test_ieee80211_messages_parse_as_announcements():
    buf = bytearray(encode_announce(3, "wlan0", 2)) + bytes(8)   # + event data
    buf[3] = C["RTM_IEEE80211"]
    buf[0:2] = struct.pack("<H", len(buf))
    (m,) = decode(bytes(buf))
    assert (m.type, m.index, m.name, m.what) == (C["RTM_IEEE80211"], 3, "wlan0", 2)


def test_sockaddr_dl_longer_than_its_struct():
    # sdl_len may exceed sizeof(struct sockaddr_dl) (54): long names, long addresses.
    sdl = SaLink(9, 0xf0, "a-very-long-nam", bytes(range(40)))
    raw = encode_sockaddr(sdl)
    assert raw[0] == 8 + 15 + 40 and len(raw) == sa_size(raw[0])
    (m,) = decode(encode_ifaddr(C["RTM_NEWADDR"], 9, {4: sdl, 5: SaInet("10.0.0.1")}))
    assert m.addrs == {4: sdl, 5: SaInet("10.0.0.1")}
