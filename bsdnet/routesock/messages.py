"""Decoded PF_ROUTE messages: one small class per header kind, sockaddrs by RTAX slot.

These mirror the wire closely (flags stay integers); bsdnet.routesock.tracker
turns them into the platform-neutral events of bsdnet.routesock.events.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

# RTAX_* slot numbers: sockaddrs follow a header in this order, one per set bit.
RTAX_DST, RTAX_GATEWAY, RTAX_NETMASK, RTAX_GENMASK = 0, 1, 2, 3
RTAX_IFP, RTAX_IFA, RTAX_AUTHOR, RTAX_BRD = 4, 5, 6, 7
RTAX_NAMES = ("dst", "gateway", "netmask", "genmask", "ifp", "ifa", "author", "brd")


class ParseError(ValueError):
    """The bytes are not a well-formed sequence of routing-socket messages."""


@dataclass(slots=True)
class SaInet:
    """sockaddr_in (or an IPv4 netmask, possibly trimmed on the wire)."""

    addr: str
    port: int = 0


@dataclass(slots=True)
class SaInet6:
    """sockaddr_in6; a KAME-embedded scope is moved into scope_id."""

    addr: str
    scope_id: int = 0
    port: int = 0


@dataclass(slots=True)
class SaLink:
    """sockaddr_dl: interface index, IFT_* type, name and link-layer address."""

    index: int
    iftype: int
    name: str
    lladdr: bytes


@dataclass(slots=True)
class SaEmpty:
    """A zero-length placeholder (sa_len 0): present in rtm_addrs, carries nothing."""


@dataclass(slots=True)
class SaOther:
    """A sockaddr of a family we do not interpret (kept raw for debugging)."""

    family: int
    data: bytes


# Sockaddrs are plain slotted classes, not frozen ones, because the parser
# builds millions of them and frozen construction costs three times as much;
# the parser shares one object between messages that carry the same bytes,
# so treat them as immutable.

Sockaddr = Union[SaInet, SaInet6, SaLink, SaEmpty, SaOther]


@dataclass(slots=True)
class RouteMsg:
    """rt_msghdr: RTM_ADD, RTM_DELETE, RTM_CHANGE, RTM_GET (dumps), RTM_MISS..."""

    type: int
    index: int
    flags: int
    pid: int
    seq: int
    errno: int
    mtu: int
    addrs: dict[int, Sockaddr] = field(default_factory=dict)


@dataclass(slots=True)
class IfInfoMsg:
    """if_msghdr (RTM_IFINFO): flags, link state, MTU; a sockaddr_dl in dumps."""

    type: int
    index: int
    flags: int
    iftype: int
    link_state: int
    mtu: int
    addrs: dict[int, Sockaddr] = field(default_factory=dict)


@dataclass(slots=True)
class IfAddrMsg:
    """ifa_msghdr (RTM_NEWADDR, RTM_DELADDR)."""

    type: int
    index: int
    flags: int
    metric: int
    addrs: dict[int, Sockaddr] = field(default_factory=dict)


@dataclass(slots=True)
class IfMaddrMsg:
    """ifma_msghdr (RTM_NEWMADDR, RTM_DELMADDR): multicast memberships."""

    type: int
    index: int
    flags: int
    addrs: dict[int, Sockaddr] = field(default_factory=dict)


@dataclass(slots=True)
class IfAnnounceMsg:
    """if_announcemsghdr (RTM_IFANNOUNCE, RTM_IEEE80211)."""

    type: int
    index: int
    name: str
    what: int


@dataclass(slots=True)
class UnknownMsg:
    """A message we skip: another RTM_VERSION or a type we do not parse."""

    type: int
    version: int
    length: int


Message = Union[RouteMsg, IfInfoMsg, IfAddrMsg, IfMaddrMsg, IfAnnounceMsg, UnknownMsg]
