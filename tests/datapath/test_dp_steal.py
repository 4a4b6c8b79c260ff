"""The host stack no longer sees what the datapath takes (lnx_steal.c).

A node namespace with a fabric veth (address 192.168.77.1, owned by the
host stack) and one VM.  Its IPv4 input counters (/proc/net/snmp of the
node namespace) say whether the host stack received a frame:

- MPLS-over-GRE frames to the fabric address reach only the datapath: the
  node's IPv4 input does not count them and answers no ICMP (without the
  program it sends "protocol unreachable" for each);
- the host's own traffic on the fabric (a ping to its address) still
  reaches it;
- nothing a VM sends reaches the node's stack, even addressed to an
  address the node has on the VM's interface;
- a new fabric address moves the program with it;
- when the datapath dies, its links go with it and the host stack gets
  the frames back.

Each runs twice: with tcx links (--steal tcx; skipped where the kernel has
no tcx) and with the tc clsact filter older kernels get (--steal tc).  The
filter outlives a crashed datapath (fail closed), is replaced in place by
the next one, and goes on a clean exit.
"""
from __future__ import annotations

import time

import pytest
from scapy.layers.inet import GRE, IP, UDP  # type: ignore[import]
from scapy.layers.l2 import Ether  # type: ignore[import]
from scapy.contrib.mpls import MPLS  # type: ignore[import]

from bsdnet.shm.abi import lib
from bsdnet.shm.tables import Vif

from .conftest import read_log
from .helpers import open_tables, os_index, wait_for
from .nsutil import ip, link_mac, nsexec, packet_socket, suffix
from .topo import Node

pytestmark = pytest.mark.root

FABRIC_IP = "192.168.77.1"
PEER_IP = "192.168.77.2"


def snmp(ns: str) -> dict[str, int]:
    """The Ip: and Icmp: counters of namespace ns."""
    text = nsexec(ns, "cat", "/proc/net/snmp").stdout.splitlines()
    out: dict[str, int] = {}
    for head, vals in zip(text[::2], text[1::2]):
        proto = head.split(":")[0]
        for k, v in zip(head.split()[1:], vals.split()[1:]):
            out[f"{proto}.{k}"] = int(v)
    return out


def tc_filters(ns: str, dev: str) -> list[str]:
    """Our filters at tc ingress of dev (priority 189)."""
    out = nsexec(ns, "tc", "filter", "show", "dev", dev, "ingress",
                 check=False).stdout
    return [ln for ln in out.splitlines()
            if "pref 189" in ln and "bsdnet_steal" in ln]


@pytest.fixture(params=["tcx", "tc"])
def mode(request) -> str:
    return request.param


@pytest.fixture
def node(datapath, namespaces, sockdir, mode):
    ns = namespaces.add("bst")
    wire = namespaces.add("bsw")
    fdev, pdev = f"f{suffix()}", f"p{suffix()}"
    namespaces.veth(ns, fdev, wire, pdev)
    ip("addr", "add", f"{FABRIC_IP}/24", "dev", fdev, ns=ns)
    ip("addr", "add", f"{PEER_IP}/24", "dev", pdev, ns=wire)
    shm = f"bsdnet-st{suffix()}"
    dp = datapath(netns=ns, shm=shm, extra_args=["--steal", mode])
    region, tables = open_tables(shm)
    n = Node(namespaces, ns, region, tables)
    vrf = tables.vrfs.alloc("vn")
    fvif = tables.vifs.add(Vif(type=lib.BSDNET_VIF_FABRIC,
                               flags=lib.BSDNET_VIF_F_UP, ip=FABRIC_IP,
                               mac=link_mac(ns, fdev), name=fdev))
    vm = n.add_vm("10.77.0.2", vrf)
    for v in (fvif, vm.vif):
        wait_for(lambda v=v: os_index(region, v) != 0, f"vif {v} attached")
    log = read_log(sockdir)
    how = {"tcx": "tcx ingress program", "tc": "tc ingress filter"}[mode]
    if f"{how} on" in log:
        pytest.skip(f"this kernel cannot put a {how} in place: " +
                    log.split(f"{how} on")[1].splitlines()[0])
    assert ("the host stack no longer sees MPLS-over-GRE frames to the "
            f"fabric address ({how})") in log
    assert f"{vm.tap}: the host stack no longer sees its frames ({how})" \
        in log
    try:
        yield {"ns": ns, "wire": wire, "fdev": fdev, "pdev": pdev,
               "dp": dp, "region": region, "vm": vm, "tables": tables,
               "fvif": fvif, "sockdir": sockdir, "mode": mode, "shm": shm,
               "datapath": datapath,
               "fmac": link_mac(ns, fdev), "pmac": link_mac(wire, pdev)}
    finally:
        region.close()


def gre_frames(node: dict, n: int, dst: str = FABRIC_IP) -> None:
    """n MPLS-over-GRE frames to dst, unknown label."""
    s = packet_socket(node["wire"], node["pdev"])
    try:
        for i in range(n):
            f = (Ether(dst=node["fmac"], src=node["pmac"]) /
                 IP(src=PEER_IP, dst=dst, flags="DF", ttl=64) /
                 GRE(proto=0x8847) / MPLS(label=999, s=1, ttl=64) /
                 IP(src="10.77.0.9", dst="10.77.0.2") /
                 UDP(sport=1000 + i, dport=7))
            s.send(bytes(f))
    finally:
        s.close()
    time.sleep(0.3)


def test_gre_to_the_fabric_address_reaches_only_the_datapath(node):
    before = snmp(node["ns"])
    drops0 = int(node["region"].stats.st_drops[
        lib.BSDNET_DROP_INVALID_LABEL])
    gre_frames(node, 20)
    after = snmp(node["ns"])
    # The datapath judged every one (an unknown label)...
    wait_for(lambda: int(node["region"].stats.st_drops[
        lib.BSDNET_DROP_INVALID_LABEL]) - drops0 == 20,
        "20 INVALID_LABEL drops")
    # ... and the host stack saw none: no IPv4 input, no ICMP answer.
    assert after["Ip.InReceives"] == before["Ip.InReceives"]
    assert after["Icmp.OutDestUnreachs"] == before["Icmp.OutDestUnreachs"]


def test_the_hosts_own_traffic_on_the_fabric_still_reaches_it(node):
    before = snmp(node["ns"])
    r = nsexec(node["wire"], "ping", "-c", "3", "-i", "0.2", "-W", "5",
               FABRIC_IP, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    after = snmp(node["ns"])
    assert after["Icmp.InEchos"] - before["Icmp.InEchos"] == 3


def test_nothing_a_vm_sends_reaches_the_node_stack(node):
    vm = node["vm"]
    # Even an address the node has on the VM's own link: the VM must not
    # reach the host through it.
    ip("addr", "add", "10.77.0.1/24", "dev", vm.tap, ns=node["ns"])
    nsexec(vm.ns, "ip", "neigh", "replace", "10.77.0.1", "lladdr",
           link_mac(node["ns"], vm.tap), "dev", "eth0")
    before = snmp(node["ns"])
    r = nsexec(vm.ns, "ping", "-c", "3", "-i", "0.2", "-W", "1",
               "10.77.0.1", check=False)
    assert r.returncode != 0, "the VM reached the node's own address"
    after = snmp(node["ns"])
    assert after["Ip.InReceives"] == before["Ip.InReceives"]
    assert after["Icmp.InEchos"] == before["Icmp.InEchos"]


def test_a_new_fabric_address_moves_the_program(node):
    moved = "192.168.77.5"
    node["tables"].vifs.update(node["fvif"], Vif(
        type=lib.BSDNET_VIF_FABRIC, flags=lib.BSDNET_VIF_F_UP, ip=moved,
        mac=node["fmac"], name=node["fdev"]))
    wait_for(lambda: read_log(node["sockdir"]).count(
        "the host stack no longer sees MPLS-over-GRE frames") == 2,
        "the fabric program relinked")
    before = snmp(node["ns"])
    gre_frames(node, 5, dst=moved)
    mid = snmp(node["ns"])
    assert mid["Ip.InReceives"] == before["Ip.InReceives"]
    # The old address is the host's alone again.
    gre_frames(node, 5, dst=FABRIC_IP)
    after = snmp(node["ns"])
    assert after["Ip.InReceives"] - mid["Ip.InReceives"] == 5


@pytest.mark.parametrize("mode", ["tcx"])
def test_the_host_gets_the_frames_back_when_the_datapath_dies(node):
    node["dp"].kill()
    # The links close with the process.
    before = snmp(node["ns"])
    gre_frames(node, 5)
    after = snmp(node["ns"])
    assert after["Ip.InReceives"] - before["Ip.InReceives"] == 5
    # Linux without a GRE handler answers each one (rate limits allow 5).
    assert after["Icmp.OutDestUnreachs"] > before["Icmp.OutDestUnreachs"]


@pytest.mark.parametrize("mode", ["tc"])
def test_tc_filter_outlives_a_crash_and_goes_on_exit(node):
    ns, fdev, tap = node["ns"], node["fdev"], node["vm"].tap
    assert len(tc_filters(ns, fdev)) == 1
    assert len(tc_filters(ns, tap)) == 1
    node["dp"].kill()
    # Fail closed: the filter stays and the host still sees nothing.
    assert len(tc_filters(ns, fdev)) == 1
    before = snmp(ns)
    gre_frames(node, 5)
    assert snmp(ns)["Ip.InReceives"] == before["Ip.InReceives"]
    # A new datapath replaces the filter in place: still one of ours.
    dp = node["datapath"](netns=ns, shm=node["shm"], tag="dp2",
                          extra_args=["--steal", "tc"])
    wait_for(lambda: "the host stack no longer sees its frames" in
             (node["sockdir"] / "dp2.log").read_text(errors="replace"),
             "the restarted datapath stole again")
    assert len(tc_filters(ns, fdev)) == 1
    assert len(tc_filters(ns, tap)) == 1
    before = snmp(ns)
    gre_frames(node, 5)
    assert snmp(ns)["Ip.InReceives"] == before["Ip.InReceives"]
    # A clean exit takes the filters away: the frames are the host's again.
    assert dp.stop() == 0
    assert tc_filters(ns, fdev) == [] and tc_filters(ns, tap) == []
    before = snmp(ns)
    gre_frames(node, 5)
    assert snmp(ns)["Ip.InReceives"] - before["Ip.InReceives"] == 5


@pytest.mark.parametrize("mode", ["tc"])
def test_a_tcx_datapath_removes_a_crashed_ones_tc_filter(node):
    ns, fdev = node["ns"], node["fdev"]
    node["dp"].kill()
    assert len(tc_filters(ns, fdev)) == 1
    node["datapath"](netns=ns, shm=node["shm"], tag="dp2")   # --steal auto
    log = node["sockdir"] / "dp2.log"
    wait_for(lambda: "no longer sees its frames" in
             log.read_text(errors="replace"), "the new datapath stole")
    if "(tcx ingress program)" in log.read_text(errors="replace"):
        assert tc_filters(ns, fdev) == []       # the link replaced it
    else:
        assert len(tc_filters(ns, fdev)) == 1   # no tcx: replaced in place


def _looping(shm: str) -> None:
    """Wait for the datapath of shm to pass its first tick: its start-up
    sweep of tc filters, before the loop, is over."""
    region, _ = open_tables(shm)
    try:
        first = region.dp_heartbeat()[1]
        wait_for(lambda: region.dp_heartbeat()[1] != first, "a datapath tick", 5)
    finally:
        region.close()


@pytest.mark.parametrize("mode", ["tc"])
def test_a_restarted_datapath_removes_its_filter_from_a_former_vif(node):
    ns, fdev, vm = node["ns"], node["fdev"], node["vm"]
    node["dp"].kill()
    # The VM's port goes while no datapath runs: its filter stays (fail
    # closed), and the host stack still sees nothing the VM sends.
    node["tables"].vifs.delete(vm.vif)
    assert len(tc_filters(ns, vm.tap)) == 1
    # Another region's datapath in the same namespace leaves it alone.
    other = f"bsdnet-so{suffix()}"
    node["datapath"](netns=ns, shm=other, tag="other", extra_args=["--steal", "tc"])
    _looping(other)
    assert len(tc_filters(ns, vm.tap)) == 1
    # This region's next datapath takes it away; the fabric keeps its own.
    node["datapath"](netns=ns, shm=node["shm"], tag="dp2", extra_args=["--steal", "tc"])
    log = node["sockdir"] / "dp2.log"
    wait_for(lambda: f"{vm.tap}: removed the tc filter an earlier datapath left" in
             log.read_text(errors="replace"), "the former vif's filter removed")
    assert tc_filters(ns, vm.tap) == []
    assert len(tc_filters(ns, fdev)) == 1
    ip("addr", "add", "10.77.0.1/24", "dev", vm.tap, ns=ns)
    r = nsexec(vm.ns, "ping", "-c", "2", "-i", "0.2", "-W", "2", "10.77.0.1", check=False)
    assert r.returncode == 0, "the host stack does not see the former VM's frames"
