"""/dev/bsdnet's ioctls as Python sees them: structs, request numbers.

The argument structs are cffi's reading of kmod/freebsd/bsdnet_ioctl.h
itself (comments, preprocessor lines and _Static_asserts stripped, what
is left is plain declarations), so no offset is written twice.  The
request numbers are computed here with FreeBSD's encoding (sys/ioccom.h)
from the header's own #define lines and the struct sizes cffi reports:
on Linux there is no <sys/ioccom.h> to ask.  tests/agent_freebsd
compiles _Static_asserts of every number, size and offset below against
FreeBSD's headers (amd64, arm64).
"""
from __future__ import annotations

import functools
import os
import re
from typing import Any, NamedTuple

from cffi import FFI

from bsdnet.shm.region import RegionError

# sys/ioccom.h (FreeBSD 14, 15): the parameter length lives in 13 bits
# above the command word, the direction in the top three bits.
IOCPARM_SHIFT = 13
IOCPARM_MASK = (1 << IOCPARM_SHIFT) - 1
IOC_VOID = 0x20000000
IOC_OUT = 0x40000000
IOC_IN = 0x80000000
IOC_INOUT = IOC_IN | IOC_OUT
IOC_DIRMASK = IOC_VOID | IOC_OUT | IOC_IN

_DIRECTIONS = {"_IO": IOC_VOID, "_IOR": IOC_OUT, "_IOW": IOC_IN,
               "_IOWR": IOC_INOUT}

HEADER_NAME = "bsdnet_ioctl.h"
# Copied from kmod/freebsd/ into the package by setup.py's build step, so
# an installed agent has the module's own header.
HEADER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "include",
                      HEADER_NAME)

_COMMENT = re.compile(r"/\*.*?\*/", re.S)
_ASSERT = re.compile(r"_Static_assert\s*\(.*?\)\s*;", re.S)
_IOCDEF = re.compile(
    r"^#define\s+(BSDNET_IOC_\w+)\s+(_IOWR|_IOR|_IOW|_IO)\s*\(\s*'(.)'\s*,"
    r"\s*(\d+)\s*(?:,\s*struct\s+(\w+)\s*)?\)", re.M)


class IoctlError(RegionError):
    """bsdnet_ioctl.h is missing or not what this module can read (a
    RegionError: the daemon reports it as it does a missing region)."""


def ioc(inout: int, group: str, num: int, length: int) -> int:
    """FreeBSD's _IOC(inout, group, num, len)."""
    return inout | ((length & IOCPARM_MASK) << 16) | (ord(group) << 8) | num


def iocparm_len(request: int) -> int:
    """FreeBSD's IOCPARM_LEN(x): the argument size a request carries."""
    return (request >> 16) & IOCPARM_MASK


class Request(NamedTuple):
    name: str           # BSDNET_IOC_...
    direction: int      # IOC_VOID / IOC_IN / IOC_OUT / IOC_INOUT
    group: str
    num: int
    struct: str | None  # "bsdnet_ioc_geometry", or None for _IO
    size: int
    number: int         # the request word ioctl(2) takes


def header_text(path: str = HEADER) -> str:
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except FileNotFoundError:
        raise IoctlError(f"{path}: not found (the device transport reads "
                         "the module's ioctl header from the source "
                         "tree)") from None


def cdef_text(text: str) -> str:
    """The header reduced to what pycparser reads: declarations only."""
    text = _COMMENT.sub("", text)
    text = _ASSERT.sub("", text)
    return "\n".join(line for line in text.splitlines()
                     if not line.lstrip().startswith("#"))


@functools.cache
def ioctl_ffi(path: str = HEADER) -> FFI:
    """cffi's view of the header's structs and enums (ABI mode: fixed-width
    members only, so natural alignment is the C compiler's too; the
    static-assert test holds it to that)."""
    f = FFI()
    f.cdef(cdef_text(header_text(path)))
    return f


@functools.cache
def requests(path: str = HEADER) -> dict[str, Request]:
    """Every BSDNET_IOC_* of the header, encoded."""
    f = ioctl_ffi(path)
    out: dict[str, Request] = {}
    for m in _IOCDEF.finditer(header_text(path)):
        name, macro, group, num, struct = m.groups()
        size = f.sizeof(f"struct {struct}") if struct else 0
        if (struct is None) != (macro == "_IO"):
            raise IoctlError(f"{name}: {macro} with argument {struct!r}")
        out[name] = Request(name, _DIRECTIONS[macro], group, int(num),
                            struct, size,
                            ioc(_DIRECTIONS[macro], group, int(num), size))
    if not out:
        raise IoctlError(f"{path}: no BSDNET_IOC_* request found")
    return out


def request(name: str) -> Request:
    return requests()[name]


def new(struct: str, **fields: Any) -> Any:
    """A zeroed `struct <struct>` with fields set."""
    f = ioctl_ffi()
    p = f.new(f"struct {struct} *")
    for k, v in fields.items():
        setattr(p, k, v)
    return p


def constant(enum: str, name: str) -> int:
    """An enumerator of the header, e.g. ("bsdnet_ioc_attach_flags",
    "BSDNET_IOC_F_ROUTER_MAC")."""
    return int(ioctl_ffi().typeof(f"enum {enum}").relements[name])
