"""Whatever the bytes, the parser returns messages or raises ParseError, in bounded work."""
from __future__ import annotations

import socket
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bsdnet.routesock.encoder import encode_announce, encode_ifaddr, encode_ifinfo, encode_route
from bsdnet.routesock.layout import CONSTANTS as C
from bsdnet.routesock.messages import ParseError, SaEmpty, SaInet, SaInet6, SaLink
from bsdnet.routesock.parser import Decoder
from bsdnet.routesock.tracker import Tracker

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])
DEC = {a: Decoder(a) for a in ("amd64", "arm64")}

ipv4 = st.ip_addresses(v=4).map(str)
# inet_ntop spelling, as the parser reports addresses
ipv6 = st.ip_addresses(v=6).map(lambda a: socket.inet_ntop(socket.AF_INET6, a.packed))
sockaddr = st.one_of(
    ipv4.map(SaInet),
    st.builds(SaInet6, ipv6.filter(lambda a: not a.startswith(("fe8", "fe9", "fea", "feb", "ff"))),
              st.integers(0, 2**32 - 1)),
    st.builds(SaLink, st.integers(0, 65535), st.integers(0, 255),
              st.text("abcdefgh0123", max_size=15), st.binary(max_size=8)),
    st.just(SaEmpty()),
)
addrs = st.dictionaries(st.integers(0, 7).filter(lambda k: k not in (2, 3)), sockaddr, max_size=6)


@st.composite
def messages(draw):
    kind = draw(st.sampled_from(["route", "ifa", "ifinfo", "announce"]))
    if kind == "route":
        return encode_route(draw(st.sampled_from([1, 2, 3, 4])), draw(addrs),
                            flags=draw(st.integers(0, 2**31 - 1)), index=draw(st.integers(0, 65535)),
                            pid=draw(st.integers(0, 2**31 - 1)), seq=draw(st.integers(0, 2**31 - 1)),
                            round_to=draw(st.sampled_from([0, 8])))
    if kind == "ifa":
        return encode_ifaddr(draw(st.sampled_from([12, 13])), draw(st.integers(0, 65535)), draw(addrs))
    if kind == "ifinfo":
        return encode_ifinfo(draw(st.integers(0, 65535)), draw(st.integers(0, 2**31 - 1)),
                             mtu=draw(st.integers(0, 2**32 - 1)), link_state=draw(st.integers(0, 2)))
    return encode_announce(draw(st.integers(0, 65535)), draw(st.text("abc0", max_size=15)),
                           draw(st.integers(0, 1)))


def check(buf: bytes) -> None:
    for dec in DEC.values():
        try:
            msgs = dec.decode(buf)
        except ParseError:
            continue
        # Bounded output: every message takes at least 4 bytes, at most 8 sockaddrs.
        assert len(msgs) <= len(buf) // 4
        assert all(len(getattr(m, "addrs", {})) <= 8 for m in msgs)
        t = Tracker()
        t.feed_all(msgs)
        t.flush()
        t.load_dump(msgs, msgs)


@SETTINGS
@given(st.binary(max_size=2048))
def test_random_bytes(buf):
    check(buf)


@SETTINGS
@given(st.lists(messages(), min_size=1, max_size=6), st.data())
def test_mutated_valid_streams(msgs, data):
    buf = bytearray(b"".join(msgs))
    for _ in range(data.draw(st.integers(0, 6))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        buf = buf[:data.draw(st.integers(0, len(buf)))]
    check(bytes(buf))


@SETTINGS
@given(st.lists(messages(), min_size=1, max_size=6))
def test_valid_streams_roundtrip(msgs):
    out = DEC["amd64"].decode(b"".join(msgs))
    assert len(out) == len(msgs)
    assert DEC["arm64"].decode(b"".join(msgs)) == out


@SETTINGS
@given(addrs, st.integers(0, 2**31 - 1))
def test_route_sockaddrs_roundtrip(a, seq):
    (m,) = DEC["amd64"].decode(encode_route(C["RTM_ADD"], a, seq=seq))
    assert m.seq == seq and m.addrs == a


def test_huge_declared_lengths_do_not_allocate():
    buf = struct.pack("<HBB", 0xFFFF, 5, 1) + bytes(60)
    try:
        DEC["amd64"].decode(buf)
    except ParseError:
        pass
    else:
        raise AssertionError("a message longer than its buffer was accepted")
