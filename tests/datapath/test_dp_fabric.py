"""Two nodes joined by a fabric veth, one VM each, one virtual network:
traffic really crosses the fabric as MPLS over GRE between two daemons."""
from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, TCP, ICMPerror, IPerror
from scapy.layers.l2 import Ether

from bsdnet.shm.abi import lib
from bsdnet.shm.tables import Nexthop, Vif, ip_to_int

from .helpers import open_tables, os_index, wait_for
from .nsutil import ip, link_mac, nsexec, packet_socket, suffix, tcp_transfer
from .topo import ROUTER_MAC, Node

pytestmark = pytest.mark.root

FABRIC = {1: "192.168.99.1", 2: "192.168.99.2"}


def _node(datapath, namespaces, idx: int) -> tuple[Node, int, str]:
    ns = namespaces.add(f"bf{idx}")
    shm = f"bsdnet-f{idx}{suffix()}"
    dp = datapath(netns=ns, shm=shm, tag=f"dp{idx}")
    region, tables = open_tables(shm)
    n = Node(namespaces, ns, region, tables)
    n.dp = dp                   # type: ignore[attr-defined]
    n.shm = shm                 # type: ignore[attr-defined]
    return n, idx, shm


@pytest.fixture
def two_nodes(datapath, namespaces):
    made = []
    try:
        for idx in (1, 2):
            made.append(_node(datapath, namespaces, idx))
        yield [m[0] for m in made]
    finally:
        for n, _, shm in made:
            if n.dp.alive():    # type: ignore[attr-defined]
                n.dp.stop()     # type: ignore[attr-defined]
            n.region.close()
            Path("/dev/shm", shm).unlink(missing_ok=True)


def _fabric_pair(two_nodes, namespaces, mtu: int = 1500,
                 gateway: str = "") -> tuple[dict, dict, str]:
    """Join the two nodes by a fabric veth of MTU mtu, one VM each on one
    network (10.88.0.2 on node 1, 10.88.0.3 on node 2, interface MTU 1500,
    gateway as the port's), routes to each other across the fabric.
    Returns the VMs, the fabric MACs and node 2's fabric interface."""
    n1, n2 = two_nodes
    f1, f2 = f"fa{suffix()}", f"fb{suffix()}"
    namespaces.veth(n1.ns, f1, n2.ns, f2)
    if mtu != 1500:
        ip("link", "set", f1, "mtu", str(mtu), ns=n1.ns)
        ip("link", "set", f2, "mtu", str(mtu), ns=n2.ns)
    fmac = {1: link_mac(n1.ns, f1), 2: link_mac(n2.ns, f2)}
    nodes = {1: (n1, f1, "10.88.0.2"), 2: (n2, f2, "10.88.0.3")}
    vms, fvifs, vrfs = {}, {}, {}
    for i, (n, fdev, vm_ip) in nodes.items():
        vrfs[i] = n.tables.vrfs.alloc("vn")
        fvifs[i] = n.tables.vifs.add(Vif(
            type=lib.BSDNET_VIF_FABRIC, flags=lib.BSDNET_VIF_F_UP,
            ip=FABRIC[i], mac=fmac[i], name=fdev, mtu=mtu))
        vms[i] = n.add_vm(vm_ip, vrfs[i])
        if gateway:
            v = n.tables.vifs.read(vms[i].vif)
            v.gw = ip_to_int(gateway)
            n.tables.vifs.update(vms[i].vif, v)
    for i, peer in ((1, 2), (2, 1)):
        n = nodes[i][0]
        tun = n.tables.nexthops.add(Nexthop(
            type=lib.BSDNET_NH_TUNNEL, vrf=vrfs[i], vif=fvifs[i],
            dmac=fmac[peer], smac=fmac[i], tun_src=FABRIC[i],
            tun_dst=FABRIC[peer], label=vms[peer].label))
        n.tables.vrfs.add_route(vrfs[i], f"{vms[peer].ip}/32", tun)
        # The route's node is the one that may send into the network.
        n.tables.endpoints.sync({(ip_to_int(FABRIC[peer]), vrfs[i])})
    for i in (1, 2):
        n = nodes[i][0]
        for v in (fvifs[i], vms[i].vif):
            wait_for(lambda n=n, v=v: os_index(n.region, v) != 0,
                     f"node {i} vif {v} attached")
    return vms, fmac, f2


def test_ping_across_fabric_is_mpls_over_gre(two_nodes, namespaces):
    n1, n2 = two_nodes
    vms, fmac, f2 = _fabric_pair(two_nodes, namespaces)
    cap = packet_socket(n2.ns, f2)
    cap.settimeout(1.0)
    try:
        r = nsexec(vms[1].ns, "ping", "-c", "3", "-i", "0.2", "-W", "10",
                   vms[2].ip, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        frame = None
        try:
            while frame is None:
                f = cap.recv(65535)
                if len(f) > 42 and f[12:14] == b"\x08\x00" and f[23] == 47:
                    frame = f
        except TimeoutError:
            pass
    finally:
        cap.close()
    assert frame is not None, "no GRE frame seen on the fabric"
    assert frame[0:6] == bytes.fromhex(fmac[2].replace(":", ""))
    assert frame[6:12] == bytes.fromhex(fmac[1].replace(":", ""))
    assert socket.inet_ntoa(frame[26:30]) == FABRIC[1]
    assert socket.inet_ntoa(frame[30:34]) == FABRIC[2]
    gre_flags, gre_proto = struct.unpack("!HH", frame[34:38])
    assert (gre_flags, gre_proto) == (0, 0x8847)
    (mpls,) = struct.unpack("!I", frame[38:42])
    assert mpls >> 12 == vms[2].label
    assert mpls & 0x100                 # bottom of stack
    inner = frame[42:]
    assert inner[0] >> 4 == 4
    assert socket.inet_ntoa(inner[12:16]) == vms[1].ip
    assert socket.inet_ntoa(inner[16:20]) == vms[2].ip
    assert n1.region.stats.st_encaps >= 3
    assert n2.region.stats.st_decaps >= 3
    # The VMs see the router MAC as their peer's.
    assert nsexec(vms[1].ns, "ip", "neigh", "show", vms[2].ip).stdout \
        .split()[4] == ROUTER_MAC


# Fabric MTU 1478: the overlay carries 1450 (IPv4 + GRE + MPLS take 28),
# while the VMs' interfaces stay at 1500.
FABRIC_MTU, OVERLAY_MTU = 1478, 1450
GATEWAY = "10.88.0.1"


def _syn_mss(frames: list[bytes], dport: int) -> int | None:
    """The MSS option of the first SYN to dport among frames (scapy)."""
    for f in frames:
        pkt = Ether(f)
        if TCP in pkt and pkt[TCP].dport == dport and \
                pkt[TCP].flags & 0x02:
            return dict(pkt[TCP].options).get("MSS")
    return None


def _frag_needed(cap: socket.socket) -> Ether | None:
    """The first ICMP "fragmentation needed" read from cap (scapy)."""
    cap.settimeout(2.0)
    try:
        while True:
            pkt = Ether(cap.recv(65535))
            if ICMP in pkt and pkt[ICMP].type == 3 and pkt[ICMP].code == 4:
                return pkt
    except TimeoutError:
        return None


def _drops(n: Node, name: str) -> int:
    return int(n.region.stats.st_drops[getattr(lib, name)])


def test_path_mtu_vm_1500_over_a_1450_overlay(two_nodes, namespaces):
    """VMs at MTU 1500 over an overlay carrying 1450: a 10 MB TCP transfer
    completes with the MSS clamped (seen in the SYN on the far side);
    with the clamp off PMTU discovery alone carries one; a DF ping too
    big gets "Frag needed" with the overlay's MTU."""
    n1, n2 = two_nodes
    vms, _, _ = _fabric_pair(two_nodes, namespaces, mtu=FABRIC_MTU,
                             gateway=GATEWAY)
    size = 10 * 1024 * 1024

    # 1. The clamp (on by default): the SYN reaches VM 2 with MSS 1410.
    syn: list[bytes] = []
    tcp_transfer(vms[1].ns, vms[2].ns, vms[2].ip, 5001, os.urandom(size), syn)
    assert _syn_mss(syn, 5001) == OVERLAY_MTU - 40
    assert n1.region.stats.st_mss_clamped >= 1

    # 2. Clamp off on both nodes (the SYN-ACK would carry it too): VM 2
    # (no path MTU learned yet) sends 1500-byte segments; the ICMP it
    # gets back makes its stack lower them.  Before any DF ping: a
    # learned path MTU lowers the MSS a stack advertises.
    for n in (n1, n2):
        n.region.set_path_mtu(mss_clamp=False, icmp_rate=1000)
    clamped, told = n2.region.stats.st_mss_clamped, \
        n2.region.stats.st_icmp_too_big
    syn = []
    tcp_transfer(vms[2].ns, vms[1].ns, vms[1].ip, 5002, os.urandom(size), syn)
    assert _syn_mss(syn, 5002) == 1460
    assert n2.region.stats.st_mss_clamped == clamped
    assert n2.region.stats.st_icmp_too_big > told
    assert _drops(n2, "BSDNET_DROP_MTU_EXCEEDED") >= 1

    # 3. A DF ping too big from VM 1 (which has not learned a path MTU:
    # it was the receiver above): "fragmentation needed" from the gateway.
    cap = packet_socket(vms[1].ns, "eth0")
    try:
        r = nsexec(vms[1].ns, "ping", "-c", "1", "-W", "5", "-M", "do",
                   "-s", "1472", vms[2].ip, check=False)
        icmp = _frag_needed(cap)
    finally:
        cap.close()
    assert r.returncode != 0
    # As the VM got it, decoded by scapy: checksums as scapy computes
    # them, the next-hop MTU, the quoted header of the echo request.
    assert icmp is not None, "no ICMP fragmentation needed seen by VM 1"
    assert icmp[Ether].src == ROUTER_MAC
    assert (icmp[IP].src, icmp[IP].dst) == (GATEWAY, vms[1].ip)
    assert icmp[ICMP].nexthopmtu == OVERLAY_MTU
    assert icmp[IPerror].dst == vms[2].ip and icmp[IPerror].len == 1500
    assert icmp[ICMPerror].type == 8
    fresh = Ether(bytes(icmp))
    del fresh[IP].chksum, fresh[ICMP].chksum
    fresh = Ether(bytes(fresh))
    assert (fresh[IP].chksum, fresh[ICMP].chksum) == \
        (icmp[IP].chksum, icmp[ICMP].chksum)
    assert f"From {GATEWAY}" in r.stdout, r.stdout + r.stderr
    assert "Frag needed" in r.stdout, r.stdout + r.stderr
    assert f"mtu = {OVERLAY_MTU}" in r.stdout, r.stdout + r.stderr
    assert n1.region.stats.st_icmp_too_big >= 1
    assert _drops(n1, "BSDNET_DROP_MTU_EXCEEDED") >= 1
    # What fits goes through.
    r = nsexec(vms[1].ns, "ping", "-c", "1", "-W", "5", "-M", "do", "-s",
               str(OVERLAY_MTU - 28), vms[2].ip, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
