"""Decode FreeBSD routing-socket bytes: socket reads and sysctl dumps.

Every message starts with ``<u16 msglen><u8 version><u8 type>``; the parser
always advances by msglen (exact on the socket, already rounded to 8 in
NET_RT_DUMP / NET_RT_IFLIST dumps), so one routine reads both.  After the
fixed header come the sockaddrs named by the header's address bitmask, in
RTAX order, each occupying SA_SIZE(sa) bytes: sa_len rounded up to
sizeof(long), a zero sa_len still taking one long.  Trimmed sockaddrs
(netmasks) are zero-filled.  Anything malformed raises ParseError; nothing
reads past the buffer.
"""
from __future__ import annotations

import socket
from typing import Iterator

from .layout import CONSTANTS as C
from .layout import LAYOUTS, ArchLayouts
from .messages import (
    RTAX_GENMASK, RTAX_NETMASK, IfAddrMsg, IfAnnounceMsg, IfInfoMsg,
    IfMaddrMsg, Message, ParseError, RouteMsg, SaEmpty, SaInet, SaInet6,
    SaLink, SaOther, Sockaddr, UnknownMsg,
)

__all__ = ["Decoder", "decode", "ParseError"]

_AF_INET, _AF_INET6, _AF_LINK = C["AF_INET"], C["AF_INET6"], C["AF_LINK"]
_ROUTE_TYPES = frozenset(C[n] for n in (
    "RTM_ADD", "RTM_DELETE", "RTM_CHANGE", "RTM_GET", "RTM_LOSING",
    "RTM_REDIRECT", "RTM_MISS", "RTM_LOCK", "RTM_RESOLVE"))
_IFA_TYPES = frozenset((C["RTM_NEWADDR"], C["RTM_DELADDR"]))
_IFMA_TYPES = frozenset((C["RTM_NEWMADDR"], C["RTM_DELMADDR"]))
_ANNOUNCE_TYPES = frozenset((C["RTM_IFANNOUNCE"], C["RTM_IEEE80211"]))
# The <u16 msglen><u8 version><u8 type> prefix every message starts with.
_PREFIX = LAYOUTS["amd64"].rt_msghdr.projection(("rtm_msglen", "rtm_version", "rtm_type"))
_RTM_VERSION, _RTM_IFINFO = C["RTM_VERSION"], C["RTM_IFINFO"]
_ntop, _PF_INET = socket.inet_ntop, socket.AF_INET
_ZERO16 = bytes(16)


def _inet6(raw: bytes, scope_id: int) -> SaInet6:
    # KAME embeds the scope of link-local unicast/multicast addresses in
    # bytes 2-3; rtsock normally clears it but older kernels and some
    # messages do not.  Move it to scope_id so addresses compare equal.
    if (raw[0] == 0xFE and (raw[1] & 0xC0) == 0x80) or (raw[0] == 0xFF and (raw[1] & 0x0F) in (1, 2)):
        embedded = (raw[2] << 8) | raw[3]
        if embedded:
            if not scope_id:
                scope_id = embedded
            raw = raw[:2] + b"\0\0" + raw[4:]
    return SaInet6(socket.inet_ntop(socket.AF_INET6, raw), scope_id)


_SLOTS = tuple(tuple(i for i in range(8) if m & (1 << i)) for m in range(256))
_CACHE_MAX = 1 << 16


class Decoder:
    """A decoder bound to one architecture's layout tables.

    Sockaddrs are immutable, so decoded ones are cached by their bytes: a
    dump repeats the same gateways, netmasks and interfaces many times.
    """

    def __init__(self, arch: ArchLayouts | str = "amd64") -> None:
        if isinstance(arch, str):
            arch = LAYOUTS[arch]
        self.arch = arch
        a = arch.sa_align
        self._sa_size = tuple(a if n == 0 else 1 + ((n - 1) | (a - 1)) for n in range(256))
        # Only the fields the messages carry, in offset order, from the tables.
        self._rtm = arch.rt_msghdr.projection((
            "rtm_type", "rtm_index", "rtm_flags", "rtm_addrs", "rtm_pid",
            "rtm_seq", "rtm_errno", "rtm_rmx.rmx_mtu"))
        self._ifm = arch.if_msghdr.projection((
            "ifm_type", "ifm_addrs", "ifm_flags", "ifm_index",
            "ifm_data.ifi_type", "ifm_data.ifi_link_state", "ifm_data.ifi_mtu"))
        self._ifam = arch.ifa_msghdr.projection((
            "ifam_type", "ifam_addrs", "ifam_flags", "ifam_index", "ifam_metric"))
        self._ifmam = arch.ifma_msghdr.projection((
            "ifmam_type", "ifmam_addrs", "ifmam_flags", "ifmam_index"))
        self._ifan = arch.if_announcemsghdr.projection((
            "ifan_type", "ifan_index", "ifan_name", "ifan_what"))
        self._hdr_size = {
            "rtm": arch.rt_msghdr.size, "ifm": arch.if_msghdr.size,
            "ifam": arch.ifa_msghdr.size, "ifmam": arch.ifma_msghdr.size,
            "ifan": arch.if_announcemsghdr.size}
        self._rtm_size = arch.rt_msghdr.size
        # Sockaddr member offsets, from the tables like everything else.
        sin, sin6, sdl = (arch.sockaddr_in.offsets(), arch.sockaddr_in6.offsets(),
                          arch.sockaddr_dl.offsets())
        self._sin_port, self._sin_addr = sin["sin_port"][0], sin["sin_addr"][0]
        self._sin_min = self._sin_addr + 4
        self._sin6_port, self._sin6_addr = sin6["sin6_port"][0], sin6["sin6_addr"][0]
        self._sin6_scope = sin6["sin6_scope_id"][0]
        self._sin6_size = arch.sockaddr_in6.size
        self._sdl_hdr = arch.sockaddr_dl.projection(("sdl_index", "sdl_type", "sdl_nlen", "sdl_alen"))
        self._sdl_data = sdl["sdl_data"][0]
        self._cache: dict = {}

    # -- messages ---------------------------------------------------------

    def iter_messages(self, buf: bytes | bytearray | memoryview) -> Iterator[Message]:
        """Yield each message in ``buf`` (a socket read or a sysctl dump)."""
        return iter(self.decode(buf))

    def decode(self, buf: bytes | bytearray | memoryview) -> list[Message]:
        """All messages in ``buf``: a socket read or a sysctl dump."""
        data = buf if isinstance(buf, bytes) else bytes(buf)
        out: list[Message] = []
        off, end = 0, len(data)
        unpack_prefix = _PREFIX.unpack_from
        append, message = out.append, self._message
        while off < end:
            if end - off < 4:
                raise ParseError(f"{end - off} trailing bytes at offset {off}")
            msglen, version, mtype = unpack_prefix(data, off)
            if msglen < 4 or off + msglen > end:
                raise ParseError(f"message at offset {off}: length {msglen} "
                                 f"with {end - off} bytes left")
            append(message(data, off, msglen, version, mtype))
            off += msglen
        return out

    def _message(self, data: bytes, off: int, msglen: int, version: int, mtype: int) -> Message:
        if version != _RTM_VERSION:
            return UnknownMsg(mtype, version, msglen)
        end = off + msglen
        hs = self._hdr_size
        if mtype in _ROUTE_TYPES:
            size = self._rtm_size
            if msglen < size:
                self._check(msglen, size, off, mtype)
            t, idx, flags, addrs, pid, seq, err, mtu = self._rtm.unpack_from(data, off)
            return RouteMsg(t, idx, flags, pid, seq, err, mtu,
                            self._sockaddrs(data, off + size, end, addrs))
        if mtype == _RTM_IFINFO:
            self._check(msglen, hs["ifm"], off, mtype)
            t, addrs, flags, idx, ift, ls, mtu = self._ifm.unpack_from(data, off)
            sas = self._sockaddrs(data, off + hs["ifm"], end, addrs)
            return IfInfoMsg(t, idx, flags, ift, ls, mtu, sas)
        if mtype in _IFA_TYPES:
            self._check(msglen, hs["ifam"], off, mtype)
            t, addrs, flags, idx, metric = self._ifam.unpack_from(data, off)
            sas = self._sockaddrs(data, off + hs["ifam"], end, addrs)
            return IfAddrMsg(t, idx, flags, metric, sas)
        if mtype in _IFMA_TYPES:
            self._check(msglen, hs["ifmam"], off, mtype)
            t, addrs, flags, idx = self._ifmam.unpack_from(data, off)
            sas = self._sockaddrs(data, off + hs["ifmam"], end, addrs)
            return IfMaddrMsg(t, idx, flags, sas)
        if mtype in _ANNOUNCE_TYPES:
            self._check(msglen, hs["ifan"], off, mtype)
            t, idx, name, what = self._ifan.unpack_from(data, off)
            return IfAnnounceMsg(t, idx, name.split(b"\0", 1)[0].decode("ascii", "replace"), what)
        return UnknownMsg(mtype, version, msglen)

    @staticmethod
    def _check(msglen: int, size: int, off: int, mtype: int) -> None:
        if msglen < size:
            raise ParseError(f"message type {mtype} at offset {off}: "
                             f"length {msglen} < header {size}")

    # -- sockaddrs --------------------------------------------------------

    def _sockaddrs(self, data: bytes, off: int, end: int, addrs: int) -> dict[int, Sockaddr]:
        # The hot loop of the parser: kept flat, with the cache inline.
        if addrs & ~0xFF:
            raise ParseError(f"address bitmask {addrs:#x} names unknown slots")
        out: dict[int, Sockaddr] = {}
        cache = self._cache
        sizes = self._sa_size
        family_hint = 0
        for slot in _SLOTS[addrs]:
            if off >= end:
                raise ParseError(f"sockaddr slot {slot} starts past the message end")
            sa_len = data[off]
            nxt = off + sa_len
            if nxt > end:
                raise ParseError(f"sockaddr slot {slot}: length {sa_len} overruns the message")
            raw = data[off:nxt]
            if slot == RTAX_NETMASK or slot == RTAX_GENMASK:
                key = (raw, family_hint)
                sa = cache.get(key)
                if sa is None:
                    sa = self._mask(raw, family_hint)
                    if len(cache) >= _CACHE_MAX:
                        cache.clear()
                    cache[key] = sa
            else:
                sa = cache.get(raw)
                if sa is None:
                    sa = self._sockaddr(raw)
                    if len(cache) >= _CACHE_MAX:
                        cache.clear()
                    cache[raw] = sa
                if not family_hint:
                    tp = type(sa)
                    family_hint = _AF_INET if tp is SaInet else _AF_INET6 if tp is SaInet6 else 0
            out[slot] = sa
            off += sizes[sa_len]
        return out

    def _sockaddr(self, raw: bytes) -> Sockaddr:
        n = len(raw)
        if n == 0:
            return SaEmpty()
        if n < 2:
            raise ParseError("sockaddr shorter than its length and family bytes")
        fam = raw[1]
        if fam == _AF_INET:
            if n < self._sin_min:
                raw = raw + _ZERO16[:self._sin_min - n]
            a, p = self._sin_addr, self._sin_port
            return SaInet(_ntop(_PF_INET, raw[a:a + 4]), (raw[p] << 8) | raw[p + 1])
        if fam == _AF_INET6:
            if n < self._sin6_size:
                raw = raw + bytes(self._sin6_size - n)
            a, sc, p = self._sin6_addr, self._sin6_scope, self._sin6_port
            sa = _inet6(raw[a:a + 16], int.from_bytes(raw[sc:sc + 4], "little"))
            port = (raw[p] << 8) | raw[p + 1]
            return SaInet6(sa.addr, sa.scope_id, port) if port else sa
        if fam == _AF_LINK:
            d = self._sdl_data
            if n < d:
                raise ParseError(f"sockaddr_dl of length {n}")
            index, iftype, nlen, alen = self._sdl_hdr.unpack_from(raw)
            if d + nlen + alen > n:
                raise ParseError(f"sockaddr_dl name+address {nlen}+{alen} overrun sdl_len {n}")
            name = raw[d:d + nlen].decode("ascii", "replace")
            return SaLink(index, iftype, name, raw[d + nlen:d + nlen + alen])
        if fam == 0 and n <= 8 and not raw.strip(b"\0"):
            return SaEmpty()
        return SaOther(fam, raw[2:])

    def _mask(self, raw: bytes, family: int) -> Sockaddr:
        """A netmask: its own family if set, else the family of the DST/IFA it masks.

        Radix-tree netmasks are trimmed after their last non-zero byte and
        may carry family 0; the missing bytes are zero.
        """
        n = len(raw)
        fam = raw[1] if n >= 2 else 0
        if fam == 0:
            fam = family
        if fam == _AF_INET:
            a = self._sin_addr
            body = raw[a:a + 4] + _ZERO16
            return SaInet(socket.inet_ntop(socket.AF_INET, body[:4]))
        if fam == _AF_INET6:
            a = self._sin6_addr
            body = raw[a:a + 16] + _ZERO16
            return SaInet6(socket.inet_ntop(socket.AF_INET6, body[:16]))
        return self._sockaddr(raw) if n else SaEmpty()


_DEFAULT = Decoder("amd64")


def decode(buf: bytes | bytearray | memoryview, arch: str = "amd64") -> list[Message]:
    """Decode every message in ``buf`` with the layout of FreeBSD ``arch``."""
    return (_DEFAULT if arch == "amd64" else Decoder(arch)).decode(buf)
