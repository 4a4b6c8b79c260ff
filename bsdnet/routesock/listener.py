"""The FreeBSD routing-socket listener: initial dump, then messages, resync on overflow.

Order matters.  The socket is opened before the dump, so a change made
while the dump runs is queued, not lost; replaying it on top of the dump is
harmless because HostState ignores what it already knows.  On ENOBUFS the
kernel has dropped messages: we discard whatever is still queued (it is
older than the dump we are about to take and could undo it), then dump
again and emit the difference, so the state equals that of a fresh start.

The socket and the sysctl are injected: on FreeBSD they come from
freebsd_sys; tests feed a socketpair carrying real message bytes.

With ``neighbours=True`` the IPv4 ARP table is part of the state: dumped
with NET_RT_FLAGS / RTF_LLINFO (as arp -a does) at start and resync, then
kept by the RTF_LLINFO messages the socket carries.  FreeBSD announces
IPv6 lltable changes there but not every IPv4 one, so the caller also
re-dumps the table now and then (refresh_neighbours, every NEIGH_POLL_S).
"""
from __future__ import annotations

import errno
import itertools
import logging
import os
import select
import socket
from typing import TYPE_CHECKING, Callable, Iterator, Protocol

from .events import Event
from .layout import CONSTANTS as C
from .messages import Message
from .parser import Decoder, ParseError
from .state import HostState
from .tracker import Tracker

if TYPE_CHECKING:
    from .writer import RouteSocketWriter

LOG = logging.getLogger(__name__)
READ_SIZE = 1 << 16


class RouteSocket(Protocol):
    def recv(self, bufsize: int, flags: int = ...) -> bytes: ...
    def send(self, data: bytes) -> int: ...
    def fileno(self) -> int: ...
    def close(self) -> None: ...


DumpFn = Callable[[int, int], bytes]   # (NET_RT_IFLIST | NET_RT_DUMP, arg) -> bytes


class RouteSocketListener:
    """Events from a PF_ROUTE socket, starting from a sysctl dump."""

    NEIGH_POLL_S: float | None = 5.0

    def __init__(self, sock: RouteSocket, dump: DumpFn, *, arch: str = "amd64",
                 pid: int | None = None, settle: float = 0.05,
                 neighbours: bool = False) -> None:
        self.sock = sock
        self.neighbours = neighbours
        self._dump = dump
        self.decoder = Decoder(arch)
        self.tracker = Tracker(lookup=self._lookup, pid=pid)
        self.settle = settle
        self.resyncs = 0
        self.parse_errors = 0
        self._seq = itertools.count(1)

    @classmethod
    def open(cls, neighbours: bool = False) -> "RouteSocketListener":
        """A listener on this FreeBSD host (socket(PF_ROUTE) and sysctl)."""
        from . import freebsd_sys
        return cls(freebsd_sys.open_route_socket(), freebsd_sys.route_sysctl,
                   arch=_host_arch(), neighbours=neighbours)

    @property
    def state(self) -> HostState:
        return self.tracker.state

    def fileno(self) -> int:
        """For the caller's selector: readable means poll(0) has work."""
        return self.sock.fileno()

    def writer(self) -> "RouteSocketWriter":
        """A host-route writer on this socket whose echoes come back own=True."""
        from .writer import RouteSocketWriter
        return RouteSocketWriter(self.sock, self.next_seq, self.tracker.pid)

    def next_seq(self) -> int:
        """A sequence number for a request of ours; its echo is marked own."""
        seq = next(self._seq)
        self.tracker.expect_own(seq)
        return seq

    # -- dumps -----------------------------------------------------------

    def _decode(self, data: bytes) -> list[Message]:
        try:
            return self.decoder.decode(data)
        except ParseError as e:
            self.parse_errors += 1
            LOG.warning("unparseable routing data (%d bytes): %s", len(data), e)
            return []

    def _lookup(self, index: int) -> list[Message]:
        return self._decode(self._dump(C["NET_RT_IFLIST"], index))

    def start(self) -> list[Event]:
        """The initial dump, as events (everything added)."""
        return self._load()

    def _load(self) -> list[Event]:
        iflist = self._decode(self._dump(C["NET_RT_IFLIST"], 0))
        routes = self._decode(self._dump(C["NET_RT_DUMP"], 0))
        return self.tracker.load_dump(iflist, routes, self._arp())

    def _arp(self) -> list[Message] | None:
        """The ARP table dump (None when not following neighbours)."""
        if not self.neighbours:
            return None
        try:
            return self._decode(self._dump(C["NET_RT_FLAGS"], C["RTF_LLINFO"]))
        except OSError as e:
            LOG.warning("ARP table dump failed: %s", e)
            return None

    def refresh_neighbours(self) -> list[Event]:
        """Dump the ARP table again and emit the difference."""
        msgs = self._arp()
        return [] if msgs is None else self.tracker.load_neighs(msgs)

    def resync(self) -> list[Event]:
        """After an overflow: drop what is queued, dump again, emit the difference."""
        self.resyncs += 1
        self._drain()
        LOG.info("routing socket overflow: resync %d", self.resyncs)
        return self._load()

    def _drain(self) -> None:
        while True:
            try:
                if not self.sock.recv(READ_SIZE, socket.MSG_DONTWAIT):
                    return
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    raise

    # -- messages --------------------------------------------------------

    def _readable(self, timeout: float | None) -> bool:
        r, _, _ = select.select([self.sock], [], [], timeout)
        return bool(r)

    def poll(self, timeout: float | None = None) -> list[Event]:
        """Wait up to ``timeout`` for messages; return the events of all queued ones."""
        out: list[Event] = []
        if not self._readable(timeout):
            return self.tracker.flush()
        while True:
            try:
                data = self.sock.recv(READ_SIZE, socket.MSG_DONTWAIT)
            except BlockingIOError:
                # Quiet now; a held DEPARTURE gets one short grace period
                # for the ARRIVAL of a rename.
                if self.tracker.holding_departure and self._readable(self.settle):
                    continue
                out += self.tracker.flush()
                return out
            except OSError as e:
                if e.errno == errno.ENOBUFS:
                    out += self.tracker.flush()
                    out += self.resync()
                    continue
                raise
            if not data:
                out += self.tracker.flush()
                return out
            for msg in self._decode(data):
                out += self.tracker.feed(msg)

    def events(self) -> Iterator[Event]:
        """The initial dump, then events forever."""
        yield from self.start()
        while True:
            yield from self.poll(None)

    def close(self) -> None:
        self.sock.close()


def _host_arch() -> str:
    m = os.uname().machine
    return {"amd64": "amd64", "x86_64": "amd64", "arm64": "arm64", "aarch64": "arm64"}.get(m, "amd64")
