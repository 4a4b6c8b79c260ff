"""ifconfig output parsing, on real FreeBSD output and on the stand-in's."""

import pytest

from bsdnet.driver.net.fbsd_sim import FreeBSDHost
from bsdnet.driver.net.ifconfig_parse import (mask_to_prefixlen, parse_all, parse_group,
                                              parse_interface, parse_list, prefixlen_to_mask)

from .netdrv_env import fixture_text


def test_physical_host_fixture():
    em0, em1, lo0 = parse_all(fixture_text("host-two-nics.txt"))
    assert em0.name == "em0" and em0.mtu == 1500
    assert em0.flags == ["UP", "BROADCAST", "RUNNING", "SIMPLEX", "MULTICAST", "LOWER_UP"]
    assert em0.ether == "52:54:00:12:34:56"
    assert em0.inet == ["192.0.2.10/24"]
    assert em0.inet6 == ["fe80::5054:ff:fe12:3456%em0/64"]
    assert em0.kind == "ether" and em0.groups == []
    assert em1.mtu == 9000 and em1.inet == []
    assert lo0.kind == "lo" and lo0.inet == ["127.0.0.1/8"]
    assert "::1/128" in lo0.inet6


def test_bridge_tap_vlan_fixture():
    by = {s.name: s for s in parse_all(fixture_text("host-vm-switch.txt"))}
    br = by["bridge0"]
    assert br.kind == "bridge" and br.description == "vm-public"
    assert br.members == ["tap0", "vlan100"]
    assert br.member_stp == {"tap0": False, "vlan100": True}
    assert br.groups == ["bridge", "vm-switch", "viid-4c918@"]
    assert br.inet == ["10.0.0.1/24"]
    tap = by["tap0"]
    assert tap.kind == "tap" and tap.opened_by == 2345 and "PROMISC" in tap.flags
    assert tap.description == "vmnet/guest1/0/public"
    vlan = by["vlan100"]
    assert (vlan.kind, vlan.vlan_tag, vlan.vlan_parent) == ("vlan", 100, "em1")


def test_netstat_gateway_routes_of_one_interface():
    from bsdnet.driver.net.freebsd import parse_netstat_gateways
    text = fixture_text("netstat-rn-inet.txt")
    assert parse_netstat_gateways(text, "em0") == [
        ("0.0.0.0/0", "192.0.2.1"), ("10.20.0.0/16", "192.0.2.254"),
        ("198.51.100.7/32", "192.0.2.253")]
    assert parse_netstat_gateways(text, "bridge0") == [("203.0.113.0/24", "10.9.0.1")]
    assert parse_netstat_gateways(text, "lo0") == []


def test_netstat_inet6_gateway_routes_keep_the_link_local_scope():
    from bsdnet.driver.net.freebsd import parse_netstat_gateways
    text = fixture_text("netstat-rn-inet6.txt")
    assert parse_netstat_gateways(text, "em0") == [
        ("::/0", "fe80::1%em0"), ("2001:db8:20::/48", "2001:db8::254"),
        ("2001:db8:30::7/128", "2001:db8::253")]


def test_lists_and_groups():
    assert parse_list("em0 em1 lo0 bridge0\n") == ["em0", "em1", "lo0", "bridge0"]
    assert parse_group("tap0\ntap1\n") == ["tap0", "tap1"]
    assert parse_group("") == []


@pytest.mark.parametrize("plen", [0, 8, 23, 24, 30, 32])
def test_netmask_round_trip(plen):
    assert mask_to_prefixlen(prefixlen_to_mask(plen)) == plen


def test_rejects_noncontiguous_mask_and_garbage():
    with pytest.raises(ValueError):
        mask_to_prefixlen("0xff00ff00")
    with pytest.raises(ValueError):
        parse_all("this is not ifconfig output\n")
    with pytest.raises(ValueError):
        parse_interface(fixture_text("host-two-nics.txt"))   # three interfaces


def test_stand_in_prints_what_the_parser_reads_back():
    """Seed from real output, print with the stand-in, parse again: same state."""
    host = FreeBSDHost.from_ifconfig(fixture_text("host-vm-switch.txt")
                                     + fixture_text("host-two-nics.txt").replace(
                                         "em1", "em2"))
    for name, st in host.ifaces.items():
        again = parse_interface(host.status(name))
        for attr in ("name", "mtu", "ether", "inet", "inet6", "description", "groups",
                     "members", "member_stp", "vlan_tag", "vlan_parent", "opened_by", "kind"):
            assert getattr(again, attr) == getattr(st, attr), (name, attr)


# ---------------------------------------------------------------- property
from hypothesis import given, settings, strategies as S  # noqa: E402

from bsdnet.driver.net.model import IfState  # noqa: E402

_name = S.from_regex(r"[a-z][a-z0-9_.-]{0,14}", fullmatch=True)
_mac = S.lists(S.integers(0, 255), min_size=6, max_size=6).map(
    lambda o: ":".join(f"{x:02x}" for x in [o[0] & 0xFE] + o[1:]))
_v4 = S.tuples(S.integers(1, 223), S.integers(0, 255), S.integers(0, 255),
               S.integers(1, 254), S.integers(8, 30)).map(
    lambda t: f"{t[0]}.{t[1]}.{t[2]}.{t[3]}/{t[4]}")
_descr = S.text(S.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)


@S.composite
def _iface(draw):
    kind = draw(S.sampled_from(["bridge", "tap", "vlan", "epair", "ether"]))
    st = IfState(name=draw(_name), kind=kind, mtu=draw(S.integers(576, 9216)),
                 ether=draw(_mac), inet=draw(S.lists(_v4, max_size=3, unique=True)),
                 description=draw(S.none() | _descr),
                 flags=draw(S.sampled_from([["BROADCAST", "SIMPLEX", "MULTICAST"],
                                            ["UP", "BROADCAST", "RUNNING", "SIMPLEX",
                                             "MULTICAST"]])))
    st.groups = ([kind] if kind != "ether" else []) + draw(
        S.lists(S.from_regex(r"[a-z][a-z_-]{0,10}", fullmatch=True).filter(
            # ifconfig shows a kind only through the cloner's group name
            lambda g: g not in ("bridge", "tap", "vlan", "epair", "lo")),
            max_size=2, unique=True))
    if kind == "bridge":
        st.members = draw(S.lists(_name, max_size=4, unique=True))
        st.member_stp = {m: draw(S.booleans()) for m in st.members}
    if kind == "vlan":
        st.vlan_tag = draw(S.integers(1, 4094))
        st.vlan_parent = draw(S.none() | _name)
    if kind == "tap":
        st.opened_by = draw(S.none() | S.integers(1, 99999))
    return st


@settings(max_examples=80, deadline=None)
@given(_iface())
def test_any_state_survives_print_and_parse(st):
    host = FreeBSDHost([st])
    again = parse_interface(host.status(st.name))
    for attr in ("name", "mtu", "ether", "inet", "description", "groups", "members",
                 "member_stp", "vlan_tag", "vlan_parent", "opened_by", "kind", "flags"):
        assert getattr(again, attr) == getattr(st, attr), attr
