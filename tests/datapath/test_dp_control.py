"""The control half of the trap channel: XMIT, and malformed messages
that must be counted and logged, never acted on or crash the daemon."""
from __future__ import annotations

import random
import socket
import struct

import pytest

from bsdnet.shm.abi import lib
from bsdnet.shm.tables import Vif
from bsdnet.datapath.control import ControlClient

from .conftest import read_log
from .helpers import open_tables, os_index, wait_for, write_raw_vif
from .nsutil import ifindex, ip, packet_socket, suffix

pytestmark = pytest.mark.root


def _attached(datapath, namespaces):
    ns = namespaces.add("bdn")
    a, b = f"va{suffix()}", f"vb{suffix()}"
    namespaces.veth(ns, a, ns, b)
    for dev in (a, b):      # room for the big XMIT frame
        ip("link", "set", dev, "mtu", "9000", ns=ns)
    dp = datapath(netns=ns)
    region, tables = open_tables(dp.config.shm)
    vif = tables.vifs.add(Vif(type=lib.BSDNET_VIF_VIRTUAL, name=a))
    wait_for(lambda: os_index(region, vif) == ifindex(ns, a), "attach")
    return dp, region, ns, vif, b


def _frame(tag: bytes) -> bytes:
    # Broadcast, a local experimental ethertype, a recognisable payload.
    return (b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5" +
            tag + b"\0" * (46 - len(tag)))


@pytest.mark.parametrize("size", [60, 3000])
def test_xmit_sends_frame_on_vif(datapath, namespaces, size):
    """Small frames go out in a TX batch, frames too big for a batch slot
    through a plain send(): both arrive."""
    dp, region, ns, vif, peer = _attached(datapath, namespaces)
    cap = packet_socket(ns, peer)
    try:
        cap.settimeout(1.0)
        tag = b"bsdnet-xmit-" + suffix().encode()
        frame = _frame(tag) + b"\0" * (size - 60)
        with ControlClient(dp.config.trap_socket) as ctl:
            ctl.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)

            def seen() -> bool:
                ctl.xmit(vif, frame)
                try:
                    while True:
                        got = cap.recv(65535)
                        if tag in got:
                            return len(got) == size
                except TimeoutError:
                    return False
            wait_for(seen, f"{size}-byte XMIT frame on the peer")
    finally:
        cap.close()
        region.close()


def test_malformed_control_messages(datapath, namespaces, sockdir):
    dp, region, ns, vif, peer = _attached(datapath, namespaces)
    hdr = struct.Struct("=HHIII")
    bad = [
        b"",
        b"\x01\x00\x00",
        hdr.pack(99, 0, 0, 0, 0),                     # unknown type
        hdr.pack(0, 0, 0, 0, 0),
        hdr.pack(lib.BSDNET_CTL_RELEASE, 0, 1, 1, 0) + b"x",
        hdr.pack(lib.BSDNET_CTL_VIF_SYNC, 0, 0, 0, 0) + b"junk",
        hdr.pack(lib.BSDNET_CTL_XMIT, vif, 0, 0, 1000) + _frame(b"short"),
        hdr.pack(lib.BSDNET_CTL_XMIT, vif, 0, 0, 0),   # empty frame
        hdr.pack(lib.BSDNET_CTL_XMIT, 65535, 0, 0, 60) + _frame(b"x")[:60],
        hdr.pack(lib.BSDNET_CTL_XMIT, 9, 0, 0, 60) + _frame(b"x")[:60],
        hdr.pack(lib.BSDNET_CTL_XMIT, vif, 0, 0, 0xffffffff) + b"\0" * 64,
        hdr.pack(lib.BSDNET_CTL_XMIT, vif, 0, 0, 70000) + b"\0" * 70000,
        hdr.pack(lib.BSDNET_CTL_XMIT, vif, 0, 0, 13) + b"\0" * 13,
        # Over the interface's MTU (9000) with a tag's room (18 bytes).
        hdr.pack(lib.BSDNET_CTL_XMIT, vif, 0, 0, 9019) + b"\0" * 9019,
    ]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        for msg in bad:
            s.sendto(msg, dp.config.trap_socket)
        # Well-formed but naming flows that do not exist: the core checks.
        with ControlClient(dp.config.trap_socket) as ctl:
            for flow, gen in ((0xffffffff, 0), (0, 0xffffff), (12345, 1)):
                ctl.release(flow, gen)
            # Still serving: a VIF_SYNC after the junk is acted on.
            write_raw_vif(region, vif, lib.BSDNET_VIF_NONE, b"")
            ctl.vif_sync()
            wait_for(lambda: os_index(region, vif) == 0, "detach after junk")
    assert dp.alive()
    log = read_log(sockdir)
    assert "malformed control message dropped" in log
    assert dp.stop() == 0
    log = read_log(sockdir)
    assert f"{len(bad)} malformed" in log
    region.close()


def test_random_control_datagrams(datapath, namespaces):
    """Seeded random datagrams, half of them with a valid type in front:
    the daemon survives and still acts on a good message afterwards."""
    dp, region, ns, vif, peer = _attached(datapath, namespaces)
    rnd = random.Random(20261121)
    hdr = struct.Struct("=HHIII")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        for i in range(300):
            body = rnd.randbytes(rnd.choice([0, 1, 15, 16, 17, 64, 1500]))
            if i % 2:
                body = hdr.pack(rnd.choice([1, 2, 3]), rnd.choice([0, vif,
                                rnd.getrandbits(16)]), rnd.getrandbits(32),
                                rnd.getrandbits(32),
                                rnd.choice([0, len(body),
                                            rnd.getrandbits(32)])) + body
            s.sendto(body, dp.config.trap_socket)
    with ControlClient(dp.config.trap_socket) as ctl:
        write_raw_vif(region, vif, lib.BSDNET_VIF_NONE, b"")
        ctl.vif_sync()
        wait_for(lambda: os_index(region, vif) == 0, "detach after junk")
    assert dp.alive()
    assert dp.stop() == 0
    region.close()
