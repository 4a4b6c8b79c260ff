"""Turn FreeBSD routing-socket messages into HostState changes and events.

What the kernel says, and what we make of it:
- RTM_IFANNOUNCE ARRIVAL: a new interface.  The announcement carries only
  index and name, so ``lookup`` (a NET_RT_IFLIST sysctl for that index in
  the listener) fills in flags, MTU, MAC and addresses.
- RTM_IFANNOUNCE DEPARTURE: held back until the next message, because a
  rename (SIOCSIFNAME) is announced as DEPARTURE(old) + ARRIVAL(new) with
  the same index.  ``flush()`` releases it when the socket goes quiet.
- RTM_IFINFO: flags (IFF_UP, IFF_DRV_RUNNING), link state, MTU.
- RTM_NEWADDR / RTM_DELADDR: addresses; RTM_ADD / RTM_CHANGE / RTM_DELETE
  (and RTM_GET in a NET_RT_DUMP): routes.
- The same messages with RTF_LLINFO (RTF_LLDATA) are link-layer entries,
  not routes: a sockaddr_in DST and a sockaddr_dl GATEWAY whose address is
  the neighbour's MAC (sdl_alen 0 while unresolved).  They come from the
  ARP dump (NET_RT_FLAGS, RTF_LLINFO: RTM_GET each, in_lltable_dump_entry)
  and from lltable events on the socket (RTM_ADD resolved, RTM_DELETE
  expired); only IPv4 ones are kept.
"""
from __future__ import annotations

import functools
import ipaddress
import logging
import os
from typing import Callable, Iterable

from .events import Address, Event, Link, Neighbour, Route
from .layout import CONSTANTS as C
from .messages import (
    RTAX_DST, RTAX_GATEWAY, RTAX_IFA, RTAX_IFP, RTAX_NETMASK, IfAddrMsg,
    IfAnnounceMsg, IfInfoMsg, Message, RouteMsg, SaInet, SaInet6, SaLink,
    Sockaddr,
)
from .state import HostState

LOG = logging.getLogger(__name__)

_RTF_NAMES = (("RTF_GATEWAY", "gateway"), ("RTF_HOST", "host"),
              ("RTF_STATIC", "static"), ("RTF_REJECT", "reject"),
              ("RTF_BLACKHOLE", "blackhole"), ("RTF_LOCAL", "local"),
              ("RTF_BROADCAST", "broadcast"), ("RTF_MULTICAST", "multicast"))
_RTF = tuple((C[c], n) for c, n in _RTF_NAMES)


@functools.lru_cache(maxsize=4096)
def route_flags(rtf: int) -> frozenset[str]:
    """RTF_* bits -> the normalised flag names of events.ROUTE_FLAGS."""
    return frozenset(n for bit, n in _RTF if rtf & bit)


def _mac(sdl: Sockaddr | None) -> str | None:
    if isinstance(sdl, SaLink) and sdl.lladdr:
        return ":".join(f"{b:02x}" for b in sdl.lladdr)
    return None


# A dump of a big table builds the same addresses and networks over and
# over; ipaddress objects are immutable, so share them.
_ip_cached = functools.lru_cache(maxsize=1 << 16)(ipaddress.ip_address)


@functools.lru_cache(maxsize=1 << 16)
def _network(ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
             plen: int) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network((ip, plen), strict=False)


def _ip(sa: Sockaddr | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if isinstance(sa, (SaInet, SaInet6)):
        return _ip_cached(sa.addr)
    return None


def _prefixlen(mask: Sockaddr | None, bits: int) -> int:
    """Leading one bits of a netmask; a missing netmask means a host (full) prefix."""
    if not isinstance(mask, (SaInet, SaInet6)):
        return bits
    return _mask_len(mask.addr, bits)


@functools.lru_cache(maxsize=1024)
def _mask_len(mask: str, bits: int) -> int:
    v = int(ipaddress.ip_address(mask))
    n = 0
    while n < bits and v & (1 << (bits - 1 - n)):
        n += 1
    return n


def link_from_ifinfo(msg: IfInfoMsg, old: Link | None, name: str = "") -> Link:
    sdl = msg.addrs.get(RTAX_IFP)
    if isinstance(sdl, SaLink) and sdl.name:
        name = sdl.name
    elif not name:
        name = old.name if old else ""
    mac = _mac(sdl) or (old.mac if old else None)
    ls = msg.link_state
    running = ls == C["LINK_STATE_UP"] or (
        ls == C["LINK_STATE_UNKNOWN"] and bool(msg.flags & C["IFF_DRV_RUNNING"]))
    return Link(msg.index, name, bool(msg.flags & C["IFF_UP"]), running, msg.mtu, mac)


def address_from_ifa(msg: IfAddrMsg) -> Address | None:
    ip = _ip(msg.addrs.get(RTAX_IFA))
    if ip is None:
        return None
    plen = _prefixlen(msg.addrs.get(RTAX_NETMASK), ip.max_prefixlen)
    return Address(msg.index, ipaddress.ip_interface((ip, plen)))


def route_from_rtm(msg: RouteMsg) -> Route | None:
    dst = _ip(msg.addrs.get(RTAX_DST))
    if dst is None:
        return None
    plen: int
    if msg.flags & C["RTF_HOST"]:
        plen = dst.max_prefixlen
    else:
        plen = _prefixlen(msg.addrs.get(RTAX_NETMASK), dst.max_prefixlen)
    gw_sa = msg.addrs.get(RTAX_GATEWAY)
    index = msg.index
    if isinstance(gw_sa, SaLink) and not index:
        index = gw_sa.index
    return Route(_network(dst, plen), _ip(gw_sa),
                 index, route_flags(msg.flags))


def neigh_from_rtm(msg: RouteMsg) -> Neighbour | None:
    """An RTF_LLINFO message as a Neighbour (IPv4 only)."""
    dst = msg.addrs.get(RTAX_DST)
    if not isinstance(dst, SaInet):
        return None
    sdl = msg.addrs.get(RTAX_GATEWAY)
    index = msg.index or (sdl.index if isinstance(sdl, SaLink) else 0)
    if not index:
        return None
    mac = _mac(sdl)
    if mac == "00:00:00:00:00:00":
        mac = None      # lle events fill sdl_alen but copy no address on expiry
    return Neighbour(index, _ip_cached(dst.addr), mac,
                     bool(msg.flags & C["RTF_STATIC"]))


class Tracker:
    """Feeds messages into a HostState and returns the events they cause."""

    def __init__(self, lookup: Callable[[int], list[Message]] | None = None,
                 pid: int | None = None) -> None:
        self.state = HostState()
        self.lookup = lookup
        self.pid = os.getpid() if pid is None else pid
        self._own_seqs: set[int] = set()
        self._departure: IfAnnounceMsg | None = None

    @property
    def holding_departure(self) -> bool:
        """A DEPARTURE waits for a possible ARRIVAL (a rename)."""
        return self._departure is not None

    def expect_own(self, seq: int) -> None:
        """The writer sent a request with this sequence number."""
        self._own_seqs.add(seq)

    def _is_own(self, msg: RouteMsg) -> bool:
        if msg.pid == self.pid and msg.seq in self._own_seqs:
            self._own_seqs.discard(msg.seq)
            return True
        return False

    # -- the message stream -----------------------------------------------

    def feed(self, msg: Message) -> list[Event]:
        out: list[Event] = []
        if self._departure is not None:
            dep = self._departure
            if (isinstance(msg, IfAnnounceMsg) and msg.what == C["IFAN_ARRIVAL"]
                    and msg.index == dep.index):
                self._departure = None
                return self._arrival(msg)
            out += self.flush()
        if isinstance(msg, IfAnnounceMsg):
            if msg.type != C["RTM_IFANNOUNCE"]:
                return out
            if msg.what == C["IFAN_DEPARTURE"]:
                self._departure = msg
            elif msg.what == C["IFAN_ARRIVAL"]:
                out += self._arrival(msg)
        elif isinstance(msg, IfInfoMsg):
            old = self.state.links.get(msg.index)
            if old is None and self.lookup is not None:
                out += self._refresh(msg.index, "")
            else:
                out += self.state.set_link(link_from_ifinfo(msg, old))
        elif isinstance(msg, IfAddrMsg):
            out += self._ifaddr(msg)
        elif isinstance(msg, RouteMsg):
            out += self._route(msg, dump=False)
        return out

    def feed_all(self, msgs: Iterable[Message]) -> list[Event]:
        out: list[Event] = []
        for m in msgs:
            out += self.feed(m)
        return out

    def flush(self) -> list[Event]:
        """Release a held DEPARTURE: no ARRIVAL followed, so the link is gone."""
        dep, self._departure = self._departure, None
        if dep is None:
            return []
        return self.state.remove_link(dep.index)

    def _arrival(self, msg: IfAnnounceMsg) -> list[Event]:
        if self.lookup is not None:
            return self._refresh(msg.index, msg.name)
        old = self.state.links.get(msg.index)
        if old is not None:
            return self.state.set_link(Link(old.index, msg.name, old.up, old.running, old.mtu, old.mac))
        return self.state.set_link(Link(msg.index, msg.name))

    def _refresh(self, index: int, name: str) -> list[Event]:
        """Ask the kernel (NET_RT_IFLIST for one index) what the interface is."""
        assert self.lookup is not None
        try:
            msgs = self.lookup(index)
        except OSError as e:
            LOG.debug("interface %d vanished before its lookup: %s", index, e)
            msgs = []
        out: list[Event] = []
        found = False
        for m in msgs:
            if isinstance(m, IfInfoMsg) and m.index == index:
                found = True
                out += self.state.set_link(link_from_ifinfo(m, self.state.links.get(index), name))
            elif isinstance(m, IfAddrMsg) and m.index == index:
                out += self._ifaddr(m)
        if not found and name:
            old = self.state.links.get(index)
            out += self.state.set_link(Link(index, name) if old is None else
                                       Link(index, name, old.up, old.running, old.mtu, old.mac))
        return out

    def _ifaddr(self, msg: IfAddrMsg) -> list[Event]:
        addr = address_from_ifa(msg)
        if addr is None:
            return []
        if msg.type == C["RTM_NEWADDR"]:
            return self.state.add_addr(addr)
        return self.state.remove_addr(addr)

    def _route(self, msg: RouteMsg, dump: bool) -> list[Event]:
        if msg.errno:
            return []      # the echo of a request that failed changed nothing
        t = msg.type
        if t == C["RTM_GET"] and not dump:
            return []      # someone's query, not a change
        if t not in (C["RTM_ADD"], C["RTM_CHANGE"], C["RTM_DELETE"], C["RTM_GET"]):
            return []
        if msg.flags & C["RTF_LLINFO"]:
            return self._neigh(msg)
        route = route_from_rtm(msg)
        if route is None:
            return []
        own = self._is_own(msg)
        # ROUTE_MPATH (in GENERIC): each path of a multipath route is
        # added and deleted by a message of its own; RTM_CHANGE replaces.
        if t == C["RTM_DELETE"]:
            return self.state.remove_path(route, own)
        if t == C["RTM_CHANGE"]:
            return self.state.set_route(route, own)
        return self.state.add_path(route, own)

    def _neigh(self, msg: RouteMsg) -> list[Event]:
        n = neigh_from_rtm(msg)
        if n is None or n.index not in self.state.links:
            return []
        if msg.type == C["RTM_DELETE"]:
            return self.state.remove_neigh(n)
        return self.state.set_neigh(n)

    # -- dumps and resync ---------------------------------------------------

    def load_dump(self, iflist: Iterable[Message], routes: Iterable[Message],
                  neighs: Iterable[Message] | None = None) -> list[Event]:
        """Replace the state by one built from a NET_RT_IFLIST and a NET_RT_DUMP
        (and the ARP table's NET_RT_FLAGS dump, if ``neighs`` is given).

        Used for the initial dump and after an overflow: the state is then
        exactly what a fresh start would have, and the events returned are
        the difference from before.
        """
        fresh = HostState()
        for m in iflist:
            if isinstance(m, IfInfoMsg):
                fresh.set_link(link_from_ifinfo(m, fresh.links.get(m.index)))
            elif isinstance(m, IfAddrMsg):
                a = address_from_ifa(m)
                if a is not None:
                    fresh.add_addr(a)
        for m in routes:
            if isinstance(m, RouteMsg) and not m.errno and not m.flags & C["RTF_LLINFO"]:
                r = route_from_rtm(m)
                if r is not None:
                    fresh.add_path(r)
        fresh.neighs = (self.neighs_from_dump(neighs, fresh) if neighs is not None
                        else dict(self.state.neighs))
        self._departure = None
        return self.state.replace(fresh)

    def neighs_from_dump(self, msgs: Iterable[Message],
                         state: HostState | None = None) -> dict[tuple, Neighbour]:
        """The neighbours of an ARP-table dump, on links ``state`` knows."""
        links = (state or self.state).links
        out: dict[tuple, Neighbour] = {}
        for m in msgs:
            if isinstance(m, RouteMsg) and not m.errno and m.flags & C["RTF_LLINFO"]:
                n = neigh_from_rtm(m)
                if n is not None and n.index in links:
                    out[n.key] = n
        return out

    def load_neighs(self, msgs: Iterable[Message]) -> list[Event]:
        """Replace the neighbours by an ARP-table dump's; the difference as events."""
        return self.state.replace_neighs(self.neighs_from_dump(msgs))
