"""Two nodes talking MPLS over GRE, for real, in network namespaces.

One sandbox (2 nodes x 2 VMs, networks red and blue both on 10.0.0.0/24)
serves the whole module; the restart tests come last because they kill
processes.
"""
from __future__ import annotations

import os
import signal
import subprocess

import pytest

from bsdnet.sandbox import orchestrate, procs

from . import vmtools

pytestmark = pytest.mark.root


def test_ping_between_vms_of_each_network_across_nodes(sandbox):
    for src, dst in (("n1-vm1", "n2-vm1"), ("n1-vm2", "n2-vm2"),
                     ("n2-vm1", "n1-vm1"), ("n2-vm2", "n1-vm2")):
        s, d = sandbox.vm(src), sandbox.vm(dst)
        assert s.network == d.network
        assert orchestrate.ping(s.namespace, d.ip, count=3), f"{src} cannot ping {dst}"


def test_tcp_transfer_10mb_arrives_intact(sandbox):
    src, dst = sandbox.vm("n1-vm1"), sandbox.vm("n2-vm1")
    size = 10 * 1024 * 1024 + 12345
    sink = vmtools.spawn(dst.namespace, vmtools.TCP_SINK, "5001")
    try:
        vmtools.wait_ready(sink)
        sent = vmtools.run(src.namespace, vmtools.TCP_SOURCE, dst.ip, "5001", str(size))
        assert sent.returncode == 0, sent.stderr
        out, err = sink.communicate(timeout=120)
    finally:
        vmtools.kill_tree(sink)
    n_sent, h_sent = sent.stdout.split()
    n_recv, h_recv = out.split()
    assert int(n_sent) == int(n_recv) == size
    assert h_sent == h_recv


def test_networks_with_identical_addresses_never_meet(sandbox):
    red_src, red_dst = sandbox.vm("n1-vm1"), sandbox.vm("n2-vm1")
    blue_dst = sandbox.vm("n2-vm2")
    assert red_dst.ip == blue_dst.ip and red_dst.network != blue_dst.network
    red = vmtools.spawn(red_dst.namespace, vmtools.UDP_ECHO, "6001")
    blue = vmtools.spawn(blue_dst.namespace, vmtools.UDP_ECHO, "6001")
    try:
        vmtools.wait_ready(red)
        vmtools.wait_ready(blue)
        blue_rx = vmtools.rx_packets(blue_dst.namespace, blue_dst.interface)
        for i in range(20):
            assert vmtools.udp_ask(red_src.namespace, red_dst.ip, 6001, 40000 + i, f"red-{i}")
        assert orchestrate.ping(red_src.namespace, red_dst.ip, count=5)
        assert vmtools.rx_packets(blue_dst.namespace, blue_dst.interface) == blue_rx
    finally:
        vmtools.kill_tree(red)
        vmtools.kill_tree(blue)


def test_fabric_capture_is_ipv4_gre_mpls_with_the_receivers_label(sandbox, tmp_path):
    src, dst = sandbox.vm("n1-vm1"), sandbox.vm("n2-vm1")
    n1, n2 = sandbox.node("n1"), sandbox.node("n2")
    pcap = str(tmp_path / "fabric.pcap")
    with vmtools.capture(sandbox.plan.fabric_namespace, n2.fabric_peer, pcap, "ip proto 47"):
        assert orchestrate.ping(src.namespace, dst.ip, count=5)
    rows = vmtools.tshark_rows(pcap, ["ip.src", "ip.dst", "ip.proto", "ip.ttl", "ip.flags.df",
                                      "gre.proto", "mpls.label", "mpls.bottom", "icmp.type"])
    to_n2 = [x for x in rows if x["ip.dst"].split(",")[0] == n2.fabric_address]
    assert len(to_n2) >= 3, rows
    for x in to_n2:
        outer_src, inner_src = x["ip.src"].split(",")
        outer_dst, inner_dst = x["ip.dst"].split(",")
        assert (outer_src, outer_dst) == (n1.fabric_address, n2.fabric_address)
        assert (inner_src, inner_dst) == (src.ip, dst.ip)
        assert x["ip.proto"].split(",")[0] == "47"
        assert x["ip.ttl"].split(",")[0] == "64"
        assert x["ip.flags.df"].split(",")[0] in ("1", "True")
        assert int(x["gre.proto"], 16) == 0x8847
        assert int(x["mpls.label"]) == dst.label
        assert x["mpls.bottom"] in ("1", "True")
        assert x["icmp.type"] == "8"


def _fabric_frame(sandbox, label, inner=None, mpls_ttl=64, outer_kw=None, raw_payload=None):
    from scapy.contrib.mpls import MPLS
    from scapy.layers.inet import ICMP, IP
    from scapy.layers.l2 import GRE, Ether
    n1, n2 = sandbox.node("n1"), sandbox.node("n2")
    eth = Ether(dst=n1.fabric_mac, src=n2.fabric_mac)
    outer = IP(**{"src": n2.fabric_address, "dst": n1.fabric_address, "proto": 47,
                  "flags": "DF", "ttl": 64, **(outer_kw or {})})
    if raw_payload is not None:
        return bytes(eth / outer / raw_payload)
    if inner is None:
        inner = IP(src="10.0.0.2", dst="10.0.0.1", ttl=64) / ICMP(id=777)
    return bytes(eth / outer / GRE(proto=0x8847) / MPLS(label=label, s=1, ttl=mpls_ttl) / inner)


def _bad_frames(sandbox):
    from scapy.layers.inet import ICMP, IP
    blue_n1 = sandbox.vm("n1-vm2")
    good = _fabric_frame(sandbox, blue_n1.label)
    bad_csum = bytearray(good)
    bad_csum[14 + 10] ^= 0xff          # outer header checksum
    short_ihl = bytearray(good)
    short_ihl[14] = 0x44               # IHL 4: shorter than an IPv4 header
    long_total = bytearray(good)
    long_total[14 + 2:14 + 4] = (len(good) - 14 + 100).to_bytes(2, "big")
    long_total[14 + 10:14 + 12] = b"\0\0"
    import struct
    s = sum(struct.unpack("!10H", bytes(long_total[14:34])))
    s = (s & 0xffff) + (s >> 16)
    long_total[14 + 10:14 + 12] = (~s & 0xffff).to_bytes(2, "big")
    return {
        "INVALID_LABEL": [_fabric_frame(sandbox, 4000), _fabric_frame(sandbox, 1000000)],
        # blue VM's label carrying a packet for an address that is not that VM's
        "LABEL_MISMATCH": [_fabric_frame(sandbox, blue_n1.label,
                                         inner=IP(src="10.0.0.2", dst="10.0.0.77") / ICMP())],
        "BAD_GRE": [_fabric_frame(sandbox, 0, raw_payload=b"\x00\x00")],
        "BAD_MPLS": [_fabric_frame(sandbox, 0, raw_payload=b"\x00\x00\x88\x47\x00\x01")],
        "BAD_IPV4_CSUM": [bytes(bad_csum)],
        "BAD_IPV4_HDR": [bytes(short_ihl), bytes(long_total)],
        "TTL_EXPIRED": [_fabric_frame(sandbox, blue_n1.label, mpls_ttl=1,
                                      inner=IP(src="10.0.0.2", dst="10.0.0.1", ttl=1) / ICMP())],
    }


def test_hostile_fabric_packets_are_dropped_and_counted_by_reason(sandbox):
    peer = sandbox.node("n1").fabric_peer
    stats = sandbox.stats("n1")
    cases = _bad_frames(sandbox)
    for reason, frames in cases.items():
        before = stats.drops()
        vmtools.inject(sandbox.plan.fabric_namespace, peer, frames * 3)
        want = len(frames) * 3
        assert vmtools.retry(lambda: stats.drop(reason) - before[reason] >= want, 20, 0.1), \
            f"{reason}: {stats.drop(reason) - before[reason]} counted, {want} sent"
        after = stats.drops()
        changed = {k: after[k] - before[k] for k in after if after[k] != before[k]}
        assert changed == {reason: want}, f"{reason}: counters moved {changed}"
    # forwarding carries on
    assert orchestrate.ping(sandbox.vm("n1-vm1").namespace, sandbox.vm("n2-vm1").ip, count=2)


def _vrctl_json(node, cmd):
    import json
    import sys
    vrctl = os.path.join(os.path.dirname(sys.executable), "bsdnet-vrctl")
    r = subprocess.run([vrctl, "--shm", node.shm, "--state-dir",
                        os.path.join(node.rundir, "state"), "--json", cmd],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def test_each_node_knows_the_other_as_a_tunnel_endpoint(sandbox):
    for me, peer in (("n1", "n2"), ("n2", "n1")):
        eps = _vrctl_json(sandbox.node(me), "endpoint")
        assert [e["endpoint"] for e in eps] == [sandbox.node(peer).fabric_address]
        assert len(eps[0]["vrfs"]) == 2 and eps[0]["enforced"]


def test_injection_from_a_host_that_is_no_tunnel_endpoint_never_reaches_the_vm(
        sandbox, tmp_path):
    """A valid label of n1-vm1 in MPLS over GRE from a fabric address that
    is no node's: dropped and counted, the VM sees nothing; the same from
    n2's address is delivered."""
    import time

    from scapy.layers.inet import ICMP, IP
    n1, n2 = sandbox.node("n1"), sandbox.node("n2")
    vm, peer_vm = sandbox.vm("n1-vm1"), sandbox.vm("n2-vm1")
    stats = sandbox.stats("n1")

    def frame(ident, outer_src, src_mac):
        inner = IP(src=peer_vm.ip, dst=vm.ip, ttl=64) / ICMP(id=ident, seq=1)
        f = _fabric_frame(sandbox, vm.label, inner=inner, outer_kw={"src": outer_src})
        return f[:6] + src_mac + f[12:]

    def seen(ident, outer_src, src_mac, done):
        """Rows the VM captured of one frame, then (its flow decided) 5
        more, sent on the fabric as from outer_src, once done() holds."""
        pcap = str(tmp_path / f"vm-{ident}.pcap")
        f = frame(ident, outer_src, src_mac)
        with vmtools.capture(vm.namespace, vm.interface, pcap,
                             f"icmp and icmp[4:2] == {ident} and src {peer_vm.ip}"):
            vmtools.inject(sandbox.plan.fabric_namespace, n1.fabric_peer, [f])
            time.sleep(0.5)
            vmtools.inject(sandbox.plan.fabric_namespace, n1.fabric_peer, [f] * 5)
            assert vmtools.retry(done, 40, 0.1)
        return vmtools.tshark_rows(pcap, ["ip.src", "icmp.ident"])

    def moved(before):
        now = stats.drops()
        return {k: now[k] - before[k] for k in now if now[k] != before[k]}

    stranger = "192.0.2.200"
    assert stranger not in {n.fabric_address for n in sandbox.plan.nodes}
    before = stats.drops()
    rows = seen(4242, stranger, bytes.fromhex("02deadbeef01"),
                lambda: moved(before) == {"UNKNOWN_ENDPOINT": 6})
    assert rows == [], rows
    # The real remote node's address: the same packet is delivered.
    before = stats.drops()
    rx = vmtools.rx_packets(vm.namespace, vm.interface)
    rows = seen(4243, n2.fabric_address, bytes.fromhex(n2.fabric_mac.replace(":", "")),
                lambda: vmtools.rx_packets(vm.namespace, vm.interface) >= rx + 6)
    assert len(rows) == 6 and {r["ip.src"] for r in rows} == {peer_vm.ip}, rows
    assert moved(before) == {}


def _udp_flow_works(sandbox, msg, sport=45000):
    src, dst = sandbox.vm("n1-vm1"), sandbox.vm("n2-vm1")
    return vmtools.retry(lambda: vmtools.udp_ask(src.namespace, dst.ip, 6100, sport, msg), 40, 0.25)


@pytest.fixture
def udp_echo_n2(sandbox):
    dst = sandbox.vm("n2-vm1")
    p = vmtools.spawn(dst.namespace, vmtools.UDP_ECHO, "6100")
    vmtools.wait_ready(p)
    yield p
    vmtools.kill_tree(p)


def test_agent_sigkill_established_flows_keep_forwarding(sandbox, udp_echo_n2):
    assert _udp_flow_works(sandbox, "before")
    for n in sandbox.plan.nodes:
        assert procs.signal_role(n.rundir, "agent", signal.SIGKILL) is not None
    try:
        # same 5-tuple: the flows made before the kill carry it
        for i in range(5):
            assert vmtools.udp_ask(sandbox.vm("n1-vm1").namespace, sandbox.vm("n2-vm1").ip,
                                   6100, 45000, f"after-{i}", timeout=2.0)
    finally:
        for n in sandbox.plan.nodes:
            orchestrate.start_agent(sandbox.plan, n)
    assert _udp_flow_works(sandbox, "agents back", sport=45001)
    # The restarted agents adopted the endpoint tables as they were.
    for me, peer in (("n1", "n2"), ("n2", "n1")):
        eps = _vrctl_json(sandbox.node(me), "endpoint")
        assert [e["endpoint"] for e in eps] == [sandbox.node(peer).fabric_address]


def test_datapath_sigkill_restart_forwards_existing_flows_without_agent(sandbox, udp_echo_n2):
    assert _udp_flow_works(sandbox, "before", sport=45010)
    agents = [procs.pid_of(n.rundir, "agent") for n in sandbox.plan.nodes]
    assert all(agents)
    for pid in agents:
        os.kill(pid, signal.SIGSTOP)      # the agent can do nothing from here on
    try:
        n1 = sandbox.node("n1")
        assert procs.signal_role(n1.rundir, "datapath", signal.SIGKILL) is not None
        assert not vmtools.udp_ask(sandbox.vm("n1-vm1").namespace, sandbox.vm("n2-vm1").ip,
                                   6100, 45010, "while-dead", timeout=0.5)
        orchestrate.start_datapath(sandbox.plan, n1)
        assert _udp_flow_works(sandbox, "after-restart", sport=45010)
    finally:
        for pid in agents:
            os.kill(pid, signal.SIGCONT)


def test_status_json_describes_the_topology(sandbox):
    import json
    import sys
    r = subprocess.run([os.path.join(os.path.dirname(sys.executable), "bsdnet-sandbox"),
                        "--prefix", sandbox.plan.prefix, "--rundir", sandbox.rundir,
                        "status", "--json"], capture_output=True, text=True, check=True)
    st = json.loads(r.stdout)
    assert {n["name"] for n in st["nodes"]} == {"n1", "n2"}
    for n in st["nodes"]:
        assert n["datapath_pid"] and n["agent_pid"]
        assert n["fabric_interface"] == "fab0" and n["fabric_address"].startswith("192.0.2.")
    labels = {}
    for v in st["vms"]:
        assert v["ip"] and v["mac"] and v["network"] in ("red", "blue")
        assert v["mpls_label"] >= 16
        labels.setdefault(v["node"], set()).add(v["mpls_label"])
    assert all(len(s) == 2 for s in labels.values())
