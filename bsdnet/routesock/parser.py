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
import struct
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
_PREFIX = struct.Struct("<HBB")
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


class Decoder:
    """A decoder bound to one architecture's layout tables."""

    def __init__(self, arch: ArchLayouts | str = "amd64") -> None:
        if isinstance(arch, str):
            arch = LAYOUTS[arch]
        self.arch = arch
        self._align_mask = arch.sa_align - 1
        self._rtm = arch.rt_msghdr.struct
        self._ifm = arch.if_msghdr.struct
        self._ifam = arch.ifa_msghdr.struct
        self._ifmam = arch.ifma_msghdr.struct
        self._ifan = arch.if_announcemsghdr.struct
        r, i = arch.rt_msghdr, arch.if_msghdr
        self._rtm_ix = tuple(r.index(n) for n in (
            "rtm_type", "rtm_index", "rtm_flags", "rtm_addrs", "rtm_pid",
            "rtm_seq", "rtm_errno", "rtm_rmx.rmx_mtu"))
        self._ifm_ix = tuple(i.index(n) for n in (
            "ifm_type", "ifm_index", "ifm_flags", "ifm_addrs",
            "ifm_data.ifi_type", "ifm_data.ifi_link_state", "ifm_data.ifi_mtu"))
        self._sdl_hdr = struct.Struct("<BBHBBBB")
        self._sin6_off = {n: o for n, (o, _) in arch.sockaddr_in6.offsets().items()}

    # -- messages ---------------------------------------------------------

    def iter_messages(self, buf: bytes | bytearray | memoryview) -> Iterator[Message]:
        """Yield each message in ``buf`` (a socket read or a sysctl dump)."""
        mv = memoryview(buf).cast("B") if not isinstance(buf, bytes) else buf
        data = bytes(mv)
        off, end = 0, len(data)
        while off < end:
            if end - off < 4:
                raise ParseError(f"{end - off} trailing bytes at offset {off}")
            msglen, version, mtype = _PREFIX.unpack_from(data, off)
            if msglen < 4 or off + msglen > end:
                raise ParseError(f"message at offset {off}: length {msglen} "
                                 f"with {end - off} bytes left")
            yield self._message(data, off, msglen, version, mtype)
            off += msglen

    def decode(self, buf: bytes | bytearray | memoryview) -> list[Message]:
        """All messages in ``buf``, as a list."""
        return list(self.iter_messages(buf))

    def _message(self, data: bytes, off: int, msglen: int, version: int, mtype: int) -> Message:
        if version != C["RTM_VERSION"]:
            return UnknownMsg(mtype, version, msglen)
        end = off + msglen
        if mtype in _ROUTE_TYPES:
            h = self._header(self._rtm, data, off, msglen)
            t, idx, flags, addrs, pid, seq, err, mtu = (h[k] for k in self._rtm_ix)
            sas = self._sockaddrs(data, off + self._rtm.size, end, addrs)
            return RouteMsg(t, idx, flags, pid, seq, err, mtu, sas)
        if mtype == C["RTM_IFINFO"]:
            h = self._header(self._ifm, data, off, msglen)
            t, idx, flags, addrs, ift, ls, mtu = (h[k] for k in self._ifm_ix)
            sas = self._sockaddrs(data, off + self._ifm.size, end, addrs)
            return IfInfoMsg(t, idx, flags, ift, ls, mtu, sas)
        if mtype in _IFA_TYPES:
            _, _, t, addrs, flags, idx, _, metric = self._header(self._ifam, data, off, msglen)
            sas = self._sockaddrs(data, off + self._ifam.size, end, addrs)
            return IfAddrMsg(t, idx, flags, metric, sas)
        if mtype in _IFMA_TYPES:
            _, _, t, addrs, flags, idx, _ = self._header(self._ifmam, data, off, msglen)
            sas = self._sockaddrs(data, off + self._ifmam.size, end, addrs)
            return IfMaddrMsg(t, idx, flags, sas)
        if mtype in _ANNOUNCE_TYPES:
            _, _, t, idx, name, what = self._header(self._ifan, data, off, msglen)
            return IfAnnounceMsg(t, idx, name.split(b"\0", 1)[0].decode("ascii", "replace"), what)
        return UnknownMsg(mtype, version, msglen)

    @staticmethod
    def _header(st: struct.Struct, data: bytes, off: int, msglen: int) -> tuple:
        if msglen < st.size:
            raise ParseError(f"message type {data[off + 3]} at offset {off}: "
                             f"length {msglen} < header {st.size}")
        return st.unpack_from(data, off)

    # -- sockaddrs --------------------------------------------------------

    def _sockaddrs(self, data: bytes, off: int, end: int, addrs: int) -> dict[int, Sockaddr]:
        out: dict[int, Sockaddr] = {}
        if addrs & ~0xFF:
            raise ParseError(f"address bitmask {addrs:#x} names unknown slots")
        mask = self._align_mask
        family_hint = 0
        for slot in range(8):
            if not addrs & (1 << slot):
                continue
            if off >= end:
                raise ParseError(f"sockaddr slot {slot} starts past the message end")
            sa_len = data[off]
            size = (1 + ((sa_len - 1) | mask)) if sa_len else mask + 1
            if off + sa_len > end:
                raise ParseError(f"sockaddr slot {slot}: length {sa_len} overruns the message")
            raw = data[off:off + sa_len]
            if slot == RTAX_NETMASK or slot == RTAX_GENMASK:
                sa = self._mask(raw, family_hint)
            else:
                sa = self._sockaddr(raw)
                if family_hint == 0 and isinstance(sa, (SaInet, SaInet6)):
                    family_hint = _AF_INET if isinstance(sa, SaInet) else _AF_INET6
            out[slot] = sa
            # The last sockaddr may end without its rounding padding.
            off = min(off + size, end)
        return out

    def _sockaddr(self, raw: bytes) -> Sockaddr:
        n = len(raw)
        if n == 0:
            return SaEmpty()
        if n < 2:
            raise ParseError("sockaddr shorter than its length and family bytes")
        fam = raw[1]
        if fam == _AF_INET:
            if n < 8:
                raw = raw + _ZERO16[:8 - n]
            return SaInet(socket.inet_ntop(socket.AF_INET, raw[4:8]), (raw[2] << 8) | raw[3])
        if fam == _AF_INET6:
            if n < 28:
                raw = raw + bytes(28 - n)
            o = self._sin6_off
            addr = raw[o["sin6_addr"]:o["sin6_addr"] + 16]
            scope = int.from_bytes(raw[o["sin6_scope_id"]:o["sin6_scope_id"] + 4], "little")
            sa = _inet6(addr, scope)
            port = (raw[2] << 8) | raw[3]
            return SaInet6(sa.addr, sa.scope_id, port) if port else sa
        if fam == _AF_LINK:
            if n < 8:
                raise ParseError(f"sockaddr_dl of length {n}")
            _, _, index, iftype, nlen, alen, _slen = self._sdl_hdr.unpack_from(raw)
            if 8 + nlen + alen > n:
                raise ParseError(f"sockaddr_dl name+address {nlen}+{alen} overrun sdl_len {n}")
            name = raw[8:8 + nlen].decode("ascii", "replace")
            return SaLink(index, iftype, name, raw[8 + nlen:8 + nlen + alen])
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
            body = (raw[4:8] if n > 4 else b"") + _ZERO16
            return SaInet(socket.inet_ntop(socket.AF_INET, body[:4]))
        if fam == _AF_INET6:
            body = (raw[8:24] if n > 8 else b"") + _ZERO16
            return SaInet6(socket.inet_ntop(socket.AF_INET6, body[:16]))
        return self._sockaddr(raw) if n else SaEmpty()


_DEFAULT = Decoder("amd64")


def decode(buf: bytes | bytearray | memoryview, arch: str = "amd64") -> list[Message]:
    """Decode every message in ``buf`` with the layout of FreeBSD ``arch``."""
    return (_DEFAULT if arch == "amd64" else Decoder(arch)).decode(buf)
