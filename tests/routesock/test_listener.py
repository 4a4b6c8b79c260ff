"""The FreeBSD listener, run on Linux: a socketpair carries real routing-socket bytes."""
from __future__ import annotations

import ctypes
import errno
import ipaddress

import pytest

from bsdnet.routesock import freebsd_sys
from bsdnet.routesock.encoder import encode_announce, encode_ifinfo, encode_route
from bsdnet.routesock.events import (
    AddressAdded, AddressRemoved, LinkAdded, LinkChanged, LinkRemoved, LinkRenamed,
    RouteAdded, RouteChanged, RouteRemoved,
)
from bsdnet.routesock.layout import CONSTANTS as C
from bsdnet.routesock.listener import RouteSocketListener
from bsdnet.routesock.messages import SaInet
from bsdnet.routesock.parser import decode
from bsdnet.routesock.writer import RouteSocketWriter

from .fakekernel import FakeKernel

ARRIVAL, DEPARTURE = C["IFAN_ARRIVAL"], C["IFAN_DEPARTURE"]


@pytest.fixture
def kernel():
    k = FakeKernel()
    k.add_iface(1, "lo0", addrs=(("127.0.0.1", "255.0.0.0"),))
    k.add_iface(2, "vtnet0", addrs=(("10.0.0.5", "255.255.255.0"),))
    k.add_route("0.0.0.0", None, "10.0.0.1", 2)
    k.add_route("10.0.0.0", "255.255.255.0", None, 2, flags=C["RTF_UP"])
    yield k
    k.close()


@pytest.fixture
def listener(kernel):
    lst = RouteSocketListener(kernel.sock, kernel.dump, pid=4242, settle=0.01)
    lst.start()
    return lst


def kinds(events):
    return [type(e).__name__ for e in events]


def test_initial_dump_is_everything_added(kernel):
    lst = RouteSocketListener(kernel.sock, kernel.dump, pid=1)
    ev = lst.start()
    assert kinds(ev) == ["LinkAdded", "LinkAdded", "AddressAdded", "AddressAdded",
                         "RouteAdded", "RouteAdded"]
    assert kernel.sysctl_calls == [(C["NET_RT_IFLIST"], 0), (C["NET_RT_DUMP"], 0)]
    dflt = ev[4].route
    assert str(dflt.dst) == "0.0.0.0/0" and str(dflt.gateway) == "10.0.0.1"
    assert ev[4].ifname == "vtnet0"


def test_new_tap_is_looked_up_and_announced_once(kernel, listener):
    kernel.add_iface(7, "tap7", flags=C["IFF_BROADCAST"], link_state=C["LINK_STATE_DOWN"])
    kernel.send(encode_announce(7, "tap7", ARRIVAL))
    ev = listener.poll(5)
    assert kinds(ev) == ["LinkAdded"]
    link = ev[0].link
    assert (link.index, link.name, link.up, link.running, link.mac) == (
        7, "tap7", False, False, "02:00:00:00:00:07")
    assert (C["NET_RT_IFLIST"], 7) in kernel.sysctl_calls
    kernel.send(encode_ifinfo(7, C["IFF_UP"] | C["IFF_DRV_RUNNING"], link_state=2, mtu=9000))
    ev = listener.poll(5)
    assert kinds(ev) == ["LinkChanged"]
    assert ev[0].link.up and ev[0].link.running and ev[0].link.mtu == 9000
    assert ev[0].link.mac == "02:00:00:00:00:07"      # kept: IFINFO carries none


def test_rename_is_one_event(listener, kernel):
    kernel.send(encode_announce(2, "vtnet0", DEPARTURE), encode_announce(2, "fabric0", ARRIVAL))
    kernel.add_iface(2, "fabric0", addrs=(("10.0.0.5", "255.255.255.0"),))
    ev = listener.poll(5)
    assert kinds(ev) == ["LinkRenamed"]
    assert (ev[0].old_name, ev[0].link.name) == ("vtnet0", "fabric0")


def test_departure_alone_removes_link_and_what_was_on_it(listener, kernel):
    kernel.send(encode_announce(2, "vtnet0", DEPARTURE))
    ev = listener.poll(5)
    assert kinds(ev) == ["AddressRemoved", "RouteRemoved", "RouteRemoved", "LinkRemoved"]
    assert 2 not in listener.state.links


def test_route_add_change_delete_and_duplicates(listener, kernel):
    add = encode_route(C["RTM_ADD"], {0: SaInet("192.0.2.9")}, index=2,
                       flags=C["RTF_UP"] | C["RTF_HOST"] | C["RTF_STATIC"], pid=77, seq=1)
    dflt = encode_route(C["RTM_CHANGE"], {0: SaInet("0.0.0.0"), 1: SaInet("10.0.0.254"),
                                          2: SaInet("0.0.0.0")}, index=2,
                        flags=C["RTF_UP"] | C["RTF_GATEWAY"] | C["RTF_STATIC"], pid=77, seq=2)
    dele = encode_route(C["RTM_DELETE"], {0: SaInet("192.0.2.9")}, index=2,
                        flags=C["RTF_UP"] | C["RTF_HOST"], pid=77, seq=3)
    failed = encode_route(C["RTM_ADD"], {0: SaInet("198.51.100.1")}, flags=C["RTF_HOST"], errno=17)
    kernel.send(add, add, dflt, dele, dele, failed)
    ev = listener.poll(5)
    assert kinds(ev) == ["RouteAdded", "RouteChanged", "RouteRemoved"]
    assert ev[0].route.flags == {"host", "static"} and not ev[0].own
    assert ev[1].route.gateway == ipaddress.ip_address("10.0.0.254")
    assert ev[1].old.gateway == ipaddress.ip_address("10.0.0.1")


def test_addresses(listener, kernel):
    from bsdnet.routesock.encoder import encode_ifaddr
    new = encode_ifaddr(C["RTM_NEWADDR"], 2, {2: SaInet("255.255.0.0"), 5: SaInet("172.16.0.1")})
    gone = encode_ifaddr(C["RTM_DELADDR"], 2, {2: SaInet("255.255.255.0"), 5: SaInet("10.0.0.5")})
    kernel.send(new, gone)
    ev = listener.poll(5)
    assert kinds(ev) == ["AddressAdded", "AddressRemoved"]
    assert str(ev[0].addr.address) == "172.16.0.1/16" and ev[0].ifname == "vtnet0"


def test_own_requests_are_recognised(listener, kernel):
    w = listener.writer()
    assert isinstance(w, RouteSocketWriter) and listener.fileno() == kernel.sock.fileno()
    w.add_host_route("192.0.2.50", gateway="10.0.0.1")
    req = kernel.recv()
    (m,) = decode(req)
    assert (m.type, m.pid) == (C["RTM_ADD"], 4242)
    assert m.flags & C["RTF_HOST"] and m.flags & C["RTF_GATEWAY"]
    assert m.addrs == {0: SaInet("192.0.2.50"), 1: SaInet("10.0.0.1")}
    # The kernel echoes the request to every routing socket, ours included.
    kernel.send(req)
    foreign = encode_route(C["RTM_ADD"], {0: SaInet("192.0.2.51"), 1: SaInet("10.0.0.1")},
                           flags=m.flags, pid=999, seq=m.seq)
    kernel.send(foreign)
    ev = listener.poll(5)
    assert [(type(e).__name__, e.own) for e in ev] == [("RouteAdded", True), ("RouteAdded", False)]
    w.delete_host_route("192.0.2.50")
    req = kernel.recv()
    kernel.send(req)
    ev = listener.poll(5)
    assert [(type(e).__name__, e.own) for e in ev] == [("RouteRemoved", True)]


def test_interface_host_route_request():
    from bsdnet.routesock.writer import host_route_request
    (m,) = decode(host_route_request(C["RTM_ADD"], "192.0.2.1", None, 5, seq=1, pid=1))
    assert m.addrs[1].index == 5 and not m.flags & C["RTF_GATEWAY"]
    with pytest.raises(ValueError):
        host_route_request(C["RTM_ADD"], "192.0.2.1", None, None, seq=1, pid=1)


def test_enobufs_resync_equals_fresh_start(listener, kernel):
    # Changes happen whose messages the kernel drops (overflow) ...
    del kernel.ifaces[2]
    del kernel.routes["0.0.0.0"], kernel.routes["10.0.0.0"]
    kernel.add_iface(3, "em0", addrs=(("10.1.0.2", "255.255.0.0"),))
    kernel.add_route("0.0.0.0", None, "10.1.0.1", 3)
    # ... a stale message still queued that would undo the dump if replayed ...
    kernel.send(encode_route(C["RTM_ADD"], {0: SaInet("10.0.0.0"), 2: SaInet("255.255.255.0")},
                             index=2, flags=C["RTF_UP"]))
    kernel.sock.overflow()
    ev = listener.poll(5)
    assert listener.resyncs == 1
    fresh = RouteSocketListener(kernel.sock, kernel.dump, pid=4242)
    fresh.start()
    assert listener.state == fresh.state
    assert kinds(ev) == ["RouteRemoved", "AddressRemoved", "RouteRemoved", "LinkRemoved",
                         "LinkAdded", "AddressAdded", "RouteAdded"]
    assert ev[-1].route.gateway == ipaddress.ip_address("10.1.0.1")


def test_resync_with_nothing_changed_is_silent(listener, kernel):
    # The pending error makes the socket readable; a queued message stands in.
    kernel.send(encode_announce(2, "vtnet0", ARRIVAL))
    kernel.sock.overflow(2)
    assert listener.poll(5) == []
    assert listener.resyncs >= 1


def test_garbage_on_the_socket_is_counted_not_fatal(listener, kernel):
    kernel.send(b"\xff\xff\x05\x01garbage", encode_announce(9, "tap9", DEPARTURE))
    assert listener.poll(5) == []
    assert listener.parse_errors == 1


class FakeLibc:
    """sysctl(3) whose answer grows between the size probe and the read."""

    def __init__(self, data: bytes, grow_once: bytes) -> None:
        self.data, self.grow, self.calls = data, grow_once, 0

    def sysctl(self, mib, n, buf, sizep, new, newlen):
        self.calls += 1
        size = sizep._obj
        if buf is None:
            size.value = len(self.data)
            return 0
        if self.grow:
            self.data, self.grow = self.data + self.grow, b""
        if size.value < len(self.data):
            ctypes.set_errno(errno.ENOMEM)
            return -1
        ctypes.memmove(buf, self.data, len(self.data))
        size.value = len(self.data)
        return 0


def test_sysctl_retries_when_the_table_grows():
    libc = FakeLibc(b"a" * 100, b"b" * 5000)
    assert freebsd_sys.sysctl([4, 17, 0, 0, 3, 0], libc=libc) == b"a" * 100 + b"b" * 5000
    assert libc.calls == 4


def test_sysctl_error_is_oserror():
    class Failing:
        def sysctl(self, *a):
            ctypes.set_errno(errno.EPERM)
            return -1
    with pytest.raises(OSError) as ei:
        freebsd_sys.sysctl([4, 17], libc=Failing())
    assert ei.value.errno == errno.EPERM


def test_events_iterator_starts_with_the_dump(kernel):
    lst = RouteSocketListener(kernel.sock, kernel.dump, pid=1)
    it = lst.events()
    assert isinstance(next(it), LinkAdded)
    assert all(isinstance(e, (LinkAdded, LinkChanged, LinkRenamed, LinkRemoved, AddressAdded,
                              AddressRemoved, RouteAdded, RouteChanged, RouteRemoved))
               for e in [next(it) for _ in range(5)])
