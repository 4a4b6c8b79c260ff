"""dhcp.handle() on scapy-built frames: message flow, RFC 2131 reply
addressing, options and their encodings, and malformed input."""
from __future__ import annotations


import pytest
from hypothesis import given, settings, strategies as st
from scapy.all import BOOTP, DHCP, IP, UDP, Dot1Q, Ether, raw

from bsdnet.agent import dhcp

from .conftest import sample_network, sample_port

MAC = "02:75:3a:65:ef:91"
MACB = bytes.fromhex(MAC.replace(":", ""))


def request(*options, ciaddr="0.0.0.0", flags=0, src="0.0.0.0",
            dst="255.255.255.255", chaddr=MACB, giaddr="0.0.0.0",
            vlan=None) -> bytes:
    eth = Ether(src=MAC, dst="ff:ff:ff:ff:ff:ff")
    if vlan is not None:
        eth = eth / Dot1Q(vlan=vlan)
    return raw(eth / IP(src=src, dst=dst) / UDP(sport=68, dport=67) /
               BOOTP(chaddr=chaddr, xid=0x1234, ciaddr=ciaddr, flags=flags,
                     giaddr=giaddr) /
               DHCP(options=list(options) + ["end"]))


def opts(pkt) -> dict:
    return {o[0]: (o[1] if len(o) == 2 else o[1:])
            for o in pkt[DHCP].options if isinstance(o, tuple)}


@pytest.fixture
def server() -> dhcp.DhcpServer:
    return dhcp.DhcpServer(lease_time=3600)


def answer(server, frame, port, network):
    out = server.handle(frame, port, network)
    return None if out is None else Ether(out)


def test_discover_gets_offer_unicast_to_yiaddr(server, port, network):
    r = answer(server, request(("message-type", "discover")), port, network)
    assert r[Ether].dst == MAC and r[Ether].src == dhcp.DEFAULT_SERVER_MAC
    assert r[IP].src == "10.1.0.1" and r[IP].dst == "10.1.0.5"
    assert (r[UDP].sport, r[UDP].dport) == (67, 68)
    b = r[BOOTP]
    assert b.op == 2 and b.xid == 0x1234 and b.yiaddr == "10.1.0.5"
    assert b.ciaddr == "0.0.0.0" and b.chaddr[:6] == MACB
    o = opts(r)
    assert o["message-type"] == 2
    assert o["server_id"] == "10.1.0.1"
    assert o["subnet_mask"] == "255.255.255.0"
    assert o["router"] == "10.1.0.1"
    assert o["name_server"] == ("10.1.0.2", "192.0.2.53")
    assert o["domain"] == b"example.org"
    assert o["hostname"] == b"vm-one"
    assert o["interface-mtu"] == 1400
    assert o["lease_time"] == 3600
    assert o["renewal_time"] == 1800 and o["rebinding_time"] == 3150
    assert o["broadcast_address"] == "10.1.0.255"
    assert server.leases[port.id].state == "offered"


def test_checksums_are_right(server, port, network):
    out = server.handle(request(("message-type", "discover")), port,
                        network)
    r = Ether(out)
    ip_sum, udp_sum = r[IP].chksum, r[UDP].chksum
    del r[IP].chksum, r[UDP].chksum
    r2 = Ether(raw(r))
    assert (r2[IP].chksum, r2[UDP].chksum) == (ip_sum, udp_sum)


def test_broadcast_flag_gets_broadcast(server, port, network):
    r = answer(server, request(("message-type", "discover"), flags=0x8000),
               port, network)
    assert r[Ether].dst == "ff:ff:ff:ff:ff:ff"
    assert r[IP].dst == "255.255.255.255"
    assert r[BOOTP].flags == 0x8000


def test_vlan_tag_is_kept(server, port, network):
    r = answer(server, request(("message-type", "discover"), vlan=42),
               port, network)
    assert r[Dot1Q].vlan == 42 and r[BOOTP].yiaddr == "10.1.0.5"


def test_request_selecting_acked(server, port, network):
    r = answer(server, request(("message-type", "request"),
                               ("server_id", "10.1.0.1"),
                               ("requested_addr", "10.1.0.5")),
               port, network)
    assert opts(r)["message-type"] == dhcp.ACK
    assert r[BOOTP].yiaddr == "10.1.0.5"
    assert server.leases[port.id].state == "bound"


def test_request_for_other_server_ignored(server, port, network):
    assert server.handle(request(("message-type", "request"),
                                 ("server_id", "10.9.9.9"),
                                 ("requested_addr", "10.1.0.5")),
                         port, network) is None


def test_request_wrong_address_nak_broadcast(server, port, network):
    r = answer(server, request(("message-type", "request"),
                               ("server_id", "10.1.0.1"),
                               ("requested_addr", "10.1.0.99")),
               port, network)
    o = opts(r)
    assert o["message-type"] == dhcp.NAK
    assert r[Ether].dst == "ff:ff:ff:ff:ff:ff"
    assert r[IP].dst == "255.255.255.255"
    assert r[BOOTP].yiaddr == "0.0.0.0"
    assert "lease_time" not in o and "router" not in o


def test_init_reboot(server, port, network):
    ok = answer(server, request(("message-type", "request"),
                                ("requested_addr", "10.1.0.5")),
                port, network)
    assert opts(ok)["message-type"] == dhcp.ACK
    bad = answer(server, request(("message-type", "request"),
                                 ("requested_addr", "10.2.0.5")),
                 port, network)
    assert opts(bad)["message-type"] == dhcp.NAK


def test_renew_unicast_to_ciaddr(server, port, network):
    r = answer(server, request(("message-type", "request"),
                               ciaddr="10.1.0.5", src="10.1.0.5",
                               dst="10.1.0.1"), port, network)
    assert opts(r)["message-type"] == dhcp.ACK
    assert r[IP].dst == "10.1.0.5" and r[Ether].dst == MAC
    assert r[BOOTP].ciaddr == "10.1.0.5"


def test_rebind_with_broadcast_flag_still_unicast_to_ciaddr(server, port,
                                                            network):
    # RFC 2131 4.1: ciaddr set -> unicast to ciaddr, whatever the flag.
    r = answer(server, request(("message-type", "request"),
                               ciaddr="10.1.0.5", flags=0x8000),
               port, network)
    assert r[IP].dst == "10.1.0.5"


def test_renew_of_wrong_address_nak(server, port, network):
    r = answer(server, request(("message-type", "request"),
                               ciaddr="10.1.0.6"), port, network)
    assert opts(r)["message-type"] == dhcp.NAK


def test_inform_ack_has_no_lease_no_yiaddr(server, port, network):
    r = answer(server, request(("message-type", "inform"),
                               ciaddr="10.1.0.5"), port, network)
    o = opts(r)
    assert o["message-type"] == dhcp.ACK
    assert r[BOOTP].yiaddr == "0.0.0.0" and r[IP].dst == "10.1.0.5"
    assert "lease_time" not in o and "renewal_time" not in o
    assert o["router"] == "10.1.0.1"


def test_release_and_decline_answer_nothing(server, port, network):
    assert server.handle(request(("message-type", "release"),
                                 ("server_id", "10.1.0.1"),
                                 ciaddr="10.1.0.5"), port, network) is None
    assert server.leases[port.id].state == "released"
    assert server.handle(request(("message-type", "decline"),
                                 ("server_id", "10.1.0.1"),
                                 ("requested_addr", "10.1.0.5")),
                         port, network) is None
    assert server.leases[port.id].state == "declined"


def test_classless_routes_include_default(server, port, network):
    r = answer(server, request(("message-type", "discover")), port, network)
    o = opts(r)
    assert list(o["classless_static_routes"]) == ["192.168.5.0/24:10.1.0.254",
                                                  "0.0.0.0/0:10.1.0.1"]


def test_no_host_routes_no_option_121(server, network):
    net = sample_network(subnets=[{"cidr": "10.1.0.0/24",
                                   "gateway": "10.1.0.1"}])
    p = sample_port(net, "10.1.0.5")
    o = opts(answer(server, request(("message-type", "discover")), p, net))
    assert "classless_static_routes" not in o and o["router"] == "10.1.0.1"
    assert "name_server" not in o


def test_rfc3442_encoding_examples():
    # The examples of RFC 3442 section 3.
    assert dhcp.encode_classless_routes([("0.0.0.0/0", "10.0.0.1")]) == \
        bytes([0, 10, 0, 0, 1])
    assert dhcp.encode_classless_routes([("10.0.0.0/8", "10.0.0.1")]) == \
        bytes([8, 10, 10, 0, 0, 1])
    assert dhcp.encode_classless_routes([("10.17.0.0/16", "10.0.0.1")]) \
        == bytes([16, 10, 17, 10, 0, 0, 1])
    assert dhcp.encode_classless_routes([("10.27.129.0/24",
                                          "10.0.0.1")]) == \
        bytes([24, 10, 27, 129, 10, 0, 0, 1])
    assert dhcp.encode_classless_routes([("10.229.0.128/25",
                                          "10.0.0.1")]) == \
        bytes([25, 10, 229, 0, 128, 10, 0, 0, 1])


def test_long_option_split_rfc3396():
    enc = dhcp.encode_option(121, bytes(300))
    assert enc[:2] == bytes([121, 255]) and enc[257:259] == bytes([121, 45])
    assert dhcp.parse_options(enc + b"\xff")[121] == bytes(300)


def test_many_routes_split_and_reassembled(server):
    routes = [{"destination": f"172.16.{i}.0/24", "nexthop": "10.1.0.254"}
              for i in range(40)]
    net = sample_network(subnets=[{"cidr": "10.1.0.0/24",
                                   "gateway": "10.1.0.1",
                                   "host-routes": routes}])
    p = sample_port(net, "10.1.0.5")
    frame = request(("message-type", "discover"), ("max_dhcp_size", 1500))
    out = server.handle(frame, p, net)
    payload = bytes(Ether(out)[UDP].payload)
    got = dhcp.parse_options(payload[240:])[121]
    assert got == dhcp.encode_classless_routes(
        [(r["destination"], r["nexthop"]) for r in routes] +
        [("0.0.0.0/0", "10.1.0.1")])
    # Without a larger max size the client gets the rest, not 121.
    out = server.handle(request(("message-type", "discover")), p, net)
    payload = bytes(Ether(out)[UDP].payload)
    o = dhcp.parse_options(payload[240:])
    assert 121 not in o and o[3] == bytes([10, 1, 0, 1])
    assert len(Ether(out)[IP]) <= 576


def test_wrong_chaddr_ignored(server, port, network):
    assert server.handle(request(("message-type", "discover"),
                                 chaddr=bytes.fromhex("020000000001")),
                         port, network) is None


def test_relayed_ignored(server, port, network):
    assert server.handle(request(("message-type", "discover"),
                                 giaddr="10.1.0.9"), port, network) is None


def test_port_without_address_or_subnet(server, network):
    p = sample_port(network, "0.0.0.0")
    assert server.handle(request(("message-type", "discover")), p,
                         network) is None
    p = sample_port(network, "10.3.0.5")
    assert server.handle(request(("message-type", "discover")), p,
                         network) is None


def test_dhcp_disabled_subnet(server):
    net = sample_network(subnets=[{"cidr": "10.1.0.0/24", "dhcp": False}])
    p = sample_port(net, "10.1.0.5")
    assert server.handle(request(("message-type", "discover")), p,
                         net) is None


def test_server_id_without_gateway(server):
    net = sample_network(subnets=[{"cidr": "10.1.0.0/24"}])
    p = sample_port(net, "10.1.0.5")
    r = answer(server, request(("message-type", "discover")), p, net)
    o = opts(r)
    assert o["server_id"] == "10.1.0.1" and "router" not in o


def test_hostname_from_address_when_no_display_name(server, network):
    p = sample_port(network, "10.1.0.5", **{"display-name": "  "})
    assert dhcp.hostname_for(p) == "host-10-1-0-5"
    p = sample_port(network, "10.1.0.5",
                    **{"display-name": "Web Server #1 (prod)"})
    assert dhcp.hostname_for(p) == "web-server-1-prod"


@pytest.mark.parametrize("mangle", [
    lambda f: f[:10],                                   # no Ethernet
    lambda f: f[:12] + b"\x86\xdd" + f[14:],            # IPv6 ethertype
    lambda f: f[:30],                                   # IP cut short
    lambda f: f[:200],                                  # BOOTP cut short
    lambda f: f[:-1] if f.endswith(b"\xff") else f[:-5],  # options no END
    lambda f: f[:23] + b"\x06" + f[24:],                # TCP, not UDP
    lambda f: f[:278] + b"\x00\x00\x00\x00" + f[282:],  # no magic cookie
    lambda f: f[:14] + b"\x46" + f[15:],                # IHL past the data
])
def test_malformed_returns_none(server, port, network, mangle):
    frame = request(("message-type", "discover"))
    assert server.handle(mangle(frame), port, network) is None


def test_no_message_type_or_server_message(server, port, network):
    assert server.handle(request(("hostname", b"x")), port,
                         network) is None
    assert server.handle(request(("message-type", "offer")), port,
                         network) is None
    assert server.counters["malformed"] == 2


def test_option_runs_past_end():
    with pytest.raises(dhcp.DhcpParseError):
        dhcp.parse_options(bytes([53, 10, 1]))


def test_module_handle_offers_the_ports_address(port, network):
    # The module's own server, as the agent's trap loop calls it.
    r = Ether(dhcp.handle(request(("message-type", "discover")), port,
                          network))
    assert r[Ether].dst == MAC and r[IP].dst == "10.1.0.5"
    assert r[BOOTP].op == 2 and r[BOOTP].xid == 0x1234
    assert r[BOOTP].yiaddr == "10.1.0.5"
    o = opts(r)
    assert o["message-type"] == dhcp.OFFER
    assert o["server_id"] == "10.1.0.1"
    assert o["subnet_mask"] == "255.255.255.0"
    assert o["router"] == "10.1.0.1"
    assert o["lease_time"] == dhcp.DEFAULT_LEASE


FUZZ_NET = sample_network()
FUZZ_PORT = sample_port(FUZZ_NET, "10.1.0.5")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.integers(0, 399))
def test_fuzzed_frames_never_raise(junk, cut):
    # Junk glued onto a valid header, or a valid frame cut anywhere: the
    # parser must reject, not raise, and handlers must not fail.
    frame = request(("message-type", "discover"))
    server = dhcp.DhcpServer()
    server.handle(frame[:42] + junk, FUZZ_PORT, FUZZ_NET)
    server.handle(frame[:cut] + junk[:8], FUZZ_PORT, FUZZ_NET)
    assert server.counters.get("errors", 0) == 0


def test_server_mac_from_region_bytes(port, network):
    s = dhcp.DhcpServer(server_mac=bytes.fromhex("020000aabbcc"))
    r = Ether(s.handle(request(("message-type", "discover")), port,
                       network))
    assert r[Ether].src == "02:00:00:aa:bb:cc"
    with pytest.raises(ValueError):
        dhcp.DhcpServer(server_mac=b"\x01")
    with pytest.raises(ValueError):
        dhcp.DhcpServer(lease_time=5)
