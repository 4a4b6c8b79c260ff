"""A stock DHCP client in a namespace gets its address, MTU and routes
from dhcp.handle().

The test stands in for the datapath trap path: an AF_PACKET socket on the
outer veth end hands every client->server DHCP frame to handle() and writes
the reply back, as the agent does with BSDNET_CTL_XMIT.
"""
from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from typing import Iterator

import pytest

from bsdnet.agent import dhcp
from bsdnet.sandbox.neutron import UDHCPC_HOOK

from .conftest import VethNs, run, sample_network, sample_port

ETH_P_ALL = 0x0003


class TrapLoop(threading.Thread):
    """Reads DHCP requests off an interface and answers through handle()."""

    def __init__(self, ifname: str, port, network) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                  socket.htons(ETH_P_ALL))
        self.sock.bind((ifname, 0))
        self.port, self.network = port, network
        self.server = dhcp.DhcpServer(lease_time=3600)
        self.stop = threading.Event()
        self.seen: list[int] = []       # message types received
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                r, _, _ = select.select([self.sock], [], [], 0.2)
                if not r:
                    continue
                frame, addr = self.sock.recvfrom(65535)
                if addr[2] == socket.PACKET_OUTGOING:
                    continue            # our own replies
                arp = self._arp_reply(frame)
                if arp is not None:
                    self.sock.send(arp)
                    continue
                if not self._is_dhcp_request(frame):
                    continue
                self.seen.append(dhcp.parse_frame(frame).msg_type)
                reply = self.server.handle(frame, self.port, self.network)
                if reply is not None:
                    self.sock.send(reply)
        except BaseException as e:      # surfaced by the test
            self.errors.append(e)

    def _arp_reply(self, frame: bytes) -> bytes | None:
        """The datapath's ARP proxy, for the gateway only: unicast DHCP
        (RELEASE, renewals) needs the server's MAC."""
        if len(frame) < 42 or frame[12:14] != b"\x08\x06" or \
                frame[20:22] != b"\x00\x01":
            return None
        target = frame[38:42]
        if socket.inet_ntoa(target) != self.network.subnets[0].gateway:
            return None
        mine = self.server.server_mac
        return (frame[6:12] + mine + b"\x08\x06" + frame[14:20] +
                b"\x00\x02" + mine + target + frame[22:32])

    @staticmethod
    def _is_dhcp_request(frame: bytes) -> bool:
        if len(frame) < 42 or frame[12:14] != b"\x08\x00":
            return False
        ihl = (frame[14] & 0x0f) * 4
        if frame[23] != 17:
            return False
        return struct.unpack_from("!H", frame, 14 + ihl + 2)[0] == 67

    def close(self) -> None:
        self.stop.set()
        self.join(timeout=5)
        self.sock.close()


@pytest.fixture
def trap(veth_ns: VethNs) -> Iterator[tuple[VethNs, TrapLoop]]:
    net = sample_network(third=77)
    port = sample_port(net, "10.77.0.5")
    loop = TrapLoop(veth_ns.outer, port, net)
    loop.start()
    try:
        yield veth_ns, loop
    finally:
        loop.close()
    assert not loop.errors, loop.errors


def wait_for(cond, limit: float = 30.0) -> None:
    """Poll cond for up to limit seconds (a bound for a hung client, not
    a measurement)."""
    end = time.monotonic() + limit
    while not cond() and time.monotonic() < end:
        time.sleep(0.1)


def ns_out(v: VethNs, *argv: str) -> str:
    return run(["ip", "-n", v.ns, *argv]).stdout


def set_mac(v: VethNs, mac: str) -> None:
    run(["ip", "-n", v.ns, "link", "set", v.inner, "address", mac])
    run(["ip", "-n", v.ns, "link", "set", v.inner, "up"])


def assert_configured(v: VethNs, loop: TrapLoop) -> None:
    addr = ns_out(v, "-4", "addr", "show", "dev", v.inner)
    assert "inet 10.77.0.5/24" in addr, addr
    link = ns_out(v, "link", "show", "dev", v.inner)
    assert " mtu 1400 " in link, link
    routes = ns_out(v, "-4", "route", "show")
    assert "default via 10.77.0.1" in routes, routes
    assert "192.168.5.0/24 via 10.77.0.254" in routes, routes
    assert dhcp.DISCOVER in loop.seen and dhcp.REQUEST in loop.seen




@pytest.mark.root
def test_udhcpc_gets_address_mtu_routes(trap, tmp_path) -> None:
    v, loop = trap
    if shutil.which("udhcpc") is None or \
            not os.path.exists("/etc/udhcpc/default.script"):
        pytest.skip("busybox udhcpc (Debian package udhcpc) not installed")
    set_mac(v, loop.port.mac_address)
    hook = tmp_path / "udhcpc.sh"
    hook.write_text(UDHCPC_HOOK)
    hook.chmod(0o755)
    res = subprocess.run(
        ["ip", "netns", "exec", v.ns, "udhcpc", "-i", v.inner, "-f", "-q",
         "-n", "-t", "10", "-T", "1", "-s", str(hook), "-O", "mtu",
         "-O", "staticroutes"],
        capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert_configured(v, loop)
    resolv = open(f"/etc/netns/{v.ns}/resolv.conf").read()
    assert "nameserver 10.77.0.2" in resolv and "domain example.org" \
        in resolv, resolv
    # A client that stays up releases on SIGUSR2 (unicast, through the
    # gateway's MAC that the loop's ARP proxy gives).
    proc = subprocess.Popen(
        ["ip", "netns", "exec", v.ns, "udhcpc", "-i", v.inner, "-f",
         "-t", "10", "-T", "1", "-s", str(hook)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        bound = loop.seen.count(dhcp.REQUEST) + 1
        wait_for(lambda: loop.seen.count(dhcp.REQUEST) >= bound and
                 "10.77.0.5/24" in ns_out(v, "-4", "addr", "show", "dev",
                                          v.inner))
        proc.send_signal(signal.SIGUSR2)
        wait_for(lambda: dhcp.RELEASE in loop.seen)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert dhcp.RELEASE in loop.seen, out
    assert loop.server.leases[loop.port.id].state == "released"


@pytest.mark.root
def test_dhclient_gets_address_mtu_routes(trap, tmp_path) -> None:
    v, loop = trap
    if shutil.which("dhclient") is None or shutil.which("unshare") is None:
        pytest.skip("isc-dhcp-client or unshare not installed")
    # No DNS or domain here: dhclient-script would rewrite resolv.conf
    # through a temporary file in the host's /etc.
    net = sample_network(third=77, **{"dns-domain": ""})
    net = type(net)(**{**net.__dict__, "subnets": tuple(
        type(s)(**{**s.__dict__, "dns_servers": ()}) for s in net.subnets)})
    loop.network = net
    set_mac(v, loop.port.mac_address)
    pidf, leasef = tmp_path / "dhclient.pid", tmp_path / "dhclient.leases"
    try:
        # Own UTS namespace: dhclient-script may set the host name.
        res = subprocess.run(
            ["ip", "netns", "exec", v.ns, "unshare", "--uts", "dhclient",
             "-1", "-v", "-pf", str(pidf), "-lf", str(leasef), v.inner],
            capture_output=True, text=True, timeout=90)
        assert res.returncode == 0, res.stdout + res.stderr
        assert_configured(v, loop)
    finally:
        if pidf.exists():
            try:
                os.kill(int(pidf.read_text().split()[0]), 15)
            except (ValueError, ProcessLookupError):
                pass
