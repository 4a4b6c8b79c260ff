"""The agent's side of bsdnet.routesock: host interface events, in a thread.

HostWatcher (routing socket on FreeBSD, rtnetlink on Linux) calls
HostEventHandler methods; here they become calls on the agent:
host_link(name) when a port's tap appears, goes or changes link state
(the vif's UP flag follows present(), and the datapath re-attaches),
and fabric_address(addr) when the fabric interface's IPv4 address moves
(the tunnel source follows).
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from bsdnet.routesock import (FabricInfo, HostEventHandler, HostWatcher,
                              open_listener)
from bsdnet.routesock.events import Link

LOG = logging.getLogger(__name__)

POLL_S = 0.5


class _Handler(HostEventHandler):
    """Queues the watcher's calls: they are made on the agent after the
    watcher's lock is released (the agent's lock is always taken first)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def tap_appeared(self, name: str, link: Link) -> None:
        self.calls.append(("link", name))

    def tap_gone(self, name: str, link: Link) -> None:
        self.calls.append(("link", name))

    def tap_state(self, name: str, link: Link) -> None:
        self.calls.append(("link", name))

    def fabric_changed(self, fabric: FabricInfo) -> None:
        if fabric.gateway is not None:
            LOG.info("fabric default route via %s", fabric.gateway)
        self.calls.append(("fabric", str(fabric.address.ip)
                           if fabric.address is not None else None))


class Watcher:
    """HostWatcher over the host's listener, pumped by its own thread."""

    def __init__(self, agent: Any, fabric_ifname: str | None) -> None:
        self.agent = agent
        self.listener = open_listener()
        self.handler = _Handler()
        self.watcher = HostWatcher(self.handler, fabric_ifname)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._lock:
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

    def follow(self, names: set[str]) -> None:
        """Be told about exactly these tap names from now on.  (What they
        are now, the caller reads with present().)"""
        with self._lock:
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
                else:
                    self.agent.fabric_address(arg)
            except Exception:
                LOG.exception("host event %s %s not applied", what, arg)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                events = self.listener.poll(POLL_S)
            except OSError as e:
                LOG.warning("host events: %s", e)
                self._stop.wait(POLL_S)
                continue
            if events:
                with self._lock:
                    self.watcher.handle_all(events)
                self._deliver()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.listener.close()
