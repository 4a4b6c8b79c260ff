"""FreeBSD PF_ROUTE message layouts, as data.

Each table quotes the C struct it mirrors (FreeBSD <net/route.h>, <net/if.h>)
and lists its fields in order as (C member designator, struct format).  The
offsets are not written down: they follow from the formats, and
tests/routesock/test_static_asserts.py turns every size, offset and constant
below into a C file of ``_Static_assert`` compiled against FreeBSD's own
headers for each architecture, so a wrong entry breaks the build.

FreeBSD amd64 and arm64 are both LP64 with the same alignment rules, so one
table serves both; ``LAYOUTS`` still maps each architecture to its tables so
an ILP32 one (i386, where rt_msghdr is 92 bytes and SA_SIZE rounds to 4)
would be a new entry, not a code change.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from struct import Struct

__all__ = ["Layout", "ArchLayouts", "LAYOUTS", "CONSTANTS", "SA_ALIGN"]


@dataclass(frozen=True)
class Layout:
    """One C struct as an ordered field list; '_'-prefixed names are padding we skip."""

    c_struct: str
    fields: tuple[tuple[str, str], ...]
    size: int

    @property
    def fmt(self) -> str:
        return "<" + "".join(f for _, f in self.fields)

    @property
    def struct(self) -> Struct:
        return Struct(self.fmt)

    def offsets(self) -> dict[str, tuple[int, int]]:
        """Member designator -> (offset, size), computed from the formats."""
        out: dict[str, tuple[int, int]] = {}
        off = 0
        for name, f in self.fields:
            n = struct.calcsize("<" + f)
            out[name] = (off, n)
            off += n
        return out

    def projection(self, names: tuple[str, ...]) -> Struct:
        """A Struct that unpacks only ``names`` (given in offset order), skipping
        the rest as padding: the parser's fast path, still derived from the table."""
        offs = self.offsets()
        fmt, pos = "<", 0
        fields = dict(self.fields)
        for name in names:
            off, size = offs[name]
            if off < pos:
                raise ValueError(f"{name} is not in offset order")
            if off > pos:
                fmt += f"{off - pos}x"
            fmt += fields[name]
            pos = off + size
        return Struct(fmt)

    def index(self, name: str) -> int:
        """Position of a member in the unpacked tuple."""
        i = 0
        for fname, f in self.fields:
            if fname == name:
                return i
            i += len(struct.unpack("<" + f, bytes(struct.calcsize("<" + f))))
        raise KeyError(name)


def _rmx(prefix: str) -> tuple[tuple[str, str], ...]:
    # struct rt_metrics { u_long rmx_locks, rmx_mtu, rmx_hopcount, rmx_expire,
    #   rmx_recvpipe, rmx_sendpipe, rmx_ssthresh, rmx_rtt, rmx_rttvar,
    #   rmx_pksent, rmx_weight, rmx_nhidx, rmx_filler[2]; }
    names = ("rmx_locks", "rmx_mtu", "rmx_hopcount", "rmx_expire",
             "rmx_recvpipe", "rmx_sendpipe", "rmx_ssthresh", "rmx_rtt",
             "rmx_rttvar", "rmx_pksent", "rmx_weight", "rmx_nhidx")
    return tuple((f"{prefix}.{n}", "Q") for n in names) + ((f"{prefix}.rmx_filler", "2Q"),)


# struct rt_msghdr {
#     u_short rtm_msglen; u_char rtm_version; u_char rtm_type;
#     u_short rtm_index; u_short _rtm_spare1; int rtm_flags; int rtm_addrs;
#     pid_t rtm_pid; int rtm_seq; int rtm_errno; int rtm_fmask;
#     u_long rtm_inits; struct rt_metrics rtm_rmx; };
RT_MSGHDR = Layout("rt_msghdr", (
    ("rtm_msglen", "H"), ("rtm_version", "B"), ("rtm_type", "B"),
    ("rtm_index", "H"), ("_rtm_spare1", "H"), ("rtm_flags", "i"),
    ("rtm_addrs", "i"), ("rtm_pid", "i"), ("rtm_seq", "i"),
    ("rtm_errno", "i"), ("rtm_fmask", "i"), ("rtm_inits", "Q"),
) + _rmx("rtm_rmx"), 152)

# struct if_data (machine independent since FreeBSD 11): 6 u_char, u_short
# ifi_datalen, u_int mtu, metric, uint64_t baudrate, 13 uint64_t counters,
# time_t ifi_epoch, struct timeval ifi_lastchange.
_IF_DATA = (
    ("ifi_type", "B"), ("ifi_physical", "B"), ("ifi_addrlen", "B"),
    ("ifi_hdrlen", "B"), ("ifi_link_state", "B"), ("ifi_vhid", "B"),
    ("ifi_datalen", "H"), ("ifi_mtu", "I"), ("ifi_metric", "I"),
    ("ifi_baudrate", "Q"), ("ifi_ipackets", "Q"), ("ifi_ierrors", "Q"),
    ("ifi_opackets", "Q"), ("ifi_oerrors", "Q"), ("ifi_collisions", "Q"),
    ("ifi_ibytes", "Q"), ("ifi_obytes", "Q"), ("ifi_imcasts", "Q"),
    ("ifi_omcasts", "Q"), ("ifi_iqdrops", "Q"), ("ifi_oqdrops", "Q"),
    ("ifi_noproto", "Q"), ("ifi_hwassist", "Q"), ("ifi_epoch", "q"),
    ("ifi_lastchange.tv_sec", "q"), ("ifi_lastchange.tv_usec", "q"),
)
IF_DATA = Layout("if_data", _IF_DATA, 152)

# struct if_msghdr { u_short ifm_msglen; u_char ifm_version; u_char ifm_type;
#     int ifm_addrs; int ifm_flags; u_short ifm_index; u_short _ifm_spare1;
#     struct if_data ifm_data; };
IF_MSGHDR = Layout("if_msghdr", (
    ("ifm_msglen", "H"), ("ifm_version", "B"), ("ifm_type", "B"),
    ("ifm_addrs", "i"), ("ifm_flags", "i"), ("ifm_index", "H"),
    ("_ifm_spare1", "H"),
) + tuple((f"ifm_data.{n}", f) for n, f in _IF_DATA), 168)

# struct ifa_msghdr { u_short ifam_msglen; u_char ifam_version;
#     u_char ifam_type; int ifam_addrs; int ifam_flags; u_short ifam_index;
#     u_short _ifam_spare1; int ifam_metric; };   -- 20 bytes, not 8-aligned
IFA_MSGHDR = Layout("ifa_msghdr", (
    ("ifam_msglen", "H"), ("ifam_version", "B"), ("ifam_type", "B"),
    ("ifam_addrs", "i"), ("ifam_flags", "i"), ("ifam_index", "H"),
    ("_ifam_spare1", "H"), ("ifam_metric", "i"),
), 20)

# struct ifma_msghdr { u_short ifmam_msglen; u_char ifmam_version;
#     u_char ifmam_type; int ifmam_addrs; int ifmam_flags;
#     u_short ifmam_index; u_short _ifmam_spare1; };
IFMA_MSGHDR = Layout("ifma_msghdr", (
    ("ifmam_msglen", "H"), ("ifmam_version", "B"), ("ifmam_type", "B"),
    ("ifmam_addrs", "i"), ("ifmam_flags", "i"), ("ifmam_index", "H"),
    ("_ifmam_spare1", "H"),
), 16)

# struct if_announcemsghdr { u_short ifan_msglen; u_char ifan_version;
#     u_char ifan_type; u_short ifan_index; char ifan_name[IFNAMSIZ];
#     u_short ifan_what; };
IF_ANNOUNCEMSGHDR = Layout("if_announcemsghdr", (
    ("ifan_msglen", "H"), ("ifan_version", "B"), ("ifan_type", "B"),
    ("ifan_index", "H"), ("ifan_name", "16s"), ("ifan_what", "H"),
), 24)

# struct sockaddr_in { uint8_t sin_len; sa_family_t sin_family;
#     in_port_t sin_port; struct in_addr sin_addr; char sin_zero[8]; };
SOCKADDR_IN = Layout("sockaddr_in", (
    ("sin_len", "B"), ("sin_family", "B"), ("sin_port", "2s"),
    ("sin_addr", "4s"), ("sin_zero", "8s"),
), 16)

# struct sockaddr_in6 { uint8_t sin6_len; sa_family_t sin6_family;
#     in_port_t sin6_port; uint32_t sin6_flowinfo; struct in6_addr sin6_addr;
#     uint32_t sin6_scope_id; };
SOCKADDR_IN6 = Layout("sockaddr_in6", (
    ("sin6_len", "B"), ("sin6_family", "B"), ("sin6_port", "2s"),
    ("sin6_flowinfo", "4s"), ("sin6_addr", "16s"), ("sin6_scope_id", "I"),
), 28)

# struct sockaddr_dl { u_char sdl_len; u_char sdl_family; u_short sdl_index;
#     u_char sdl_type; u_char sdl_nlen; u_char sdl_alen; u_char sdl_slen;
#     char sdl_data[46]; };  -- the minimum work area; sdl_len may differ
SOCKADDR_DL = Layout("sockaddr_dl", (
    ("sdl_len", "B"), ("sdl_family", "B"), ("sdl_index", "H"),
    ("sdl_type", "B"), ("sdl_nlen", "B"), ("sdl_alen", "B"),
    ("sdl_slen", "B"), ("sdl_data", "46s"),
), 54)

# struct sockaddr { unsigned char sa_len; sa_family_t sa_family; char sa_data[14]; };
SOCKADDR = Layout("sockaddr", (
    ("sa_len", "B"), ("sa_family", "B"), ("sa_data", "14s"),
), 16)

# SA_SIZE() in <net/route.h> rounds sockaddr lengths to sizeof(long).
SA_ALIGN = 8


@dataclass(frozen=True)
class ArchLayouts:
    """Every table the parser uses on one FreeBSD architecture."""

    name: str
    zig_target: str
    sa_align: int
    rt_msghdr: Layout
    if_msghdr: Layout
    ifa_msghdr: Layout
    ifma_msghdr: Layout
    if_announcemsghdr: Layout
    if_data: Layout
    sockaddr: Layout
    sockaddr_in: Layout
    sockaddr_in6: Layout
    sockaddr_dl: Layout

    def all(self) -> tuple[Layout, ...]:
        return (self.rt_msghdr, self.if_msghdr, self.ifa_msghdr,
                self.ifma_msghdr, self.if_announcemsghdr, self.if_data,
                self.sockaddr, self.sockaddr_in, self.sockaddr_in6,
                self.sockaddr_dl)


def _lp64(name: str, zig_target: str) -> ArchLayouts:
    return ArchLayouts(name=name, zig_target=zig_target, sa_align=SA_ALIGN,
                       rt_msghdr=RT_MSGHDR, if_msghdr=IF_MSGHDR,
                       ifa_msghdr=IFA_MSGHDR, ifma_msghdr=IFMA_MSGHDR,
                       if_announcemsghdr=IF_ANNOUNCEMSGHDR, if_data=IF_DATA,
                       sockaddr=SOCKADDR, sockaddr_in=SOCKADDR_IN,
                       sockaddr_in6=SOCKADDR_IN6, sockaddr_dl=SOCKADDR_DL)


LAYOUTS: dict[str, ArchLayouts] = {
    "amd64": _lp64("amd64", "x86_64-freebsd"),
    "arm64": _lp64("arm64", "aarch64-freebsd"),
}

# Every constant the parser, tracker or writer uses, by its C name: the
# static-assert test checks each one against FreeBSD's headers.
CONSTANTS: dict[str, int] = {
    "RTM_VERSION": 5,
    "RTM_ADD": 0x01, "RTM_DELETE": 0x02, "RTM_CHANGE": 0x03, "RTM_GET": 0x04,
    "RTM_LOSING": 0x05, "RTM_REDIRECT": 0x06, "RTM_MISS": 0x07,
    "RTM_LOCK": 0x08, "RTM_RESOLVE": 0x0b, "RTM_NEWADDR": 0x0c,
    "RTM_DELADDR": 0x0d, "RTM_IFINFO": 0x0e, "RTM_NEWMADDR": 0x0f,
    "RTM_DELMADDR": 0x10, "RTM_IFANNOUNCE": 0x11, "RTM_IEEE80211": 0x12,
    "RTA_DST": 0x01, "RTA_GATEWAY": 0x02, "RTA_NETMASK": 0x04,
    "RTA_GENMASK": 0x08, "RTA_IFP": 0x10, "RTA_IFA": 0x20,
    "RTA_AUTHOR": 0x40, "RTA_BRD": 0x80, "RTAX_MAX": 8,
    "RTF_UP": 0x1, "RTF_GATEWAY": 0x2, "RTF_HOST": 0x4, "RTF_REJECT": 0x8,
    "RTF_DYNAMIC": 0x10, "RTF_MODIFIED": 0x20, "RTF_DONE": 0x40,
    "RTF_STATIC": 0x800, "RTF_BLACKHOLE": 0x1000, "RTF_LOCAL": 0x200000,
    "RTF_BROADCAST": 0x400000, "RTF_MULTICAST": 0x800000,
    "RTF_LLINFO": 0x400, "RTF_LLDATA": 0x400,
    "RTV_MTU": 0x1,
    "IFAN_ARRIVAL": 0, "IFAN_DEPARTURE": 1, "IFNAMSIZ": 16,
    "IFF_UP": 0x1, "IFF_BROADCAST": 0x2, "IFF_LOOPBACK": 0x8,
    "IFF_POINTOPOINT": 0x10, "IFF_DRV_RUNNING": 0x40,
    "LINK_STATE_UNKNOWN": 0, "LINK_STATE_DOWN": 1, "LINK_STATE_UP": 2,
    "AF_UNSPEC": 0, "AF_INET": 2, "AF_LINK": 18, "AF_INET6": 28,
    "PF_ROUTE": 17, "AF_ROUTE": 17, "SOCK_RAW": 3, "CTL_NET": 4,
    "NET_RT_DUMP": 1, "NET_RT_FLAGS": 2, "NET_RT_IFLIST": 3,
    "SOL_SOCKET": 0xffff, "SO_USELOOPBACK": 0x40, "SO_RERROR": 0x20000, "SO_RCVBUF": 0x1002,
    "ENOBUFS": 55, "ENOMEM": 12, "ESRCH": 3, "EEXIST": 17,
    "IFT_ETHER": 0x06, "IFT_LOOP": 0x18, "IFT_PROPVIRTUAL": 0x35,
    "IFT_L2VLAN": 0x87, "IFT_BRIDGE": 0xd1,
}
