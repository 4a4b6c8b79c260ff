"""The routing socket's receive buffer: as large as kern.ipc.maxsockbuf
allows, the size in use reported (the listener resyncs on overflow)."""
from __future__ import annotations

import errno
import logging

import pytest

from bsdnet.routesock import freebsd_sys
from bsdnet.routesock.layout import CONSTANTS as C

MSIZE, MCLBYTES = 256, 2048


class RouteSocket:
    """SO_RCVBUF as FreeBSD's sosetopt()/sbreserve() treat it: above
    maxsockbuf * MCLBYTES / (MSIZE + MCLBYTES) the call fails with
    ENOBUFS; getsockopt reports the high-water mark set."""

    def __init__(self, maxsockbuf: int = 2 << 20) -> None:
        self.sb_max_adj = maxsockbuf * MCLBYTES // (MSIZE + MCLBYTES)
        self.hiwat = 8192
        self.tries: list[int] = []

    def setsockopt(self, level: int, opt: int, value: int) -> None:
        assert (level, opt) == (C["SOL_SOCKET"], C["SO_RCVBUF"])
        self.tries.append(value)
        if value > self.sb_max_adj:
            raise OSError(errno.ENOBUFS, "No buffer space available")
        self.hiwat = value

    def getsockopt(self, level: int, opt: int) -> int:
        assert (level, opt) == (C["SOL_SOCKET"], C["SO_RCVBUF"])
        return self.hiwat


def test_default_maxsockbuf_gets_a_smaller_buffer(
        caplog: pytest.LogCaptureFixture) -> None:
    s = RouteSocket()
    with caplog.at_level(logging.INFO):
        got = freebsd_sys.set_rcvbuf(s)
    assert s.tries == [4 << 20, 2 << 20, 1 << 20]
    assert got == 1 << 20
    assert "receive buffer: 1048576 bytes, not 4194304" in caplog.text
    assert "kern.ipc.maxsockbuf" in caplog.text


def test_raised_maxsockbuf_gets_the_full_buffer(
        caplog: pytest.LogCaptureFixture) -> None:
    s = RouteSocket(maxsockbuf=16 << 20)
    with caplog.at_level(logging.INFO):
        assert freebsd_sys.set_rcvbuf(s) == 4 << 20
    assert "receive buffer: 4194304 bytes" in caplog.text


def test_tiny_maxsockbuf_keeps_the_default() -> None:
    s = RouteSocket(maxsockbuf=32 << 10)
    assert freebsd_sys.set_rcvbuf(s) == 8192
    assert min(s.tries) == 64 << 10
