"""Build FreeBSD routing-socket messages: route requests for the writer.

The inverse of parser.py for the headers we send (rt_msghdr) and, for tests
and benchmarks, the ones the kernel sends.  Layouts come from layout.py.
"""
from __future__ import annotations

import socket
import struct
from typing import Any

from .layout import CONSTANTS as C
from .layout import LAYOUTS, ArchLayouts, Layout
from .messages import SaEmpty, SaInet, SaInet6, SaLink, SaOther, Sockaddr

__all__ = ["encode_sockaddr", "encode_route", "encode_ifinfo", "encode_ifaddr",
           "encode_announce", "sa_size"]


def sa_size(sa_len: int, align: int = 8) -> int:
    """SA_SIZE(): the bytes a sockaddr of length sa_len occupies in a message."""
    return align if sa_len == 0 else 1 + ((sa_len - 1) | (align - 1))


def encode_sockaddr(sa: Sockaddr, align: int = 8, arch: ArchLayouts | None = None) -> bytes:
    """The sockaddr's bytes, padded to SA_SIZE."""
    arch = arch or LAYOUTS["amd64"]
    if isinstance(sa, SaInet):
        raw = bytes(_pack(arch.sockaddr_in, {
            "sin_len": arch.sockaddr_in.size, "sin_family": C["AF_INET"],
            "sin_port": sa.port.to_bytes(2, "big"),
            "sin_addr": socket.inet_pton(socket.AF_INET, sa.addr)}))
    elif isinstance(sa, SaInet6):
        raw = bytes(_pack(arch.sockaddr_in6, {
            "sin6_len": arch.sockaddr_in6.size, "sin6_family": C["AF_INET6"],
            "sin6_port": sa.port.to_bytes(2, "big"),
            "sin6_addr": socket.inet_pton(socket.AF_INET6, sa.addr),
            "sin6_scope_id": sa.scope_id}))
    elif isinstance(sa, SaLink):
        data = sa.name.encode() + sa.lladdr
        dl = arch.sockaddr_dl
        head = dl.projection(("sdl_len", "sdl_family", "sdl_index", "sdl_type",
                              "sdl_nlen", "sdl_alen", "sdl_slen"))
        # sockaddr_dl's minimum work area is sizeof(struct sockaddr_dl).
        n = max(dl.size, head.size + len(data))
        raw = (head.pack(n, C["AF_LINK"], sa.index, sa.iftype, len(sa.name.encode()),
                         len(sa.lladdr), 0) + data).ljust(n, b"\0")
    elif isinstance(sa, SaEmpty):
        raw = b""
    elif isinstance(sa, SaOther):
        raw = bytes([2 + len(sa.data), sa.family]) + sa.data
    else:
        raise TypeError(f"cannot encode {sa!r}")
    return raw.ljust(sa_size(len(raw), align), b"\0")


def _pack(layout: Layout, values: dict[str, Any]) -> bytearray:
    out: list[Any] = []
    for name, fmt in layout.fields:
        v = values.get(name)
        if v is None:
            v = b"" if fmt.endswith("s") else 0
        if fmt[0].isdigit() and not fmt.endswith("s"):
            out.extend([v] * int(fmt[:-1]) if isinstance(v, int) else v)
        else:
            out.append(v)
    return bytearray(layout.struct.pack(*out))


def _finish(hdr: bytearray, addrs: dict[int, Sockaddr], align: int, round_to: int,
            arch: ArchLayouts | None = None) -> bytes:
    body = b"".join(encode_sockaddr(addrs[k], align, arch) for k in sorted(addrs))
    msg = bytes(hdr) + body
    if round_to:
        msg = msg.ljust(-(-len(msg) // round_to) * round_to, b"\0")
    return struct.pack("<H", len(msg)) + msg[2:]


def _addrs_mask(addrs: dict[int, Sockaddr]) -> int:
    return sum(1 << k for k in addrs)


def encode_route(rtm_type: int, addrs: dict[int, Sockaddr], *, flags: int = 0,
                 index: int = 0, pid: int = 0, seq: int = 0, errno: int = 0,
                 mtu: int = 0, round_to: int = 0,
                 arch: ArchLayouts | None = None) -> bytes:
    """An rt_msghdr message (RTM_ADD, RTM_DELETE, ... or a dump's RTM_GET)."""
    arch = arch or LAYOUTS["amd64"]
    hdr = _pack(arch.rt_msghdr, {
        "rtm_version": C["RTM_VERSION"], "rtm_type": rtm_type, "rtm_index": index,
        "rtm_flags": flags, "rtm_addrs": _addrs_mask(addrs), "rtm_pid": pid,
        "rtm_seq": seq, "rtm_errno": errno, "rtm_rmx.rmx_mtu": mtu,
        "rtm_inits": C["RTV_MTU"] if mtu else 0})
    return _finish(hdr, addrs, arch.sa_align, round_to, arch)


def encode_ifinfo(index: int, flags: int, *, mtu: int = 1500, link_state: int = 0,
                  iftype: int = 6, addrs: dict[int, Sockaddr] | None = None,
                  round_to: int = 0, arch: ArchLayouts | None = None) -> bytes:
    """An if_msghdr (RTM_IFINFO) message."""
    arch = arch or LAYOUTS["amd64"]
    addrs = addrs or {}
    hdr = _pack(arch.if_msghdr, {
        "ifm_version": C["RTM_VERSION"], "ifm_type": C["RTM_IFINFO"],
        "ifm_addrs": _addrs_mask(addrs), "ifm_flags": flags, "ifm_index": index,
        "ifm_data.ifi_type": iftype, "ifm_data.ifi_link_state": link_state,
        "ifm_data.ifi_datalen": arch.if_data.size, "ifm_data.ifi_mtu": mtu})
    return _finish(hdr, addrs, arch.sa_align, round_to, arch)


def encode_ifaddr(ifa_type: int, index: int, addrs: dict[int, Sockaddr], *,
                  flags: int = 0, metric: int = 0, round_to: int = 0,
                  arch: ArchLayouts | None = None) -> bytes:
    """An ifa_msghdr (RTM_NEWADDR / RTM_DELADDR) message."""
    arch = arch or LAYOUTS["amd64"]
    hdr = _pack(arch.ifa_msghdr, {
        "ifam_version": C["RTM_VERSION"], "ifam_type": ifa_type,
        "ifam_addrs": _addrs_mask(addrs), "ifam_flags": flags,
        "ifam_index": index, "ifam_metric": metric})
    return _finish(hdr, addrs, arch.sa_align, round_to, arch)


def encode_announce(index: int, name: str, what: int, *,
                    arch: ArchLayouts | None = None) -> bytes:
    """An if_announcemsghdr (RTM_IFANNOUNCE) message."""
    arch = arch or LAYOUTS["amd64"]
    hdr = _pack(arch.if_announcemsghdr, {
        "ifan_version": C["RTM_VERSION"], "ifan_type": C["RTM_IFANNOUNCE"],
        "ifan_index": index, "ifan_name": name.encode()[:15], "ifan_what": what})
    return _finish(hdr, {}, arch.sa_align, 0)
