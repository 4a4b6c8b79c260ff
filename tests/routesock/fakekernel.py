"""A stand-in for FreeBSD's side of a routing socket: real message bytes on a socketpair.

``FakeKernel`` holds what sysctl would return (NET_RT_IFLIST per interface,
NET_RT_DUMP) and the kernel end of a SOCK_DGRAM socketpair, which keeps
message boundaries like a PF_ROUTE socket.  ``FlakySocket`` wraps the
listener's end to raise ENOBUFS on demand, as the kernel does on overflow.
"""
from __future__ import annotations

import errno
import socket

from bsdnet.routesock.encoder import encode_ifaddr, encode_ifinfo, encode_route
from bsdnet.routesock.layout import CONSTANTS as C
from bsdnet.routesock.messages import SaEmpty, SaInet, SaLink

UP_RUNNING = C["IFF_UP"] | C["IFF_BROADCAST"] | C["IFF_DRV_RUNNING"]


def mac(i: int) -> bytes:
    return bytes([2, 0, 0, 0, 0, i])


class FakeKernel:
    def __init__(self) -> None:
        self.ifaces: dict[int, list[bytes]] = {}     # index -> IFLIST messages
        self.routes: dict[str, bytes] = {}           # name -> RTM_GET message
        self.sysctl_calls: list[tuple[int, int]] = []
        self.kside, lside = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock = FlakySocket(lside)

    def add_iface(self, index: int, name: str, *, flags: int = UP_RUNNING, mtu: int = 1500,
                  link_state: int = 2, addrs: tuple[tuple[str, str], ...] = ()) -> None:
        sdl = SaLink(index, C["IFT_ETHER"], name, mac(index))
        msgs = [encode_ifinfo(index, flags, mtu=mtu, link_state=link_state,
                              addrs={4: sdl}, round_to=8)]
        for ip, mask in addrs:
            msgs.append(encode_ifaddr(C["RTM_NEWADDR"], index,
                                      {2: SaInet(mask), 4: sdl, 5: SaInet(ip)}, round_to=8))
        self.ifaces[index] = msgs

    def add_route(self, dst: str, mask: str | None, gw: str | None, index: int,
                  flags: int = C["RTF_UP"] | C["RTF_STATIC"]) -> None:
        addrs = {0: SaInet(dst)}
        addrs[1] = SaInet(gw) if gw else SaLink(index, C["IFT_ETHER"], "", b"")
        if gw:
            flags |= C["RTF_GATEWAY"]
        addrs[2] = SaInet(mask) if mask else SaEmpty()
        self.routes[dst] = encode_route(C["RTM_GET"], addrs, flags=flags, index=index, round_to=8)

    def dump(self, what: int, arg: int) -> bytes:
        self.sysctl_calls.append((what, arg))
        if what == C["NET_RT_IFLIST"]:
            if arg:
                if arg not in self.ifaces:
                    raise OSError(errno.ENOENT, "no such interface")
                return b"".join(self.ifaces[arg])
            return b"".join(b"".join(v) for _, v in sorted(self.ifaces.items()))
        if what == C["NET_RT_DUMP"]:
            return b"".join(self.routes.values())
        raise OSError(errno.EINVAL, "unexpected sysctl")

    def send(self, *msgs: bytes) -> None:
        for m in msgs:
            self.kside.send(m)

    def recv(self) -> bytes:
        self.kside.settimeout(5)
        return self.kside.recv(1 << 16)

    def close(self) -> None:
        self.kside.close()
        self.sock.close()


class FlakySocket:
    """The listener's end; ``overflow()`` makes the next recv fail with ENOBUFS."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._fail = 0

    def overflow(self, times: int = 1) -> None:
        self._fail = times

    def recv(self, n: int, flags: int = 0) -> bytes:
        if self._fail:
            self._fail -= 1
            raise OSError(errno.ENOBUFS, "No buffer space available")
        return self._sock.recv(n, flags)

    def send(self, data: bytes) -> int:
        return self._sock.send(data)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()
