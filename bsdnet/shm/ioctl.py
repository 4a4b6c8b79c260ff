"""/dev/bsdnet's ioctls as Python sees them: structs, request numbers.

Both come from kmod/freebsd/bsdnet_ioctl.h compiled into bsdnet.shm._abi
(abi_build.py), with FreeBSD's encoding of the numbers wherever the module
is built.  tests/agent/freebsd compiles _Static_asserts of every number,
size and offset below against FreeBSD's own headers (amd64, arm64).
"""
from __future__ import annotations

import functools
from typing import Any, NamedTuple

from .abi import ffi, lib

# sys/ioccom.h: the argument length sits in the bits above the command
# word, the direction in the top three bits.
IOCPARM_MASK: int = lib.IOCPARM_MASK
IOC_VOID: int = lib.IOC_VOID
IOC_OUT: int = lib.IOC_OUT
IOC_IN: int = lib.IOC_IN
IOC_INOUT: int = lib.IOC_IN | lib.IOC_OUT
IOC_DIRMASK: int = lib.IOC_DIRMASK


def iocparm_len(request: int) -> int:
    """FreeBSD's IOCPARM_LEN(x): the argument size a request carries."""
    return (request >> 16) & IOCPARM_MASK


class Request(NamedTuple):
    name: str           # BSDNET_IOC_...
    number: int         # the request word ioctl(2) takes
    direction: int      # IOC_VOID / IOC_IN / IOC_OUT / IOC_INOUT
    size: int           # bytes of the argument (0 for _IO)


@functools.cache
def requests() -> dict[str, Request]:
    """Every BSDNET_IOC_* request of the header (the constants with a
    direction bit: the header's enum values have none)."""
    out = {}
    for name in dir(lib):
        number = getattr(lib, name)
        if name.startswith("BSDNET_IOC_") and number & IOC_DIRMASK:
            out[name] = Request(name, number, number & IOC_DIRMASK,
                                iocparm_len(number))
    return out


def request(name: str) -> Request:
    return requests()[name]


def structs() -> list[str]:
    """The header's argument structs (without "struct ")."""
    return sorted(s for s in ffi.list_types()[1]
                  if s.startswith("bsdnet_ioc_"))


def new(struct: str, **fields: Any) -> Any:
    """A zeroed `struct <struct>` with fields set."""
    p = ffi.new(f"struct {struct} *")
    for k, v in fields.items():
        setattr(p, k, v)
    return p
