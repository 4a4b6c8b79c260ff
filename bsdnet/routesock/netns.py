"""Run a few calls inside a named network namespace (Linux).

Sockets keep the namespace they were created in, so creating the listener's
sockets inside ``in_netns()`` is enough to watch that namespace from this
process.  setns(2) changes only the calling thread, and we switch back at
once.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from typing import Iterator

CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


@contextlib.contextmanager
def in_netns(name: str | None) -> Iterator[None]:
    """Enter /run/netns/<name> for the duration of the block (no-op for None)."""
    if name is None:
        yield
        return
    own = os.open(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)
