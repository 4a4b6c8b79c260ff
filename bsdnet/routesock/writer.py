"""Host-route writes for the agent: RTM_ADD/RTM_DELETE on FreeBSD, netlink on Linux.

Both writers offer add_host_route(dst, gateway=None, ifindex=None) and
delete_host_route(dst).  On FreeBSD the request carries our pid and a
sequence number registered with the listener's tracker, so the kernel's echo
of it comes back as an event with own=True.
"""
from __future__ import annotations

import ipaddress
import os
from typing import Any, Callable, Protocol

from .encoder import encode_route
from .layout import CONSTANTS as C
from .messages import RTAX_DST, RTAX_GATEWAY, SaInet, SaInet6, SaLink, Sockaddr

IPLike = ipaddress.IPv4Address | ipaddress.IPv6Address | str


class HostRouteWriter(Protocol):
    def add_host_route(self, dst: IPLike, gateway: IPLike | None = None,
                       ifindex: int | None = None) -> None: ...

    def delete_host_route(self, dst: IPLike) -> None: ...


def _sa(ip: IPLike) -> Sockaddr:
    a = ipaddress.ip_address(ip)
    return SaInet(str(a)) if a.version == 4 else SaInet6(str(a))


def host_route_request(rtm_type: int, dst: IPLike, gateway: IPLike | None,
                       ifindex: int | None, *, seq: int, pid: int) -> bytes:
    """The rt_msghdr request route(8) would send for a host route."""
    flags = C["RTF_UP"] | C["RTF_HOST"] | C["RTF_STATIC"]
    addrs: dict[int, Sockaddr] = {RTAX_DST: _sa(dst)}
    if rtm_type == C["RTM_ADD"]:
        if gateway is not None:
            flags |= C["RTF_GATEWAY"]
            addrs[RTAX_GATEWAY] = _sa(gateway)
        elif ifindex:
            # "route add -host X -iface": the gateway is the link itself.
            addrs[RTAX_GATEWAY] = SaLink(ifindex, 0, "", b"")
        else:
            raise ValueError("a host route needs a gateway or an interface")
    return encode_route(rtm_type, addrs, flags=flags, index=ifindex or 0,
                        seq=seq, pid=pid)


class RouteSocketWriter:
    """Writes requests on a PF_ROUTE socket (the listener's, or its own)."""

    def __init__(self, sock: Any, next_seq: Callable[[], int], pid: int | None = None) -> None:
        self.sock = sock
        self.next_seq = next_seq
        self.pid = os.getpid() if pid is None else pid

    def _send(self, msg: bytes) -> None:
        # The kernel answers a bad request by failing the write itself
        # (EEXIST, ESRCH, ENETUNREACH): that OSError is the caller's answer.
        n = self.sock.send(msg)
        if n != len(msg):
            raise OSError(f"short write to the routing socket: {n} of {len(msg)}")

    def add_host_route(self, dst: IPLike, gateway: IPLike | None = None,
                       ifindex: int | None = None) -> None:
        self._send(host_route_request(C["RTM_ADD"], dst, gateway, ifindex,
                                      seq=self.next_seq(), pid=self.pid))

    def delete_host_route(self, dst: IPLike) -> None:
        self._send(host_route_request(C["RTM_DELETE"], dst, None, None,
                                      seq=self.next_seq(), pid=self.pid))


class NetlinkWriter:
    """The same writes through pyroute2 (an IPRoute in the right namespace)."""

    def __init__(self, ipr: Any) -> None:
        self.ipr = ipr

    def add_host_route(self, dst: IPLike, gateway: IPLike | None = None,
                       ifindex: int | None = None) -> None:
        a = ipaddress.ip_address(dst)
        spec: dict[str, Any] = {"dst": f"{a}/{a.max_prefixlen}", "proto": 4}
        if gateway is not None:
            spec["gateway"] = str(gateway)
        if ifindex:
            spec["oif"] = ifindex
        if "gateway" not in spec and "oif" not in spec:
            raise ValueError("a host route needs a gateway or an interface")
        self.ipr.route("add", **spec)

    def delete_host_route(self, dst: IPLike) -> None:
        a = ipaddress.ip_address(dst)
        self.ipr.route("del", dst=f"{a}/{a.max_prefixlen}")
