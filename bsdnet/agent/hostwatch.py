"""HostWatcher: what the agent needs from host events, as calls on its own interface.

The agent implements HostEventHandler and registers the tap names of its
ports; the watcher, fed by either listener (FreeBSD routing socket or Linux
rtnetlink), then calls
- tap_appeared / tap_gone when a registered tap exists or stops existing
  (created, destroyed, or renamed to / away from the registered name), and
  at registration time if the tap is already there;
- tap_state when a present tap's up/running/MTU/MAC changes;
- fabric_changed when the fabric interface's IPv4 address (the tunnel
  source), the IPv4 default route (the tunnel next hop) or, with a
  listener that follows neighbours, the MAC of the default route's
  gateway changes;
- neighbour_changed when the MAC of a neighbour on the fabric interface
  changes (resolved, replaced, unresolved or gone: None), for peers on the
  fabric's own subnet.

hostevents.Watcher runs it for the agent (ARCHITECTURE.md, host events).
"""
from __future__ import annotations

import abc
import ipaddress
import logging
from dataclasses import dataclass
from typing import Any, Iterable

from bsdnet.routesock.events import (
    AddressAdded, AddressRemoved, Event, Link, LinkAdded, LinkChanged,
    LinkRemoved, LinkRenamed, Neighbour, NeighbourAdded, NeighbourChanged,
    NeighbourRemoved, RouteAdded, RouteChanged, RouteRemoved,
)

LOG = logging.getLogger(__name__)
_DEFAULT4 = ipaddress.ip_network("0.0.0.0/0")


@dataclass(frozen=True)
class FabricInfo:
    """Where tunnels start and their next hop: the datapath's view of the fabric."""

    ifname: str
    ifindex: int | None
    address: ipaddress.IPv4Interface | None
    gateway: ipaddress.IPv4Address | None
    gateway_ifindex: int | None
    # The gateway's neighbour entry: None when the listener does not follow
    # neighbours, or the entry is missing or unresolved.
    gateway_mac: str | None = None


class HostEventHandler(abc.ABC):
    """What the agent implements; every method is called from the watcher's thread."""

    @abc.abstractmethod
    def tap_appeared(self, name: str, link: Link) -> None:
        """A registered tap exists: attach it to the datapath."""

    @abc.abstractmethod
    def tap_gone(self, name: str, link: Link) -> None:
        """A registered tap went away (or was unregistered): detach it."""

    @abc.abstractmethod
    def tap_state(self, name: str, link: Link) -> None:
        """A present tap's up/running/MTU/MAC changed: update its vif."""

    @abc.abstractmethod
    def fabric_changed(self, fabric: FabricInfo) -> None:
        """Tunnel source address, default next hop or its MAC changed."""

    def neighbour_changed(self, ifname: str, address: ipaddress.IPv4Address,
                          mac: str | None) -> None:
        """A neighbour on the fabric interface has a new MAC (None: no
        longer resolved, or gone).  Optional: the default ignores it."""


class HostWatcher:
    def __init__(self, handler: HostEventHandler, fabric_ifname: str | None = None) -> None:
        self.handler = handler
        self.fabric_ifname = fabric_ifname
        self._links: dict[int, Link] = {}
        self._taps: set[str] = set()
        self._attached: dict[str, Link] = {}
        self._addrs: dict[int, list[ipaddress.IPv4Interface]] = {}
        self._default: tuple[ipaddress.IPv4Address | None, int] | None = None
        self._fabric: FabricInfo | None = None
        self._neighs: dict[tuple, Neighbour] = {}    # Neighbour.key -> entry

    # -- registration ----------------------------------------------------

    def register_tap(self, name: str) -> None:
        self._taps.add(name)
        link = self._by_name(name)
        if link is not None and name not in self._attached:
            self._attach(name, link)

    def unregister_tap(self, name: str) -> None:
        self._taps.discard(name)
        link = self._attached.pop(name, None)
        if link is not None:
            self._call(self.handler.tap_gone, name, link)

    def set_fabric(self, name: str | None) -> None:
        """Follow another fabric interface (the topology named one): its
        address, the default route through it and its neighbours."""
        if name == self.fabric_ifname:
            return
        self.fabric_ifname = name
        self._check_fabric()

    @property
    def attached(self) -> dict[str, Link]:
        return dict(self._attached)

    @property
    def fabric(self) -> FabricInfo | None:
        return self._fabric

    def neighbour(self, address: ipaddress.IPv4Address | str,
                  ifname: str | None = None) -> str | None:
        """The MAC of ``address``'s neighbour entry on ``ifname`` (default:
        the fabric interface), None if unknown or unresolved."""
        link = self._by_name(ifname or self.fabric_ifname or "")
        if link is None:
            return None
        if isinstance(address, str):
            address = ipaddress.ip_address(address)
        n = self._neighs.get((link.index, address))
        return n.mac if n is not None else None

    # -- driving it ------------------------------------------------------

    def start(self, listener: Any) -> None:
        """Take the listener's initial dump."""
        self.handle_all(listener.start())

    def pump(self, listener: Any, timeout: float | None) -> int:
        """Handle what the listener has within ``timeout``; returns the event count."""
        events = listener.poll(timeout)
        self.handle_all(events)
        return len(events)

    def handle_all(self, events: Iterable[Event]) -> None:
        for ev in events:
            self._handle(ev)
        self._check_fabric()

    def handle(self, ev: Event) -> None:
        self._handle(ev)
        self._check_fabric()

    # -- internals -------------------------------------------------------

    def _by_name(self, name: str) -> Link | None:
        for link in self._links.values():
            if link.name == name:
                return link
        return None

    @staticmethod
    def _call(method: Any, *args: Any) -> None:
        # One failing callback must not lose the rest of the batch: the
        # watcher's view of the host has to stay in step with the events.
        try:
            method(*args)
        except Exception:
            LOG.exception("host event handler %s%r failed", method.__name__, args)

    def _attach(self, name: str, link: Link) -> None:
        self._attached[name] = link
        self._call(self.handler.tap_appeared, name, link)

    def _detach(self, name: str) -> None:
        link = self._attached.pop(name, None)
        if link is not None:
            self._call(self.handler.tap_gone, name, link)

    def _handle(self, ev: Event) -> None:
        if isinstance(ev, LinkAdded):
            self._links[ev.link.index] = ev.link
            if ev.link.name in self._taps and ev.link.name not in self._attached:
                self._attach(ev.link.name, ev.link)
        elif isinstance(ev, LinkRemoved):
            self._links.pop(ev.link.index, None)
            self._addrs.pop(ev.link.index, None)
            if self._attached.get(ev.link.name, ev.link).index == ev.link.index:
                self._detach(ev.link.name)
        elif isinstance(ev, LinkRenamed):
            self._links[ev.link.index] = ev.link
            self._detach(ev.old_name)
            if ev.link.name in self._taps:
                self._attach(ev.link.name, ev.link)
        elif isinstance(ev, LinkChanged):
            self._links[ev.link.index] = ev.link
            name = ev.link.name
            if name in self._attached:
                self._attached[name] = ev.link
                self._call(self.handler.tap_state, name, ev.link)
        elif isinstance(ev, (AddressAdded, AddressRemoved)):
            a = ev.addr.address
            if a.version == 4:
                lst = self._addrs.setdefault(ev.addr.index, [])
                if isinstance(ev, AddressAdded) and a not in lst:
                    lst.append(a)
                elif isinstance(ev, AddressRemoved) and a in lst:
                    lst.remove(a)
        elif isinstance(ev, (RouteAdded, RouteChanged)):
            if ev.route.dst == _DEFAULT4:
                self._default = (ev.route.gateway, ev.route.index)  # type: ignore[assignment]
        elif isinstance(ev, RouteRemoved):
            if ev.route.dst == _DEFAULT4:
                self._default = None
        elif isinstance(ev, (NeighbourAdded, NeighbourChanged, NeighbourRemoved)):
            self._neigh(ev)

    def _neigh(self, ev: Event) -> None:
        n: Neighbour = ev.neigh  # type: ignore[attr-defined]
        old = self._neighs.get(n.key)
        if isinstance(ev, NeighbourRemoved):
            self._neighs.pop(n.key, None)
            mac = None
        else:
            self._neighs[n.key] = n
            mac = n.mac
        if (old.mac if old else None) == mac:
            return
        link = self._links.get(n.index)
        if link is not None and self.fabric_ifname is not None \
                and link.name == self.fabric_ifname:
            self._call(self.handler.neighbour_changed, link.name, n.address, mac)

    def _check_fabric(self) -> None:
        if self.fabric_ifname is None:
            if self._fabric is not None:
                self._fabric = None
            return
        link = self._by_name(self.fabric_ifname)
        addrs = self._addrs.get(link.index, []) if link else []
        gw, gw_if = self._default if self._default else (None, None)
        gw_mac = None
        if gw is not None:
            n = self._neighs.get((gw_if or (link.index if link else 0), gw))
            gw_mac = n.mac if n is not None else None
        info = FabricInfo(self.fabric_ifname, link.index if link else None,
                          addrs[0] if addrs else None, gw, gw_if, gw_mac)
        if info != self._fabric:
            self._fabric = info
            LOG.info("fabric: %s", info)
            self._call(self.handler.fabric_changed, info)
