"""One event model for both platforms: links, addresses, routes, neighbours.

The FreeBSD routing-socket tracker and the Linux rtnetlink twin both keep a
HostState and emit these events for what changed in it, so the agent sees
the same stream on either platform.
"""
from __future__ import annotations

import dataclasses
import functools
import ipaddress
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPInterface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

# Route flags, normalised from RTF_* (FreeBSD) and rtm_type/protocol (Linux).
ROUTE_FLAGS = frozenset({"gateway", "host", "static", "reject", "blackhole",
                         "local", "broadcast", "multicast"})


@dataclass(frozen=True, slots=True)
class Link:
    """An interface: index, name, administrative and operational state, MTU, MAC."""

    index: int
    name: str
    up: bool = False          # IFF_UP: administratively up
    running: bool = False     # carrier / link state up
    mtu: int = 0
    mac: str | None = None    # "aa:bb:cc:dd:ee:ff", None without a link address


@dataclass(frozen=True, slots=True)
class Address:
    """An IP address with its prefix length, on interface ``index``."""

    index: int
    address: IPInterface


@dataclass(frozen=True, slots=True)
class Route:
    """A unicast route: destination, next hop (None when directly connected), interface."""

    dst: IPNetwork
    gateway: IPAddress | None
    index: int
    flags: frozenset[str] = frozenset()

    @property
    def key(self) -> tuple:
        """Routes with equal keys replace each other (a change, not an addition).

        Link-local destinations exist once per interface, so their key
        includes the interface; every other destination is one route.
        """
        if _scoped(self.dst):
            return (self.dst, self.index)
        return (self.dst,)


@functools.lru_cache(maxsize=1 << 16)
def _scoped(net: IPNetwork) -> bool:
    return net.is_link_local or net.is_multicast


@dataclass(frozen=True, slots=True)
class Neighbour:
    """An IPv4 neighbour (ARP) entry: address -> link-layer address on
    interface ``index``.  ``mac`` is None while the entry is unresolved
    (FreeBSD: no LLE_VALID; Linux: NUD_INCOMPLETE / NUD_FAILED).  The
    entry's reachability state is left out on purpose: Linux moves a live
    entry through REACHABLE, STALE, DELAY and PROBE all the time, and
    none of that changes where frames go."""

    index: int
    address: IPAddress
    mac: str | None = None
    static: bool = False

    @property
    def key(self) -> tuple:
        return (self.index, self.address)


def _jsonable(v: Any) -> Any:
    if isinstance(v, (frozenset, set)):
        return sorted(v)
    if isinstance(v, (Link, Address, Route, Neighbour)):
        return {k: _jsonable(getattr(v, k)) for k in v.__slots__}
    if isinstance(v, (str, int, bool)) or v is None:
        return v
    return str(v)


@dataclass(frozen=True)
class Event:
    """Base of every event; ``own`` marks changes this process asked for."""

    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        d = {"event": self.kind}
        for f in dataclasses.fields(self):
            d[f.name] = _jsonable(getattr(self, f.name))
        return d


@dataclass(frozen=True)
class LinkAdded(Event):
    link: Link
    kind: ClassVar[str] = "link-added"


@dataclass(frozen=True)
class LinkRemoved(Event):
    link: Link
    kind: ClassVar[str] = "link-removed"


@dataclass(frozen=True)
class LinkRenamed(Event):
    link: Link
    old_name: str
    kind: ClassVar[str] = "link-renamed"


@dataclass(frozen=True)
class LinkChanged(Event):
    """Up/down, carrier, MTU or MAC changed; ``old`` is the link as it was."""

    link: Link
    old: Link
    kind: ClassVar[str] = "link-changed"


@dataclass(frozen=True)
class AddressAdded(Event):
    addr: Address
    ifname: str = ""
    kind: ClassVar[str] = "address-added"


@dataclass(frozen=True)
class AddressRemoved(Event):
    addr: Address
    ifname: str = ""
    kind: ClassVar[str] = "address-removed"


@dataclass(frozen=True)
class RouteAdded(Event):
    route: Route
    ifname: str = ""
    own: bool = False
    kind: ClassVar[str] = "route-added"


@dataclass(frozen=True)
class RouteChanged(Event):
    route: Route
    old: Route = field(default=None)  # type: ignore[assignment]
    ifname: str = ""
    own: bool = False
    kind: ClassVar[str] = "route-changed"


@dataclass(frozen=True)
class RouteRemoved(Event):
    route: Route
    ifname: str = ""
    own: bool = False
    kind: ClassVar[str] = "route-removed"


@dataclass(frozen=True)
class NeighbourAdded(Event):
    neigh: Neighbour
    ifname: str = ""
    kind: ClassVar[str] = "neighbour-added"


@dataclass(frozen=True)
class NeighbourChanged(Event):
    """The link-layer address (or its resolution) changed; ``old`` as it was."""

    neigh: Neighbour
    old: Neighbour = field(default=None)  # type: ignore[assignment]
    ifname: str = ""
    kind: ClassVar[str] = "neighbour-changed"


@dataclass(frozen=True)
class NeighbourRemoved(Event):
    neigh: Neighbour
    ifname: str = ""
    kind: ClassVar[str] = "neighbour-removed"


def format_event(ev: Event) -> str:
    """One line of text, in the spirit of route(8) monitor."""
    if isinstance(ev, (LinkAdded, LinkRemoved, LinkChanged)):
        ln = ev.link
        s = (f"{ev.kind} {ln.name} index {ln.index} {'UP' if ln.up else 'DOWN'}"
             f"{',RUNNING' if ln.running else ''} mtu {ln.mtu} mac {ln.mac or '-'}")
        return s
    if isinstance(ev, LinkRenamed):
        return f"{ev.kind} {ev.old_name} -> {ev.link.name} index {ev.link.index}"
    if isinstance(ev, (AddressAdded, AddressRemoved)):
        return f"{ev.kind} {ev.addr.address} dev {ev.ifname or ev.addr.index}"
    if isinstance(ev, (RouteAdded, RouteChanged, RouteRemoved)):
        r = ev.route
        via = f" via {r.gateway}" if r.gateway is not None else ""
        flags = ",".join(sorted(r.flags)) or "-"
        return (f"{ev.kind} {r.dst}{via} dev {ev.ifname or r.index} flags {flags}"
                f"{' (own)' if ev.own else ''}")
    if isinstance(ev, (NeighbourAdded, NeighbourChanged, NeighbourRemoved)):
        n = ev.neigh
        return (f"{ev.kind} {n.address} lladdr {n.mac or '(incomplete)'} "
                f"dev {ev.ifname or n.index}{' static' if n.static else ''}")
    return ev.kind
