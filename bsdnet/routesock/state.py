"""HostState: what the host looks like now, and the events each change makes.

Both platforms' trackers describe changes as operations on a HostState; the
state decides whether something is new, changed or gone, so a duplicate
message (a route deleted twice, a dump replayed) never produces a second
event, and a resync is a diff between the old state and a fresh one.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .events import (
    Address, AddressAdded, AddressRemoved, Event, Link, LinkAdded,
    LinkChanged, LinkRemoved, LinkRenamed, Neighbour, NeighbourAdded,
    NeighbourChanged, NeighbourRemoved, Route, RouteAdded, RouteChanged,
    RouteRemoved,
)


@dataclass
class HostState:
    links: dict[int, Link] = field(default_factory=dict)
    addrs: dict[tuple, Address] = field(default_factory=dict)
    routes: dict[tuple, Route] = field(default_factory=dict)
    neighs: dict[tuple, Neighbour] = field(default_factory=dict)
    # Every path of each route (FreeBSD's ROUTE_MPATH keeps several for
    # one destination, each added and deleted on its own); routes[key]
    # is the one events show, the first still there.
    paths: dict[tuple, dict[tuple, Route]] = field(default_factory=dict)

    def ifname(self, index: int) -> str:
        link = self.links.get(index)
        return link.name if link else ""

    def link_by_name(self, name: str) -> Link | None:
        for link in self.links.values():
            if link.name == name:
                return link
        return None

    # -- links -------------------------------------------------------------

    def set_link(self, link: Link) -> list[Event]:
        old = self.links.get(link.index)
        self.links[link.index] = link
        if old is None:
            return [LinkAdded(link)]
        out: list[Event] = []
        if old.name != link.name:
            out.append(LinkRenamed(link, old.name))
            old = Link(old.index, link.name, old.up, old.running, old.mtu, old.mac)
        if old != link:
            out.append(LinkChanged(link, old))
        return out

    def remove_link(self, index: int) -> list[Event]:
        """Forget a link, its addresses and routes (Linux does not announce
        the routes it flushes with a link, so both platforms drop them here)."""
        link = self.links.get(index)
        if link is None:
            return []
        out: list[Event] = []
        for key in [k for k, a in self.addrs.items() if a.index == index]:
            out += self.remove_addr(self.addrs[key])
        for key in list(self.paths):
            for p in [p for p in self.paths[key].values() if p.index == index]:
                out += self.remove_path(p)
        for key in [k for k, n in self.neighs.items() if n.index == index]:
            out += self.remove_neigh(self.neighs[key])
        del self.links[index]
        out.append(LinkRemoved(link))
        return out

    # -- addresses ---------------------------------------------------------

    def add_addr(self, addr: Address) -> list[Event]:
        key = (addr.index, addr.address)
        if key in self.addrs:
            return []
        self.addrs[key] = addr
        return [AddressAdded(addr, self.ifname(addr.index))]

    def remove_addr(self, addr: Address) -> list[Event]:
        if self.addrs.pop((addr.index, addr.address), None) is None:
            return []
        return [AddressRemoved(addr, self.ifname(addr.index))]

    # -- routes ------------------------------------------------------------

    @staticmethod
    def _slot(route: Route) -> tuple:
        return (route.gateway, route.index)

    def set_route(self, route: Route, own: bool = False) -> list[Event]:
        """The route is this one path (a change replaces every path)."""
        self.paths[route.key] = {self._slot(route): route}
        return self._show(route, own)

    def _show(self, route: Route, own: bool) -> list[Event]:
        old = self.routes.get(route.key)
        self.routes[route.key] = route
        name = self.ifname(route.index)
        if old is None:
            return [RouteAdded(route, name, own)]
        if old != route:
            return [RouteChanged(route, old, name, own)]
        return []

    def add_path(self, route: Route, own: bool = False) -> list[Event]:
        """One more path to the destination (RTM_ADD with ROUTE_MPATH)."""
        paths = self.paths.setdefault(route.key, {})
        slot = self._slot(route)
        paths[slot] = route
        shown = self.routes.get(route.key)
        if shown is None or self._slot(shown) == slot:
            return self._show(route, own)
        return []

    def remove_path(self, route: Route, own: bool = False) -> list[Event]:
        """One path is gone (RTM_DELETE names its gateway); the route goes
        with its last path."""
        paths = self.paths.get(route.key, {})
        gone = paths.pop(self._slot(route), None)
        if gone is None:
            gone = next((p for s, p in list(paths.items())
                         if s[0] == route.gateway), None)
            if gone is None and route.gateway is None and len(paths) == 1:
                gone = next(iter(paths.values()))
            if gone is not None:
                del paths[self._slot(gone)]
        if gone is None:
            return []
        if not paths:
            return self.remove_route(gone, own)
        shown = self.routes.get(route.key)
        if shown is not None and self._slot(shown) == self._slot(gone):
            return self._show(next(iter(paths.values())), own)
        return []

    def remove_route(self, route: Route, own: bool = False) -> list[Event]:
        self.paths.pop(route.key, None)
        old = self.routes.pop(route.key, None)
        if old is None:
            return []
        return [RouteRemoved(old, self.ifname(old.index), own)]

    # -- neighbours --------------------------------------------------------

    def set_neigh(self, neigh: Neighbour) -> list[Event]:
        old = self.neighs.get(neigh.key)
        self.neighs[neigh.key] = neigh
        name = self.ifname(neigh.index)
        if old is None:
            return [NeighbourAdded(neigh, name)]
        if old != neigh:
            return [NeighbourChanged(neigh, old, name)]
        return []

    def remove_neigh(self, neigh: Neighbour) -> list[Event]:
        old = self.neighs.pop(neigh.key, None)
        if old is None:
            return []
        return [NeighbourRemoved(old, self.ifname(old.index))]

    def replace_neighs(self, fresh: dict[tuple, Neighbour]) -> list[Event]:
        """Become these neighbours (a fresh dump of the ARP table)."""
        out: list[Event] = []
        for key, n in list(self.neighs.items()):
            if key not in fresh:
                out += self.remove_neigh(n)
        for n in fresh.values():
            out += self.set_neigh(n)
        return out

    # -- resync ------------------------------------------------------------

    def replace(self, fresh: "HostState") -> list[Event]:
        """Become ``fresh``; return the events that lead from here to there.

        Removals come first (neighbours, routes, addresses, then links) so that a
        consumer never sees an address on a link it was told is gone.
        """
        out: list[Event] = []
        for key, n in list(self.neighs.items()):
            if key not in fresh.neighs:
                out += self.remove_neigh(n)
        for key, route in list(self.routes.items()):
            if key not in fresh.routes:
                out += self.remove_route(route)
        for key, addr in list(self.addrs.items()):
            if key not in fresh.addrs or fresh.addrs[key].index not in fresh.links:
                out += self.remove_addr(addr)
        for index in list(self.links):
            if index not in fresh.links:
                out += self.remove_link(index)
        for link in fresh.links.values():
            out += self.set_link(link)
        for addr in fresh.addrs.values():
            out += self.add_addr(addr)
        for route in fresh.routes.values():
            out += self._show(route, False)
        self.paths = {k: dict(v) for k, v in fresh.paths.items()}
        for n in fresh.neighs.values():
            out += self.set_neigh(n)
        return out
