"""The two FreeBSD system calls the listener needs and Linux cannot run.

``open_route_socket()`` is socket(PF_ROUTE, SOCK_RAW, 0); ``sysctl()`` calls
libc's sysctl(3) through ctypes with the usual size-probe-and-retry loop.
Everything else in the listener is platform-free and tested on Linux.
"""
from __future__ import annotations

import ctypes
import errno as errno_mod
import logging
import socket
from typing import Any

from .layout import CONSTANTS as C

LOG = logging.getLogger(__name__)
RCVBUF = 4 << 20        # a large receive buffer makes ENOBUFS resyncs rare
RCVBUF_MIN = 64 << 10   # below this, keep the kernel's default


def set_rcvbuf(sock: Any, want: int = RCVBUF, floor: int = RCVBUF_MIN) -> int:
    """The largest receive buffer up to ``want`` the kernel grants; the
    size in use is returned and logged.

    FreeBSD refuses SO_RCVBUF above kern.ipc.maxsockbuf's share for data
    (sbreserve(): ENOBUFS past maxsockbuf * MCLBYTES / (MSIZE + MCLBYTES),
    about 1.8 MB with the default 2 MB), so halve until it fits.
    """
    size = want
    while size >= floor:
        try:
            sock.setsockopt(C["SOL_SOCKET"], C["SO_RCVBUF"], size)
            break
        except OSError as e:
            if e.errno not in (errno_mod.ENOBUFS, errno_mod.EINVAL):
                raise
            size //= 2
    got = sock.getsockopt(C["SOL_SOCKET"], C["SO_RCVBUF"])
    if got < want:
        LOG.warning("routing socket receive buffer: %d bytes, not %d "
                    "(raise kern.ipc.maxsockbuf for more); a burst of "
                    "changes beyond it costs a full resync", got, want)
    else:
        LOG.info("routing socket receive buffer: %d bytes", got)
    return got


def open_route_socket() -> socket.socket:
    """socket(PF_ROUTE, SOCK_RAW, AF_UNSPEC) with a large receive buffer."""
    sock = socket.socket(C["PF_ROUTE"], socket.SOCK_RAW, 0)
    # Without SO_RERROR FreeBSD drops overflowing messages silently; with it
    # the next read fails with ENOBUFS and the listener resyncs.
    try:
        sock.setsockopt(C["SOL_SOCKET"], C["SO_RERROR"], 1)
    except OSError as e:
        LOG.warning("SO_RERROR unavailable (%s): overflows will go unnoticed", e)
    set_rcvbuf(sock)
    return sock


def _libc() -> Any:
    libc = ctypes.CDLL(None, use_errno=True)
    # int sysctl(const int *name, u_int namelen, void *oldp, size_t *oldlenp,
    #            const void *newp, size_t newlen);  -- declared so that the
    # size_t arguments are passed as 64-bit values.
    libc.sysctl.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_uint, ctypes.c_void_p,
                            ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p, ctypes.c_size_t]
    libc.sysctl.restype = ctypes.c_int
    return libc


def sysctl(mib: list[int], libc: Any = None, tries: int = 8) -> bytes:
    """Read a sysctl whose size may grow between the probe and the read."""
    if libc is None:
        libc = _libc()
    arr = (ctypes.c_int * len(mib))(*mib)
    for _ in range(tries):
        size = ctypes.c_size_t(0)
        if libc.sysctl(arr, len(mib), None, ctypes.byref(size), None, 0) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"sysctl {mib}: {errno_mod.errorcode.get(e, e)}")
        # Leave room for what appears between the two calls.
        size.value += size.value // 8 + 1024
        buf = ctypes.create_string_buffer(size.value)
        if libc.sysctl(arr, len(mib), buf, ctypes.byref(size), None, 0) == 0:
            return buf.raw[:size.value]
        e = ctypes.get_errno()
        if e != errno_mod.ENOMEM:
            raise OSError(e, f"sysctl {mib}: {errno_mod.errorcode.get(e, e)}")
    raise OSError(errno_mod.ENOMEM, f"sysctl {mib}: kept growing")


def route_sysctl(what: int, arg: int, family: int | None = None) -> bytes:
    """{CTL_NET, PF_ROUTE, 0, family, what, arg}: NET_RT_IFLIST (arg = ifindex,
    0 for all), NET_RT_DUMP (arg = fib) or NET_RT_FLAGS with RTF_LLINFO (the
    ARP table, as arp -a reads it).  The ARP dump needs an address family
    (rtsock answers EINVAL for 0), so it defaults to AF_INET; the others to 0."""
    if family is None:
        arp = what == C["NET_RT_FLAGS"] and arg & C["RTF_LLINFO"]
        family = C["AF_INET"] if arp else 0
    return sysctl([C["CTL_NET"], C["PF_ROUTE"], 0, family, what, arg])
