"""DHCP with a stock client, anti-spoofing and gratuitous ARP, through the
real datapath of sandbox node n1, on ports plugged through the port API."""
from __future__ import annotations

import ipaddress
import os
import shutil
import struct

import pytest

from bsdnet.sandbox.netns import ns_exec

from . import agenttools as at
from . import vmtools

pytestmark = pytest.mark.root

NET = at.new_id()
PAIR = "10.8.0.50"      # an allowed address pair of VM p (a VIP, say)


@pytest.fixture(scope="module")
def env(sandbox):
    node = sandbox.node("n1")
    ns = node.namespace
    at.wait_api(node)
    at.api(node, "POST", "/network", {
        "id": NET, "name": "svc", "mtu": 1300, "subnets": [{
            "cidr": "10.8.0.0/24", "gateway": "10.8.0.1",
            "host-routes": [{"destination": "172.16.0.0/16",
                             "nexthop": "10.8.0.1"}]}]})
    at.api(node, "POST", "/security-group", {"id": "all", "rules": [
        {"id": "all-eg", "direction": "egress"},
        {"id": "all-in", "direction": "ingress"}]})
    vms = {}
    try:
        for i, (name, static) in enumerate((("d", False), ("s", True),
                                            ("t", True), ("p", True))):
            vm = at.ApiVm(f"{sandbox.plan.prefix}-n1-x{name}", f"tapx{name}",
                          f"02:5f:00:00:00:{i + 1:02x}", f"10.8.0.{20 + i}",
                          at.new_id(), ns)
            at.plug(ns, vm.namespace, vm.tap, vm.mac,
                    address=f"{vm.ip}/24" if static else None)
            vms[name] = vm
            pairs = [PAIR] if name == "p" else []
            at.api(node, "POST", "/port", at.port_body(vm, NET, ["all"],
                                                     pairs=pairs))
        yield sandbox, vms
    finally:
        for vm in vms.values():
            at.api(node, "DELETE", f"/port/{vm.port_id}", want=None)
            at.unplug(vm.namespace)


def test_stock_dhcp_client_gets_address_mtu_and_routes(env, tmp_path):
    if shutil.which("dhclient") is None or shutil.which("unshare") is None:
        pytest.skip("isc-dhcp-client (dhclient) or unshare not installed")
    _, vms = env
    vm = vms["d"]
    # ip netns exec binds /etc/netns/<ns>/resolv.conf over the host's, so
    # the client's script never touches the host's resolver; its own UTS
    # namespace keeps the host name.
    etc = f"/etc/netns/{vm.namespace}"
    os.makedirs(etc, exist_ok=True)
    open(os.path.join(etc, "resolv.conf"), "w").close()
    r = ns_exec(vm.namespace, [
        "unshare", "--uts", "dhclient", "-1", "-4", "-v",
        "-lf", str(tmp_path / "lease"), "-pf", str(tmp_path / "pid"),
        "eth0"], check=False, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "DHCPACK of 10.8.0.20" in r.stderr
    addr = ns_exec(vm.namespace, ["ip", "-4", "-o", "addr", "show", "eth0"])
    assert "inet 10.8.0.20/24" in addr.stdout
    link = ns_exec(vm.namespace, ["ip", "-o", "link", "show", "eth0"])
    assert " mtu 1300 " in link.stdout
    routes = ns_exec(vm.namespace, ["ip", "-4", "route"]).stdout
    assert "default via 10.8.0.1" in routes
    assert "172.16.0.0/16 via 10.8.0.1" in routes
    # and the address it got forwards
    assert vmtools.retry(lambda: _ping(vm, vms["s"].ip))


def _ping(src, ip):
    r = ns_exec(src.namespace, ["ping", "-n", "-q", "-c", "1", "-W", "1", ip],
                check=False)
    return r.returncode == 0


def _csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def _udp_frame(src_mac, dst_mac, src_ip, dst_ip) -> bytes:
    payload = b"spoof"
    udp = struct.pack("!HHHH", 40000, 9, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17,
                     0, ipaddress.IPv4Address(src_ip).packed,
                     ipaddress.IPv4Address(dst_ip).packed)
    ip = ip[:10] + struct.pack("!H", _csum(ip)) + ip[12:]
    return (bytes.fromhex(dst_mac.replace(":", "")) +
            bytes.fromhex(src_mac.replace(":", "")) + b"\x08\x00" + ip + udp)


def _garp(mac, ip) -> bytes:
    m = bytes.fromhex(mac.replace(":", ""))
    a = ipaddress.IPv4Address(ip).packed
    return (b"\xff" * 6 + m + b"\x08\x06" +
            struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + m + a +
            b"\0" * 6 + a)


def _router_mac(sandbox) -> str:
    r = at.Region(sandbox, "n1")
    return bytes(r.ffi.buffer(r.hdr.rh_router_mac)).hex(":")


def test_spoofed_ip_and_mac_dropped_and_counted(env):
    sandbox, vms = env
    s, t = vms["s"], vms["t"]
    assert vmtools.retry(lambda: _ping(s, t.ip))
    r = at.Region(sandbox, "n1")
    rmac = _router_mac(sandbox)
    ip0, mac0 = r.drop("SPOOFED_IP"), r.drop("SPOOFED_MAC")
    rx = vmtools.rx_packets(t.namespace, "eth0")
    vmtools.inject(s.namespace, "eth0", [
        _udp_frame(s.mac, rmac, "10.8.0.99", t.ip),        # not s's address
        _udp_frame(s.mac, rmac, t.ip, t.ip),               # t's address
        _udp_frame("02:5f:00:00:00:99", rmac, s.ip, t.ip)])  # not s's MAC
    at.wait_until(lambda: r.drop("SPOOFED_IP") >= ip0 + 2 and
                  r.drop("SPOOFED_MAC") >= mac0 + 1, "spoof drops counted")
    assert vmtools.rx_packets(t.namespace, "eth0") == rx
    # s's own traffic still passes
    assert _ping(s, t.ip)


def test_gratuitous_arp_for_a_foreign_address_is_dropped(env):
    sandbox, vms = env
    s, t = vms["s"], vms["t"]
    r = at.Region(sandbox, "n1")
    before = r.drop("ARP_NOT_ANSWERED")
    rx = vmtools.rx_packets(t.namespace, "eth0")
    vmtools.inject(s.namespace, "eth0", [_garp(s.mac, t.ip)])
    at.wait_until(lambda: r.drop("ARP_NOT_ANSWERED") > before,
                  "gratuitous ARP dropped")
    assert vmtools.rx_packets(t.namespace, "eth0") == rx
    # t's address still resolves to the router MAC for s, and t answers
    assert _ping(s, t.ip)


def test_allowed_address_pair_passes_other_sources_dropped(env):
    sandbox, vms = env
    p, t = vms["p"], vms["t"]
    ns_exec(p.namespace, ["ip", "addr", "add", f"{PAIR}/24", "dev", "eth0"])
    assert vmtools.retry(lambda: _ping(p, t.ip))             # own address
    assert vmtools.retry(lambda: ns_exec(                    # the pair's
        p.namespace, ["ping", "-n", "-q", "-c", "1", "-W", "1", "-I", PAIR,
                      t.ip], check=False).returncode == 0)
    assert vmtools.retry(lambda: _ping(t, PAIR))             # routed to p
    # The datapath cannot check several sources: the agent decides the
    # spoofed flow DROP with reason SPOOFED_IP in the entry, and the core
    # counts the flow's packets under that reason.
    r = at.Region(sandbox, "n1")
    before = r.drop("SPOOFED_IP")
    rx = vmtools.rx_packets(t.namespace, "eth0")
    vmtools.inject(p.namespace, "eth0", [
        _udp_frame(p.mac, _router_mac(sandbox), "10.8.0.99", t.ip)])
    at.wait_until(lambda: r.drop("SPOOFED_IP") > before,
                  "the spoofed source dropped")
    assert vmtools.rx_packets(t.namespace, "eth0") == rx
