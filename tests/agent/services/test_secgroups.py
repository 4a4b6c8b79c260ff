"""Security groups: rule validation, OpenStack matching semantics, the
default policy, remote groups and re-evaluation of existing flows."""
from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings, strategies as st

from bsdnet.agent import secgroups as sg
from bsdnet.agent.secgroups import EGRESS, INGRESS, FlowKey, PortBinding


def ip(s: str) -> int:
    return int(ipaddress.IPv4Address(s))


def group(gid: str, *rules: dict) -> sg.SecurityGroup:
    return sg.SecurityGroup.from_json({
        "id": gid, "rules": [dict(r, id=r.get("id", f"{gid}-r{i}"))
                             for i, r in enumerate(rules)]})


def tcp(src: str, dst: str, dport: int, sport: int = 40000) -> FlowKey:
    return FlowKey(6, ip(src), ip(dst), sport, dport)


@pytest.fixture
def idx() -> sg.GroupsIndex:
    i = sg.GroupsIndex()
    i.set_group(group("web",
                      {"direction": "ingress", "protocol": "tcp",
                       "port_range_min": 80, "port_range_max": 443,
                       "remote_ip_prefix": "192.0.2.0/24"},
                      {"direction": "ingress", "protocol": "icmp",
                       "port_range_min": 8, "port_range_max": 0},
                      {"direction": "egress", "protocol": "udp",
                       "port_range_min": 53, "port_range_max": 53}))
    i.set_port(PortBinding("p1", (ip("10.0.0.5"),), ("web",)))
    return i


def test_ingress_by_port_and_cidr(idx):
    v = sg.decide(tcp("192.0.2.9", "10.0.0.5", 80), INGRESS, "p1", idx)
    assert v == sg.Verdict(True, "web-r0")
    assert sg.decide(tcp("192.0.2.9", "10.0.0.5", 443), INGRESS, "p1",
                     idx).allow
    assert not sg.decide(tcp("192.0.2.9", "10.0.0.5", 444), INGRESS, "p1",
                         idx).allow
    assert not sg.decide(tcp("192.0.3.9", "10.0.0.5", 80), INGRESS, "p1",
                         idx).allow
    # UDP to port 80 is not TCP to port 80.
    assert not sg.decide(FlowKey(17, ip("192.0.2.9"), ip("10.0.0.5"), 1, 80),
                         INGRESS, "p1", idx).allow


def test_egress_only_what_rules_say_once_a_group_is_attached(idx):
    dns = FlowKey(17, ip("10.0.0.5"), ip("8.8.8.8"), 5353, 53)
    assert sg.decide(dns, EGRESS, "p1", idx) == sg.Verdict(True, "web-r2")
    assert not sg.decide(tcp("10.0.0.5", "8.8.8.8", 53), EGRESS, "p1",
                         idx).allow


def test_icmp_type_code(idx):
    echo = FlowKey(1, ip("203.0.113.1"), ip("10.0.0.5"), 77, 0, 8, 0)
    assert sg.decide(echo, INGRESS, "p1", idx).allow
    unreach = echo._replace(icmp_type=3, icmp_code=1)
    assert not sg.decide(unreach, INGRESS, "p1", idx).allow
    unknown = echo._replace(icmp_type=-1, icmp_code=-1)
    assert not sg.decide(unknown, INGRESS, "p1", idx).allow


def test_icmp_any_type_and_any_protocol():
    i = sg.GroupsIndex()
    i.set_group(group("g", {"direction": "ingress", "protocol": "icmp"},
                      {"direction": "ingress", "remote_ip_prefix":
                       "198.51.100.0/24"}))
    i.set_port(PortBinding("p", (ip("10.0.0.1"),), ("g",)))
    k = FlowKey(1, ip("203.0.113.1"), ip("10.0.0.1"), 1, 0, 13, 0)
    assert sg.decide(k, INGRESS, "p", i).rule_id == "g-r0"
    gre = FlowKey(47, ip("198.51.100.7"), ip("10.0.0.1"))
    assert sg.decide(gre, INGRESS, "p", i).rule_id == "g-r1"
    assert not sg.decide(gre._replace(src=ip("198.51.101.7")), INGRESS,
                         "p", i).allow


def test_port_without_groups_egress_only():
    i = sg.GroupsIndex()
    i.set_port(PortBinding("bare", (ip("10.0.0.9"),), ()))
    assert sg.decide(tcp("10.0.0.9", "1.1.1.1", 443), EGRESS, "bare",
                     i) == sg.ALLOW_DEFAULT
    assert sg.decide(tcp("1.1.1.1", "10.0.0.9", 22), INGRESS, "bare",
                     i) == sg.DENY_DEFAULT
    # An unknown port is treated the same way.
    assert not sg.decide(tcp("1.1.1.1", "10.0.0.9", 22), INGRESS, "nobody",
                         i).allow


def test_neutron_default_group_lets_members_in():
    i = sg.GroupsIndex()
    i.set_group(sg.neutron_default_group("dflt"))
    i.set_port(PortBinding("a", (ip("10.0.0.1"),), ("dflt",)))
    i.set_port(PortBinding("b", (ip("10.0.0.2"),), ("dflt",)))
    assert sg.decide(tcp("10.0.0.2", "10.0.0.1", 22), INGRESS, "a",
                     i).rule_id == "dflt-ingress-v4"
    assert not sg.decide(tcp("10.0.0.3", "10.0.0.1", 22), INGRESS, "a",
                         i).allow
    assert sg.decide(tcp("10.0.0.1", "9.9.9.9", 22), EGRESS, "a",
                     i).rule_id == "dflt-egress-v4"


def test_remote_group_membership_changes_decisions():
    i = sg.GroupsIndex()
    i.set_group(group("db", {"direction": "ingress", "protocol": "tcp",
                             "port_range_min": 5432, "port_range_max": 5432,
                             "remote_group_id": "app"}))
    i.set_group(group("app"))
    i.set_port(PortBinding("db1", (ip("10.0.1.10"),), ("db",)))
    k = tcp("10.0.2.20", "10.0.1.10", 5432)
    assert not sg.decide(k, INGRESS, "db1", i).allow
    hit = i.set_port(PortBinding("app1", (ip("10.0.2.20"),), ("app",)))
    assert "db1" in hit
    assert sg.decide(k, INGRESS, "db1", i).allow
    hit = i.remove_port("app1")
    assert "db1" in hit
    assert not sg.decide(k, INGRESS, "db1", i).allow


def test_ipv6_rules_do_not_apply_to_ipv4():
    i = sg.GroupsIndex()
    i.set_group(group("g", {"direction": "ingress", "ethertype": "IPv6"}))
    i.set_port(PortBinding("p", (ip("10.0.0.1"),), ("g",)))
    assert not sg.decide(tcp("1.2.3.4", "10.0.0.1", 22), INGRESS, "p",
                         i).allow


def test_decide_connection_needs_both_ends():
    i = sg.GroupsIndex()
    i.set_group(group("open", {"direction": "ingress"},
                      {"direction": "egress"}))
    i.set_group(group("closed", {"direction": "egress"}))
    i.set_port(PortBinding("a", (ip("10.0.0.1"),), ("open",)))
    i.set_port(PortBinding("b", (ip("10.0.0.2"),), ("closed",)))
    a_to_b = tcp("10.0.0.1", "10.0.0.2", 22)
    assert not sg.decide_connection(a_to_b, "a", "b", i).allow
    b_to_a = tcp("10.0.0.2", "10.0.0.1", 22)
    assert sg.decide_connection(b_to_a, "b", "a", i) == \
        sg.Verdict(True, "open-r0")
    assert sg.decide_connection(b_to_a, "b", None, i).allow


def test_flips_after_rule_change(idx):
    flows = [
        sg.Flow(("f", 1), tcp("192.0.2.9", "10.0.0.5", 80), INGRESS, "p1",
                True),
        sg.Flow(("f", 2), tcp("192.0.2.9", "10.0.0.5", 22), INGRESS, "p1",
                False),
        sg.Flow(("f", 3), tcp("192.0.2.9", "10.0.0.7", 22), INGRESS, "p2",
                False),
    ]
    idx.set_port(PortBinding("p2", (ip("10.0.0.7"),), ()))
    assert sg.flips(flows, idx) == []
    # Now allow SSH from anywhere and drop the web rule.
    hit = idx.set_group(group("web", {"direction": "ingress",
                                      "protocol": "tcp",
                                      "port_range_min": 22,
                                      "port_range_max": 22}))
    assert hit == {"p1"}
    assert idx.affected_ports({"web"}) == {"p1"}
    out = sg.flips(flows, idx, ports=hit)
    assert [(f.flow.handle, f.verdict.allow) for f in out] == \
        [(("f", 1), False), (("f", 2), True)]
    # Attaching the group to p2 flips its flow too.
    idx.set_port(PortBinding("p2", (ip("10.0.0.7"),), ("web",)))
    assert [f.flow.handle for f in sg.flips(flows[2:], idx)] == [("f", 3)]


def test_detach_all_groups_back_to_default(idx):
    k = tcp("192.0.2.9", "10.0.0.5", 80)
    assert sg.decide(k, INGRESS, "p1", idx).allow
    idx.set_port(PortBinding("p1", (ip("10.0.0.5"),), ()))
    assert not sg.decide(k, INGRESS, "p1", idx).allow
    assert sg.decide(tcp("10.0.0.5", "8.8.8.8", 1), EGRESS, "p1",
                     idx).allow


@pytest.mark.parametrize("rule, why", [
    ({"direction": "sideways"}, "direction"),
    ({"direction": "ingress", "protocol": "foo"}, "unknown protocol"),
    ({"direction": "ingress", "protocol": 300}, "out of range"),
    ({"direction": "ingress", "protocol": "tcp", "port_range_min": 90,
      "port_range_max": 80}, ">"),
    ({"direction": "ingress", "protocol": "tcp", "port_range_min": 70000,
      "port_range_max": 70000}, "out of range"),
    ({"direction": "ingress", "protocol": "gre", "port_range_min": 1,
      "port_range_max": 2}, "port ranges"),
    ({"direction": "ingress", "protocol": "icmp", "port_range_max": 0},
     "needs an ICMP type"),
    ({"direction": "ingress", "protocol": "icmp", "port_range_min": 256},
     "ICMP type"),
    ({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/33"},
     "remote_ip_prefix"),
    ({"direction": "ingress", "remote_ip_prefix": "::/0"}, "ethertype"),
    ({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/8",
      "remote_group_id": "x"}, "mutually exclusive"),
    ({"direction": "ingress", "port_range_min": True}, "integer"),
    ({"direction": "ingress", "bogus": 1}, "unknown rule fields"),
])
def test_rule_validation(rule, why):
    with pytest.raises(sg.SecGroupError, match=why):
        sg.Rule.from_json(rule)


def test_rule_normalisation():
    r = sg.Rule.from_json({"direction": "ingress", "protocol": "TCP",
                           "port_range_min": 22,
                           "remote_ip_prefix": "10.1.2.3/8"})
    assert (r.protocol, r.port_range_min, r.port_range_max) == (6, 22, 22)
    assert r.remote_ip_prefix == "10.0.0.0/8" and r.id
    assert sg.Rule.from_json({"direction": "egress",
                              "protocol": "132"}).protocol == 132
    g = group("g", {"direction": "ingress", "protocol": "udp"})
    assert sg.SecurityGroup.from_json(g.to_json()) == g
    with pytest.raises(sg.SecGroupError, match="unique"):
        sg.SecurityGroup.from_json({"id": "g", "rules": [
            {"id": "x", "direction": "ingress"},
            {"id": "x", "direction": "egress"}]})


def test_reevaluate_after_remote_group_rule_change(idx):
    idx.set_group(group("app"))
    idx.set_port(PortBinding("a1", (ip("10.0.9.1"),), ("app",)))
    k = tcp("10.0.9.1", "10.0.0.5", 8080)
    flows = [sg.Flow(7, k, INGRESS, "p1", False),
             sg.Flow(8, tcp("10.0.0.5", "1.1.1.1", 53), EGRESS, "a1", True)]
    idx.set_group(group("web", {"direction": "ingress",
                                "remote_group_id": "app"}))
    out = sg.reevaluate(flows, {"web"}, idx)
    assert [(f.flow.handle, f.verdict) for f in out] == \
        [(7, sg.Verdict(True, "web-r0"))]


def test_flow_key_from_abi_struct():
    from types import SimpleNamespace
    fk = SimpleNamespace(fk_vrf=3, fk_proto=6, fk_src=1, fk_dst=2,
                         fk_sport=1000, fk_dport=22)
    assert sg.flow_key_from_abi(fk) == FlowKey(6, 1, 2, 1000, 22, -1, -1, 3)
    try:
        from bsdnet.shm.abi import ffi
    except Exception:   # the cffi module may not be built here
        return
    c = ffi.new("struct bsdnet_flow_key *")
    c.fk_proto, c.fk_src, c.fk_dst, c.fk_dport = 17, 5, 6, 53
    assert sg.flow_key_from_abi(c, 0, 0) == FlowKey(17, 5, 6, 0, 53, 0, 0, 0)


def test_policy_for_the_flow_manager():
    from scapy.all import ICMP as SICMP, IP, TCP, Ether, raw
    from collections import namedtuple
    # The shapes of bsdnet.agent.flows' FlowKey and Trap (kept local so
    # this test does not depend on the datapath's cffi build).
    DaemonKey = namedtuple("DaemonKey", "vrf proto src dst sport dport")
    Trap = namedtuple("Trap", "reason vif vrf flow gen nh frame")

    i = sg.GroupsIndex()
    i.set_group(group("ping", {"direction": "ingress", "protocol": "icmp",
                               "port_range_min": 8}))
    i.set_port(PortBinding("a", (ip("10.0.0.1"),), ()))
    i.set_port(PortBinding("b", (ip("10.0.0.2"),), ("ping",)))
    vifs = {5: "a", 6: "b"}
    addrs = {(1, ip("10.0.0.1")): "a", (1, ip("10.0.0.2")): "b"}
    pol = sg.SecGroupPolicy(i, vifs.get, lambda v, a: addrs.get((v, a)))

    def trap(vif, pkt):
        return Trap(1, vif, 1, 0, 0, 0, raw(Ether() / pkt))

    echo = IP(src="10.0.0.1", dst="10.0.0.2") / SICMP(type=8, id=9)
    k = DaemonKey(1, 1, ip("10.0.0.1"), ip("10.0.0.2"), 9, 0)
    assert pol(k, trap(5, echo)) == sg.Verdict(True, "ping-r0")
    mask = IP(src="10.0.0.1", dst="10.0.0.2") / SICMP(type=17)
    assert not pol(k, trap(5, mask)).allow
    # SSH a -> b: a's egress is open (no groups), b allows only ping.
    ssh = IP(src="10.0.0.1", dst="10.0.0.2") / TCP(dport=22)
    k = DaemonKey(1, 6, ip("10.0.0.1"), ip("10.0.0.2"), 1234, 22)
    assert not pol(k, trap(5, ssh)).allow
    # b -> a: b's egress allows nothing (it has a group without egress).
    k = DaemonKey(1, 6, ip("10.0.0.2"), ip("10.0.0.1"), 1234, 22)
    assert not pol(k, trap(6, ssh)).allow
    # From the fabric to a (no groups): ingress denied.
    assert not pol(k, trap(0, ssh)).allow
    # a to a remote address: only a's egress, which is open.
    k = DaemonKey(1, 6, ip("10.0.0.1"), ip("10.9.0.9"), 1234, 22)
    assert pol(k, trap(5, ssh)) == sg.ALLOW_DEFAULT


def test_icmp_type_code_parsing():
    from scapy.all import ICMP as SICMP, IP, UDP, Dot1Q, Ether, raw
    assert sg.icmp_type_code(raw(Ether() / IP() / SICMP(type=3, code=4))) \
        == (3, 4)
    assert sg.icmp_type_code(raw(Ether() / Dot1Q(vlan=3) / IP() /
                                 SICMP(type=0))) == (0, 0)
    assert sg.icmp_type_code(raw(Ether() / IP() / UDP())) == (-1, -1)
    assert sg.icmp_type_code(raw(Ether() / IP(frag=5) / SICMP())) == \
        (-1, -1)
    assert sg.icmp_type_code(raw(Ether() / IP() / SICMP())[:35]) == \
        (-1, -1)
    assert sg.icmp_type_code(b"") == (-1, -1)


_rule = st.fixed_dictionaries(
    {"direction": st.just("ingress"),
     "protocol": st.sampled_from(["tcp", "udp", None]),
     "range": st.one_of(st.none(), st.tuples(st.integers(1, 40),
                                              st.integers(0, 10))),
     "remote": st.one_of(st.none(),
                         st.tuples(st.integers(0, 3), st.sampled_from(
                             [0, 8, 16, 24, 30, 32])),
                         st.just("peers"))})


def _rule_json(i: int, d: dict) -> dict:
    r = {"id": f"r{i}", "direction": d["direction"]}
    if d["protocol"]:
        r["protocol"] = d["protocol"]
        if d["range"]:
            r["port_range_min"] = d["range"][0]
            r["port_range_max"] = d["range"][0] + d["range"][1]
    if d["remote"] == "peers":
        r["remote_group_id"] = "peers"
    elif d["remote"] is not None:
        third, plen = d["remote"]
        r["remote_ip_prefix"] = f"10.0.{third}.0/{plen}"
    return r


@settings(max_examples=60, deadline=None)
@given(st.lists(_rule, min_size=1, max_size=40),
       st.lists(st.tuples(st.sampled_from([6, 17, 47]), st.integers(0, 4),
                          st.integers(0, 3), st.integers(0, 55)),
                min_size=1, max_size=30))
def test_port_index_agrees_with_linear_scan(rules, flows):
    # The compiled port-range index must decide exactly as the plain
    # list of rules does.
    def build(index_min: int) -> sg.GroupsIndex:
        sg.INDEX_MIN_RULES, saved = index_min, sg.INDEX_MIN_RULES
        try:
            i = sg.GroupsIndex()
            i.set_group(sg.SecurityGroup.from_json(
                {"id": "g", "rules": [_rule_json(n, r)
                                      for n, r in enumerate(rules)]}))
            i.set_group(sg.SecurityGroup.from_json({"id": "peers"}))
            i.set_port(PortBinding("peer", (ip("10.0.2.9"),), ("peers",)))
            i.set_port(PortBinding("p", (ip("10.1.0.1"),), ("g",)))
            i.compiled("p")
            return i
        finally:
            sg.INDEX_MIN_RULES = saved

    indexed, linear = build(1), build(10 ** 9)
    assert indexed.compiled("p").index[INGRESS]
    assert not linear.compiled("p").index[INGRESS]
    # Probe every range edge too, from every remote the rules can name.
    edges = {d for r in rules if r["range"]
             for lo in (r["range"][0],) for hi in (lo + r["range"][1],)
             for d in (lo - 1, lo, hi, hi + 1)}
    flows = flows + [(proto, third, 2, d) for proto in (6, 17)
                     for third in range(4) for d in edges]
    for proto, third, last, dport in flows:
        k = FlowKey(proto, ip(f"10.0.{third}.{last + 7}"), ip("10.1.0.1"),
                    1000, dport)
        assert sg.decide(k, INGRESS, "p", indexed).allow == \
            sg.decide(k, INGRESS, "p", linear).allow, k
