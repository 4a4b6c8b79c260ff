"""Host interface, address and route events: PF_ROUTE on FreeBSD, rtnetlink on Linux.

- layout.py, cassert.py: FreeBSD's message structs as data, and the
  _Static_assert file that checks them against FreeBSD's headers.
- parser.py, encoder.py, messages.py: bytes <-> typed routing-socket messages.
- events.py, state.py: the platform-neutral event model and HostState
  (links, addresses, routes and, when asked for, IPv4 neighbours).
- tracker.py, listener.py, freebsd_sys.py: the FreeBSD listener.
- netlink.py, netns.py: the rtnetlink twin.
- writer.py: host-route writes.
What the agent makes of the events is bsdnet.agent.hostwatch; the command
is bsdnet-routesock (bsdnet/cmd/routesock.py).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .events import (
    Address, AddressAdded, AddressRemoved, Event, Link, LinkAdded, LinkChanged,
    LinkRemoved, LinkRenamed, Neighbour, NeighbourAdded, NeighbourChanged,
    NeighbourRemoved, Route, RouteAdded, RouteChanged, RouteRemoved,
)
from .messages import ParseError
from .parser import Decoder, decode

if TYPE_CHECKING:
    from .listener import RouteSocketListener
    from .netlink import NetlinkListener

__all__ = [
    "Address", "AddressAdded", "AddressRemoved", "Event", "Link", "LinkAdded",
    "LinkChanged", "LinkRemoved", "LinkRenamed", "Neighbour",
    "NeighbourAdded", "NeighbourChanged", "NeighbourRemoved", "Route", "RouteAdded",
    "RouteChanged", "RouteRemoved", "ParseError", "Decoder", "decode",
    "open_listener",
]


def open_listener(netns: str | None = None,
                  neighbours: bool = False) -> RouteSocketListener | NetlinkListener:
    """The host's listener: PF_ROUTE on FreeBSD, rtnetlink on Linux (optionally in
    ``netns``); ``neighbours``: follow the IPv4 neighbour (ARP) table too."""
    import sys
    if sys.platform.startswith("freebsd"):
        from .listener import RouteSocketListener
        return RouteSocketListener.open(neighbours=neighbours)
    from .netlink import NetlinkListener
    return NetlinkListener(netns, neighbours=neighbours)
