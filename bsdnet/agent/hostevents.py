"""The agent's side of bsdnet.routesock: host interface events, in a thread.

HostWatcher (routing socket on FreeBSD, rtnetlink on Linux) calls
HostEventHandler methods; here they become calls on the agent:
host_link(name) when a port's tap appears, goes or changes link state
(the vif's UP flag follows present(), and the datapath re-attaches),
fabric_address(addr) when the fabric interface's IPv4 address moves
(the tunnel source follows), and fabric_next_hop(what, node) when the
default route, its gateway's MAC or a fabric neighbour's MAC changes
(the TUNNEL nexthops' destination MAC follows).

resolve() gives a peer node the MAC its tunnelled frames go to: its own
neighbour entry on the fabric's subnet, the default gateway's otherwise;
unknown MACs are solicited and learnt ones kept (ARCHITECTURE.md).
"""
from __future__ import annotations

import functools
import ipaddress
import logging
import socket
import threading
import time
from typing import Any

from bsdnet.routesock import open_listener
from bsdnet.routesock.events import Link

from .hostwatch import FabricInfo, HostEventHandler, HostWatcher

LOG = logging.getLogger(__name__)

POLL_S = 0.5
SOLICIT_S = 10.0        # at most one solicitation per address this often
DISCARD_PORT = 9

IPv4 = ipaddress.IPv4Address
# Every reconcile asks for every route's node: parse each address once.
_ip = functools.lru_cache(maxsize=1 << 16)(ipaddress.ip_address)


class _Handler(HostEventHandler):
    """Queues the watcher's calls: they are made on the agent after the
    watcher's lock is released (the agent's lock is always taken first).
    Also remembers every MAC seen on the fabric (see the module doc)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.known: dict[IPv4, str] = {}
        self._gateway: tuple[IPv4 | None, str | None] = (None, None)

    def tap_appeared(self, name: str, link: Link) -> None:
        self.calls.append(("link", name))

    def tap_gone(self, name: str, link: Link) -> None:
        self.calls.append(("link", name))

    def tap_state(self, name: str, link: Link) -> None:
        self.calls.append(("link", name))

    def fabric_changed(self, fabric: FabricInfo) -> None:
        self.calls.append(("fabric", str(fabric.address.ip)
                           if fabric.address is not None else None))
        gw = (fabric.gateway, fabric.gateway_mac)
        if fabric.gateway is not None and fabric.gateway_mac:
            self.known[fabric.gateway] = fabric.gateway_mac
        if gw != self._gateway:
            self._gateway = gw
            what = (f"default route via {fabric.gateway} (MAC "
                    f"{fabric.gateway_mac or 'not resolved'})"
                    if fabric.gateway is not None else "no default route")
            LOG.info("fabric %s", what)
            self.calls.append(("nexthop", (what, None)))

    def neighbour_changed(self, ifname: str, address: ipaddress.IPv4Address,
                          mac: str | None) -> None:
        if mac is None or self.known.get(address) == mac:
            return          # unresolved or gone: the last MAC stays
        self.known[address] = mac
        self.calls.append(("nexthop", (f"neighbour {address} is at {mac}",
                                       str(address))))


class Watcher:
    """HostWatcher over the host's listener, pumped by its own thread."""

    def __init__(self, agent: Any, fabric_ifname: str | None) -> None:
        self.agent = agent
        # Neighbours always: the fabric may be named later (follow()).
        self.listener = open_listener(neighbours=True)
        self.handler = _Handler()
        self.watcher = HostWatcher(self.handler, fabric_ifname)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._solicited: dict[IPv4, float] = {}
        self._said: dict[str, str | None] = {}
        # resolve()'s known answers, until the next host event: every
        # reconcile asks for every route's node.
        self._resolved: dict[str, tuple[str | None, bool, str]] = {}
        self._udp: socket.socket | None = None
        # FreeBSD: not every IPv4 ARP change is announced on the socket.
        self._refresh_every: float | None = \
            getattr(self.listener, "NEIGH_POLL_S", None) \
            if getattr(self.listener, "neighbours", False) else None
        self._next_refresh = time.monotonic() + (self._refresh_every or 0)

    def start(self) -> None:
        with self._lock:
            self._resolved.clear()
            self.watcher.start(self.listener)
        self._deliver()
        self._thread = threading.Thread(target=self._run, name="hostevents",
                                        daemon=True)
        self._thread.start()

    def present(self, name: str) -> bool:
        """Is there an interface of this name on the host, and up?"""
        with self._lock:
            link = self.watcher._by_name(name)
        return link is not None and link.up

    def resolve(self, node: str) -> tuple[str | None, bool, str]:
        """Where tunnelled frames to peer ``node`` go, as the host sees it:
        (MAC or None, is the node on the fabric's subnet, what was asked).
        The model's static options take precedence (model.peer_mac)."""
        addr = _ip(node)
        with self._lock:
            hit = self._resolved.get(node)
            if hit is not None:
                return hit
            mac, onlink, what, target = self._lookup(addr)
            if mac is not None:
                self._resolved[node] = (mac, onlink, what)
        if mac is None and target is not None:
            self._solicit(target)
        if self._said.get(node, "") != mac:
            self._said[node] = mac
            LOG.info("peer %s: fabric MAC %s (%s)", node,
                     mac or "unknown", what)
        return mac, onlink, what

    def _lookup(self, addr: IPv4) -> tuple[str | None, bool, str,
                                           IPv4 | None]:
        """resolve() under the lock: (MAC, on-link, what, address whose
        neighbour entry counts)."""
        fab = self.watcher.fabric
        if fab is None:
            return None, False, "fabric interface not seen on the host", None
        if fab.address is not None and addr in fab.address.network:
            target, onlink = addr, True
            what = f"neighbour entry of {addr} on {fab.ifname}"
        elif fab.gateway is None:
            return None, False, "no IPv4 default route on the host", None
        elif fab.gateway_ifindex not in (None, 0, fab.ifindex):
            return None, False, (f"the default route's gateway {fab.gateway} "
                                 f"is not on {fab.ifname}"), None
        else:
            target, onlink = fab.gateway, False
            what = f"default route's gateway {fab.gateway}"
        mac = self.watcher.neighbour(target) or self.handler.known.get(target)
        return mac, onlink, what, target

    def _solicit(self, addr: IPv4) -> None:
        """Make the host resolve addr: a datagram to it needs its MAC
        (or the gateway's), so the kernel sends ARP requests."""
        now = time.monotonic()
        if now - self._solicited.get(addr, -SOLICIT_S) < SOLICIT_S:
            return
        self._solicited[addr] = now
        try:
            if self._udp is None:
                self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._udp.setblocking(False)
            self._udp.sendto(b"", (str(addr), DISCARD_PORT))
        except OSError as e:
            LOG.debug("soliciting %s: %s", addr, e)

    def follow(self, names: set[str], fabric: str | None = None) -> None:
        """Be told about exactly these interfaces from now on: every one
        the agent uses (VM taps; uplinks), and, when given, the fabric
        interface the tables use, which the topology file may name
        rather than [fabric] interface.  (What they are now, the caller
        reads with present().)"""
        with self._lock:
            if fabric is not None and fabric != self.watcher.fabric_ifname:
                LOG.info("following fabric interface %s", fabric)
                self._resolved.clear()
                self.watcher.set_fabric(fabric)
            have = set(self.watcher._taps)
            for n in have - names:
                self.watcher.unregister_tap(n)
            for n in names - have:
                self.watcher.register_tap(n)
            # Registration reports taps already there: the caller is
            # applying their state right now.
            self.handler.calls = [c for c in self.handler.calls
                                  if c[0] != "link"]

    def _deliver(self) -> None:
        with self._lock:
            calls, self.handler.calls = self.handler.calls, []
        for what, arg in calls:
            try:
                if what == "link":
                    self.agent.host_link(arg)
                elif what == "nexthop":
                    self.agent.fabric_next_hop(*arg)
                else:
                    self.agent.fabric_address(arg)
            except Exception:
                LOG.exception("host event %s %s not applied", what, arg)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.pump(POLL_S)

    def pump(self, timeout: float) -> None:
        """One turn of the thread: the listener's events within timeout
        (and, where not every ARP change is announced, a re-dump of the
        neighbour table when due), applied to the watcher, then the
        agent's calls made."""
        try:
            events = self.listener.poll(timeout)
            if self._refresh_every is not None and \
                    time.monotonic() >= self._next_refresh:
                events += self.listener.refresh_neighbours()
                self._next_refresh = time.monotonic() + self._refresh_every
        except OSError as e:
            LOG.warning("host events: %s", e)
            self._stop.wait(POLL_S)
            return
        if events:
            self.handle(events)

    def handle(self, events: list) -> None:
        """Apply host events to the watcher, then make the agent's calls."""
        with self._lock:
            self._resolved.clear()
            self.watcher.handle_all(events)
        self._deliver()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.listener.close()
        if self._udp is not None:
            self._udp.close()
