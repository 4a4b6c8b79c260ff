"""The Linux twin: rtnetlink through pyroute2, producing the same events.

A raw NETLINK_ROUTE socket bound to the link, address and route groups is
opened first, then pyroute2's IPRoute dumps links, addresses and main-table
routes; pyroute2's marshal decodes what the monitor socket then receives.
(The raw socket, not IPRoute.get(), carries the monitor because we need
select() with a timeout and to see ENOBUFS ourselves.)  Overflow is handled
as on FreeBSD: drain, dump again, emit the difference.

Only the main table is tracked; Linux keeps local and broadcast routes in
table 255, which FreeBSD has no twin of.

With ``neighbours=True`` the IPv4 neighbour (ARP) table is followed too:
dumped with the rest, then RTM_NEWNEIGH / RTM_DELNEIGH (RTMGRP_NEIGH).
"""
from __future__ import annotations

import errno
import ipaddress
import logging
import select
import socket
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from pyroute2 import IPRoute
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from .events import Address, Event, Link, Neighbour, Route
from .netns import in_netns
from .state import HostState

if TYPE_CHECKING:
    from .writer import NetlinkWriter

LOG = logging.getLogger(__name__)

RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV4_ROUTE = 0x1, 0x10, 0x40
RTMGRP_IPV6_IFADDR, RTMGRP_IPV6_ROUTE = 0x100, 0x400
GROUPS = (RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE
          | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE)
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_DELADDR = 16, 17, 20, 21
RTM_NEWROUTE, RTM_DELROUTE = 24, 25
RTMGRP_NEIGH = 0x4
RTM_NEWNEIGH, RTM_DELNEIGH = 28, 29
# NUD_* states in which the entry's lladdr is where frames go (INCOMPLETE
# and FAILED have none worth using; NONE is a placeholder).
NUD_INCOMPLETE, NUD_FAILED, NUD_NOARP, NUD_PERMANENT = 0x01, 0x20, 0x40, 0x80
NUD_VALID = 0x02 | 0x04 | 0x08 | 0x10 | NUD_NOARP | NUD_PERMANENT
NTF_PROXY = 0x08
IFF_UP, IFF_RUNNING = 0x1, 0x40
RT_TABLE_MAIN = 254
RTM_F_CLONED = 0x200
RTN_UNICAST, RTN_LOCAL, RTN_BROADCAST, RTN_MULTICAST = 1, 2, 3, 5
RTN_BLACKHOLE, RTN_UNREACHABLE, RTN_PROHIBIT = 6, 7, 8
RTPROT_BOOT, RTPROT_STATIC = 3, 4
READ_SIZE = 1 << 18


def link_from_nl(msg: Any) -> Link | None:
    if msg.get("family", 0) != 0:
        return None    # AF_BRIDGE port notifications
    mac = msg.get("IFLA_ADDRESS")
    if mac is not None and len(mac) != 17 or mac == "00:00:00:00:00:00":
        mac = None     # loopback / tunnels: no Ethernet address, as on FreeBSD
    flags = msg.get("flags", 0)
    return Link(msg["index"], msg.get("IFLA_IFNAME") or "", bool(flags & IFF_UP),
                bool(flags & IFF_RUNNING), msg.get("IFLA_MTU") or 0, mac)


def address_from_nl(msg: Any) -> Address | None:
    ip = msg.get("IFA_LOCAL") or msg.get("IFA_ADDRESS")
    if ip is None:
        return None
    return Address(msg["index"], ipaddress.ip_interface(f"{ip}/{msg['prefixlen']}"))


def route_from_nl(msg: Any) -> Route | None:
    table = msg.get("RTA_TABLE") or msg.get("table")
    if table != RT_TABLE_MAIN or msg.get("flags", 0) & RTM_F_CLONED:
        return None
    fam = msg.get("family")
    if fam not in (socket.AF_INET, socket.AF_INET6):
        return None
    dst = msg.get("RTA_DST") or ("0.0.0.0" if fam == socket.AF_INET else "::")
    gw, oif = msg.get("RTA_GATEWAY"), msg.get("RTA_OIF") or 0
    mp = msg.get("RTA_MULTIPATH")
    if mp:
        first = mp[0]
        gw = gw or first.get("RTA_GATEWAY")
        oif = oif or first.get("oif", 0)
    net = ipaddress.ip_network(f"{dst}/{msg['dst_len']}", strict=False)
    flags = set()
    if gw:
        flags.add("gateway")
    if net.prefixlen == net.max_prefixlen:
        flags.add("host")
    if msg.get("proto") in (RTPROT_BOOT, RTPROT_STATIC):
        flags.add("static")
    rtype = msg.get("type", RTN_UNICAST)
    flags |= {RTN_BLACKHOLE: {"blackhole"}, RTN_UNREACHABLE: {"reject"},
              RTN_PROHIBIT: {"reject"}, RTN_LOCAL: {"local"},
              RTN_BROADCAST: {"broadcast"}, RTN_MULTICAST: {"multicast"}}.get(rtype, set())
    return Route(net, ipaddress.ip_address(gw) if gw else None, oif, frozenset(flags))


def neigh_from_nl(msg: Any) -> Neighbour | None:
    """An ndmsg as a Neighbour: IPv4 only (the fabric's next hops), no
    proxy entries, no bridge FDB entries (AF_BRIDGE shares the group)."""
    if msg.get("family") != socket.AF_INET or msg.get("flags", 0) & NTF_PROXY:
        return None
    dst = msg.get("NDA_DST")
    if dst is None:
        return None
    state = msg.get("state", 0)
    mac = msg.get("NDA_LLADDR")
    if not state & NUD_VALID or mac is None or len(mac) != 17:
        mac = None
    return Neighbour(msg["ifindex"], ipaddress.ip_address(dst),
                     mac.lower() if mac else None,
                     bool(state & NUD_PERMANENT))


class NetlinkListener:
    """Events from rtnetlink, in the namespace ``netns`` (None: this one);
    with ``neighbours``, also the IPv4 neighbour table's."""

    # The kernel announces every neighbour change: no polling needed.
    NEIGH_POLL_S: float | None = None

    def __init__(self, netns: str | None = None, neighbours: bool = False) -> None:
        self.netns = netns
        self.neighbours = neighbours
        self.state = HostState()
        self.resyncs = 0
        self._marshal = MarshalRtnl()
        self.own_ports: set[int] = set()
        with in_netns(netns):
            self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            self.sock.bind((0, GROUPS | (RTMGRP_NEIGH if neighbours else 0)))
            self.ipr = IPRoute()

    def fileno(self) -> int:
        """For the caller's selector: readable means poll(0) has work."""
        return self.sock.fileno()

    def writer(self) -> "NetlinkWriter":
        """A host-route writer whose changes come back marked own."""
        from .writer import NetlinkWriter
        return NetlinkWriter(self.ipr)

    # -- dumps ---------------------------------------------------------------

    def _fresh(self) -> HostState:
        fresh = HostState()
        for m in self.ipr.get_links():
            link = link_from_nl(m)
            if link:
                fresh.set_link(link)
        for m in self.ipr.get_addr():
            a = address_from_nl(m)
            if a:
                fresh.add_addr(a)
        for fam in (socket.AF_INET, socket.AF_INET6):
            for m in self.ipr.get_routes(family=fam, table=RT_TABLE_MAIN):
                r = route_from_nl(m)
                if r:
                    fresh.set_route(r)
        if self.neighbours:
            fresh.neighs = self._neighs()
        return fresh

    def _neighs(self) -> dict[tuple, Neighbour]:
        out = {}
        for m in self.ipr.get_neighbours(family=socket.AF_INET):
            n = neigh_from_nl(m)
            if n is not None:
                out[n.key] = n
        return out

    def refresh_neighbours(self) -> list[Event]:
        """Dump the neighbour table again and emit the difference."""
        if not self.neighbours:
            return []
        return self.state.replace_neighs(self._neighs())

    def start(self) -> list[Event]:
        events = self.state.replace(self._fresh())
        # Notifications of changes requested on our IPRoute carry its port
        # id (the kernel binds it on first use, so look after the dump).
        port = self.ipr.asyncore.socket.getsockname()[0]
        if port:
            self.own_ports.add(port)
        return events

    def resync(self) -> list[Event]:
        self.resyncs += 1
        self._drain()
        LOG.info("rtnetlink overflow: resync %d", self.resyncs)
        return self.state.replace(self._fresh())

    def _drain(self) -> None:
        while True:
            try:
                self.sock.recv(READ_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise

    # -- messages ------------------------------------------------------------

    def feed(self, msg: Any) -> list[Event]:
        t = msg["header"]["type"]
        own = msg["header"].get("pid", 0) in self.own_ports
        if t == RTM_NEWLINK:
            link = link_from_nl(msg)
            return self.state.set_link(link) if link else []
        if t == RTM_DELLINK:
            return self.state.remove_link(msg["index"]) if msg.get("family", 0) == 0 else []
        if t in (RTM_NEWADDR, RTM_DELADDR):
            a = address_from_nl(msg)
            if a is None:
                return []
            return self.state.add_addr(a) if t == RTM_NEWADDR else self.state.remove_addr(a)
        if t in (RTM_NEWROUTE, RTM_DELROUTE):
            r = route_from_nl(msg)
            if r is None:
                return []
            if t == RTM_NEWROUTE:
                return self.state.set_route(r, own)
            return self.state.remove_route(r, own)
        if t in (RTM_NEWNEIGH, RTM_DELNEIGH):
            n = neigh_from_nl(msg)
            if n is None or n.index not in self.state.links:
                return []
            if t == RTM_NEWNEIGH:
                return self.state.set_neigh(n)
            return self.state.remove_neigh(n)
        return []

    def feed_bytes(self, data: bytes) -> list[Event]:
        out: list[Event] = []
        for msg in self._marshal.parse(data):
            out += self.feed(msg)
        return out

    def poll(self, timeout: float | None = None) -> list[Event]:
        out: list[Event] = []
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return out
        while True:
            try:
                data = self.sock.recv(READ_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return out
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    out += self.resync()
                    continue
                raise
            out += self.feed_bytes(data)

    def events(self) -> Iterator[Event]:
        yield from self.start()
        while True:
            yield from self.poll(None)

    def close(self) -> None:
        self.sock.close()
        self.ipr.close()


def feed_all(listener: NetlinkListener, msgs: Iterable[Any]) -> list[Event]:
    out: list[Event] = []
    for m in msgs:
        out += listener.feed(m)
    return out
