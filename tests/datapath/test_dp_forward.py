"""Forwarding through the real daemon: two VMs on one node, first without
policy (no agent needed), then with policy (trap, publish, release), then
across a SIGKILL of the datapath."""
from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bsdnet.shm.abi import ffi, lib
from bsdnet.datapath.control import ControlClient, Trap, parse_trap

from .conftest import read_log
from .helpers import open_tables, os_index, wait_for
from .nsutil import ifindex, netns, nsexec, packet_socket, tcp_transfer
from .topo import ROUTER_MAC, VM, Node

pytestmark = pytest.mark.root

IP_A, IP_B = "10.77.0.2", "10.77.0.3"


def _node(datapath, namespaces, agent: bool) -> Iterator[Node]:
    """A node namespace with its datapath running (traps sent to
    sockdir/agent.sock if agent) and a region opened for programming."""
    ns = namespaces.add("bdn")
    dp = datapath(netns=ns, agent=agent)
    region, tables = open_tables(dp.config.shm)
    n = Node(namespaces, ns, region, tables)
    n.dp = dp  # type: ignore[attr-defined]
    # Long enough that a slow test host never loses a held packet.
    region.hdr.rh_hold_timeout_ms = 60000
    try:
        yield n
    finally:
        region.close()


@pytest.fixture
def node(datapath, namespaces) -> Iterator[Node]:
    yield from _node(datapath, namespaces, agent=False)


@pytest.fixture
def policy_node(datapath, namespaces) -> Iterator[Node]:
    yield from _node(datapath, namespaces, agent=True)


def _attached(node: Node, *vms: VM) -> None:
    for vm in vms:
        wait_for(lambda vm=vm: os_index(node.region, vm.vif) ==
                 ifindex(node.ns, vm.tap), f"vif {vm.vif} attached")


def _ping(vm: VM, dst: str, count: int = 3) -> subprocess.CompletedProcess:
    # -W bounds each wait; generous so a slow host does not fail it.
    return nsexec(vm.ns, "ping", "-c", str(count), "-i", "0.2", "-W", "10",
                  dst, check=False)


def _neigh_mac(vm: VM, addr: str) -> str | None:
    r = nsexec(vm.ns, "ip", "-j", "neigh", "show", addr, "dev", "eth0")
    entries = json.loads(r.stdout or "[]")
    return entries[0].get("lladdr") if entries else None


def _drops(node: Node, name: str) -> int:
    return int(node.region.stats.st_drops[getattr(lib, name)])


def test_ping_without_policy_and_arp_answered(node):
    vrf = node.tables.vrfs.alloc("vn-a")
    a = node.add_vm(IP_A, vrf)
    b = node.add_vm(IP_B, vrf)
    _attached(node, a, b)
    r = _ping(a, IP_B)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0% packet loss" in r.stdout
    # The VM resolved its peer to the router MAC: the datapath answered.
    assert _neigh_mac(a, IP_B) == ROUTER_MAC
    assert _neigh_mac(b, IP_A) == ROUTER_MAC
    st = node.region.stats
    assert st.st_arp_replies >= 2
    assert st.st_tx_pkts >= 6
    assert st.st_traps == 0
    assert node.region.vifstats[a.vif].vs_rx_pkts >= 3
    assert node.region.vifstats[b.vif].vs_tx_pkts >= 3


def test_no_route_no_arp_answer(node):
    vrf = node.tables.vrfs.alloc("vn-a")
    a = node.add_vm(IP_A, vrf)
    _attached(node, a)
    nsexec(a.ns, "ping", "-c", "1", "-W", "1", "10.77.0.99", check=False)
    wait_for(lambda: _drops(node, "BSDNET_DROP_ARP_NOT_ANSWERED") > 0,
             "ARP for an unrouted address counted as not answered")
    assert _neigh_mac(a, "10.77.0.99") != ROUTER_MAC


class Agent:
    """A minimal agent: every FLOW_MISS trap is published FORWARD and
    released.  Records the traps it saw."""

    def __init__(self, path: Path, region, trap_socket: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.region = region
        self.ft = ffi.new("struct bsdnet_flowtab *")
        lib.bsdnet_flowtab_bind(self.ft, region.hdr, region.base)
        self.ctl = ControlClient(trap_socket)
        self.traps: list[Trap] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Agent":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            try:
                t = parse_trap(data)
            except ValueError as e:
                self.errors.append(str(e))
                continue
            self.traps.append(t)
            if (t.reason == lib.BSDNET_TRAP_FLOW_MISS and
                    t.flow != 0xffffffff):
                if lib.bsdnet_flow_publish(self.ft, t.flow, t.gen,
                                           lib.BSDNET_FA_FORWARD, 0,
                                           0xffffffff):
                    self.ctl.release(t.flow, t.gen)
                else:
                    self.errors.append(f"publish {t.flow}/{t.gen} failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        self.ctl.close()


def _need_flowtab() -> None:
    if not hasattr(lib, "bsdnet_flow_publish"):
        pytest.skip("bsdnet.shm._abi has no flow table functions (agent layer "
                    "not built with bsdnet_flowtab)")


@pytest.fixture
def agent(policy_node, sockdir) -> Iterator[Agent]:
    _need_flowtab()
    node = policy_node
    ag = Agent(sockdir / "agent.sock", node.region,
               node.dp.config.trap_socket).start()  # type: ignore[attr-defined]
    try:
        yield ag
    finally:
        ag.stop()


def test_policy_traps_then_forwards(policy_node, agent):
    node = policy_node
    vrf = node.tables.vrfs.alloc("vn-p")
    a = node.add_vm(IP_A, vrf, policy=True)
    b = node.add_vm(IP_B, vrf, policy=True)
    _attached(node, a, b)
    r = _ping(a, IP_B)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not agent.errors
    misses = [t for t in agent.traps if t.reason == lib.BSDNET_TRAP_FLOW_MISS]
    # One flow each way for the ICMP echo id; later packets hit the flows.
    assert len(misses) == 2
    fwd = [t for t in misses if t.vif == a.vif]
    rev = [t for t in misses if t.vif == b.vif]
    assert len(fwd) == 1 and len(rev) == 1
    t = fwd[0]
    assert t.version == lib.BSDNET_TRAP_VERSION
    assert t.vrf == vrf
    assert t.length == len(t.frame)
    assert t.flow < node.region.nflows
    frame = t.frame
    assert frame[0:6] == bytes.fromhex(ROUTER_MAC.replace(":", ""))
    assert frame[6:12] == bytes.fromhex(a.mac.replace(":", ""))
    assert frame[12:14] == b"\x08\x00"
    assert socket.inet_ntoa(frame[26:30]) == IP_A
    assert socket.inet_ntoa(frame[30:34]) == IP_B
    assert frame[23] == 1               # ICMP
    st = node.region.stats
    assert st.st_flow_hits >= 4


def _udp_pair(a: VM, b: VM, sport: int, dport: int):
    with netns(b.ns):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind((b.ip, dport))
    with netns(a.ns):
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx.bind((a.ip, sport))
    rx.settimeout(0.2)
    return tx, rx


def _udp_gets_through(tx, rx, dst: tuple[str, int], tag: bytes) -> bool:
    tx.sendto(tag, dst)
    try:
        while True:
            if rx.recv(2048) == tag:
                return True
    except (TimeoutError, socket.timeout):
        return False


def test_flow_survives_sigkill_without_table_writes(policy_node, agent,
                                                    datapath):
    node = policy_node
    vrf = node.tables.vrfs.alloc("vn-k")
    a = node.add_vm(IP_A, vrf, policy=True)
    b = node.add_vm(IP_B, vrf, policy=True)
    _attached(node, a, b)
    tx, rx = _udp_pair(a, b, 40000, 40001)
    try:
        wait_for(lambda: _udp_gets_through(tx, rx, (IP_B, 40001), b"one"),
                 "UDP flow decided by the agent")
        assert any(t.vif == a.vif for t in agent.traps)
        # The agent goes away and writes nothing more; the datapath dies.
        agent.stop()
        node.dp.kill()                  # type: ignore[attr-defined]
        dp2 = datapath(netns=node.ns)   # no agent socket at all
        _attached(node, a, b)
        assert node.region.dp_heartbeat()[0] == dp2.pid
        wait_for(lambda: _udp_gets_through(tx, rx, (IP_B, 40001), b"two"),
                 "existing flow forwarded after restart")
        # A new flow, by contrast, needs the agent that is not there.
        failed = _drops(node, "BSDNET_DROP_TRAP_FAILED")
        with netns(a.ns):
            other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            other.sendto(b"three", (IP_B, 40001))
            wait_for(lambda: _drops(node, "BSDNET_DROP_TRAP_FAILED") >
                     failed, "new flow trapped to a missing agent")
        finally:
            other.close()
    finally:
        tx.close()
        rx.close()


def test_tcp_bulk_between_vms(node, sockdir):
    """A namespace VM's kernel sends 64 KiB TCP super-frames (GSO) with
    checksums left to offload: the datapath cuts and checksums them, so a
    bulk transfer arrives whole."""
    vrf = node.tables.vrfs.alloc("vn-t")
    a = node.add_vm(IP_A, vrf)
    b = node.add_vm(IP_B, vrf)
    _attached(node, a, b)
    tcp_transfer(a.ns, b.ns, IP_B, 5001, bytes(range(256)) * 4096,  # 1 MiB
                 timeout=30)
    assert _drops(node, "BSDNET_DROP_MTU_EXCEEDED") == 0
    assert node.dp.stop() == 0              # type: ignore[attr-defined]
    assert " 0 GSO frames cut" not in read_log(sockdir)


def _arp_request(src_mac: str, src_ip: str, dst_ip: str,
                 vid: int | None = None) -> bytes:
    mac = bytes.fromhex(src_mac.replace(":", ""))
    tag = b"" if vid is None else b"\x81\x00" + vid.to_bytes(2, "big")
    arp = (b"\x00\x01\x08\x00\x06\x04\x00\x01" + mac +
           socket.inet_aton(src_ip) + b"\0" * 6 + socket.inet_aton(dst_ip))
    return b"\xff" * 6 + mac + tag + b"\x08\x06" + arp


def test_vlan_tag_taken_aside_by_kernel_is_judged_by_core(node):
    """The kernel hands an 802.1Q tag to AF_PACKET aside from the frame;
    the datapath puts it back, so the core drops a frame tagged with a VLAN
    the vif is not on instead of treating it as untagged."""
    vrf = node.tables.vrfs.alloc("vn-v")
    a = node.add_vm(IP_A, vrf)
    b = node.add_vm(IP_B, vrf)
    _attached(node, a, b)
    tx = packet_socket(a.ns, "eth0")
    try:
        replies = int(node.region.stats.st_arp_replies)
        before = _drops(node, "BSDNET_DROP_UNSUPPORTED_L2")
        tx.send(_arp_request(a.mac, IP_A, IP_B, vid=100))
        wait_for(lambda: _drops(node, "BSDNET_DROP_UNSUPPORTED_L2") >
                 before, "tagged ARP dropped as UNSUPPORTED_L2")
        assert int(node.region.stats.st_arp_replies) == replies
        # The same request untagged is answered: the vif works.
        tx.send(_arp_request(a.mac, IP_A, IP_B))
        wait_for(lambda: int(node.region.stats.st_arp_replies) > replies,
                 "untagged ARP answered")
    finally:
        tx.close()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _blast(vm: VM, dst: VM, n: int) -> None:
    """n UDP frames from vm to dst through the datapath, raw."""
    eth = (bytes.fromhex(ROUTER_MAC.replace(":", "")) +
           bytes.fromhex(vm.mac.replace(":", "")) + b"\x08\x00")
    ip = bytearray(b"\x45\x00\x00\x2e\x00\x00\x40\x00\x40\x11\x00\x00" +
                   socket.inet_aton(vm.ip) + socket.inet_aton(dst.ip))
    s = sum(int.from_bytes(ip[i:i + 2], "big") for i in range(0, 20, 2))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    ip[10:12] = (~s & 0xffff).to_bytes(2, "big")
    frame = eth + bytes(ip) + b"\x9c\x40\x27\x0f\x00\x1a\x00\x00" + b"\0" * 18
    tx = packet_socket(vm.ns, "eth0")
    try:
        for _ in range(n):
            try:
                tx.send(frame)
            except BlockingIOError:
                pass
    finally:
        tx.close()


def test_no_memory_growth_with_traffic(node):
    vrf = node.tables.vrfs.alloc("vn-m")
    a = node.add_vm(IP_A, vrf)
    b = node.add_vm(IP_B, vrf)
    _attached(node, a, b)
    pid = node.dp.pid                       # type: ignore[attr-defined]
    _blast(a, b, 5000)                      # warm up every code path
    wait_for(lambda: node.region.vifstats[b.vif].vs_tx_pkts > 0, "traffic")
    before = _rss_kib(pid)
    tx_before = int(node.region.stats.st_tx_pkts)
    _blast(a, b, 30000)
    wait_for(lambda: int(node.region.stats.st_rx_pkts) >= tx_before + 1000,
             "more traffic through")
    assert _rss_kib(pid) - before < 512


def test_link_down_and_up_keeps_port(node, sockdir):
    vrf = node.tables.vrfs.alloc("vn-d")
    a = node.add_vm(IP_A, vrf)
    b = node.add_vm(IP_B, vrf)
    _attached(node, a, b)
    index = os_index(node.region, a.vif)
    nsexec(node.ns, "ip", "link", "set", a.tap, "down")
    nsexec(node.ns, "ip", "link", "set", a.tap, "up")
    r = _ping(a, IP_B)
    assert r.returncode == 0, r.stdout + r.stderr
    assert os_index(node.region, a.vif) == index
    assert f"detached from {a.tap}" not in read_log(sockdir)
