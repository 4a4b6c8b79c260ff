"""Two nodes joined by a fabric veth, one VM each, one virtual network:
traffic really crosses the fabric as MPLS over GRE between two daemons."""
from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest

from bsdnet.shm.abi import lib
from bsdnet.shm.tables import Nexthop, Vif

from .helpers import open_tables, os_index, wait_for
from .nsutil import link_mac, nsexec, packet_socket, suffix
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


def test_ping_across_fabric_is_mpls_over_gre(two_nodes, namespaces):
    n1, n2 = two_nodes
    f1, f2 = f"fa{suffix()}", f"fb{suffix()}"
    namespaces.veth(n1.ns, f1, n2.ns, f2)
    fmac = {1: link_mac(n1.ns, f1), 2: link_mac(n2.ns, f2)}
    nodes = {1: (n1, f1, "10.88.0.2"), 2: (n2, f2, "10.88.0.3")}
    vms, fvifs, vrfs = {}, {}, {}
    for i, (n, fdev, vm_ip) in nodes.items():
        vrfs[i] = n.tables.vrfs.alloc("vn")
        fvifs[i] = n.tables.vifs.add(Vif(
            type=lib.BSDNET_VIF_FABRIC, flags=lib.BSDNET_VIF_F_UP,
            ip=FABRIC[i], mac=fmac[i], name=fdev))
        vms[i] = n.add_vm(vm_ip, vrfs[i])
    for i, peer in ((1, 2), (2, 1)):
        n = nodes[i][0]
        tun = n.tables.nexthops.add(Nexthop(
            type=lib.BSDNET_NH_TUNNEL, vrf=vrfs[i], vif=fvifs[i],
            dmac=fmac[peer], smac=fmac[i], tun_src=FABRIC[i],
            tun_dst=FABRIC[peer], label=vms[peer].label))
        n.tables.vrfs.add_route(vrfs[i], f"{vms[peer].ip}/32", tun)
    for i in (1, 2):
        n = nodes[i][0]
        for v in (fvifs[i], vms[i].vif):
            wait_for(lambda n=n, v=v: os_index(n.region, v) != 0,
                     f"node {i} vif {v} attached")
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
