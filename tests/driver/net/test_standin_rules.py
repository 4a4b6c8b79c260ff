"""The stand-in enforces FreeBSD's rules, so the driver is tested against them."""

import pytest

from bsdnet.driver.net.fbsd_sim import FreeBSDHost

from .netdrv_env import fixture_text


@pytest.fixture
def host():
    return FreeBSDHost.from_ifconfig(fixture_text("host-two-nics.txt"))


def ok(host, *argv):
    rc, out, err = host.run(list(argv))
    assert rc == 0, err
    return out


def fails(host, *argv):
    rc, out, err = host.run(list(argv))
    assert rc == 1
    return err


def test_create_prints_name_and_tap_starts_down(host):
    assert ok(host, "ifconfig", "tap", "create") == "tap0\n"
    assert "UP" not in host.ifaces["tap0"].flags
    assert ok(host, "ifconfig", "bridge", "create", "name", "br-x") == "br-x\n"
    assert "SIOCIFCREATE2" in fails(host, "ifconfig", "tap0", "create")


def test_bridge_member_mtu_must_match(host):
    ok(host, "ifconfig", "bridge", "create", "name", "b")
    ok(host, "ifconfig", "b", "addm", "em1")            # 9000: first member sets it
    assert host.ifaces["b"].mtu == 9000
    ok(host, "ifconfig", "tap", "create")
    assert "BRDGADD tap0: Invalid argument" in fails(host, "ifconfig", "b", "addm", "tap0")
    ok(host, "ifconfig", "tap0", "mtu", "9000")
    ok(host, "ifconfig", "b", "addm", "tap0")


def test_member_ifaddrs_zero(host):
    ok(host, "ifconfig", "bridge", "create", "name", "b")
    assert ok(host, "sysctl", "-n", "net.link.bridge.member_ifaddrs") == "0\n"
    assert "Invalid argument" in fails(host, "ifconfig", "b", "addm", "em0")  # has inet
    ok(host, "ifconfig", "b", "addm", "em1")
    assert "SIOCAIFADDR" in fails(host, "ifconfig", "em1", "inet", "198.51.100.1/24", "alias")
    host.sysctls["net.link.bridge.member_ifaddrs"] = "1"
    ok(host, "ifconfig", "em1", "inet", "198.51.100.1/24", "alias")


def test_names_and_groups(host):
    assert "too long" in fails(host, "ifconfig", "abcdefghijklmnop")
    ok(host, "ifconfig", "tap", "create")
    assert "File name too long" in fails(host, "ifconfig", "tap0", "name", "x" * 16)
    assert "File exists" in fails(host, "ifconfig", "tap0", "name", "em0")
    assert "may not end in a digit" in fails(host, "ifconfig", "tap0", "group", "grp1")
    assert "does not exist" in fails(host, "ifconfig", "nope0", "up")


def test_vlan_rules(host):
    assert "both vlan and vlandev" in fails(host, "ifconfig", "vlan", "create", "vlan", "5")
    ok(host, "ifconfig", "vlan", "create", "vlan", "5", "vlandev", "em1", "name", "v5")
    assert host.ifaces["v5"].vlan_parent == "em1" and host.ifaces["v5"].mtu == 9000
    assert "File exists" in fails(host, "ifconfig", "vlan", "create", "vlan", "5",
                                  "vlandev", "em1")
    assert "Invalid argument" in fails(host, "ifconfig", "vlan", "create", "vlan", "4095",
                                       "vlandev", "em1")
    assert "SIOCSIFMTU" in fails(host, "ifconfig", "v5", "mtu", "9001")


def test_only_cloned_interfaces_are_destroyed(host):
    assert "SIOCIFDESTROY" in fails(host, "ifconfig", "em0", "destroy")
    ok(host, "ifconfig", "epair", "create")
    ok(host, "ifconfig", "epair0b", "destroy")
    assert "epair0a" not in host.ifaces


def test_default_route_follows_addresses(host):
    host.default_route = ("192.0.2.1", "em0")
    assert "gateway: 192.0.2.1" in ok(host, "route", "-n", "get", "default")
    ok(host, "ifconfig", "em0", "inet", "192.0.2.10", "-alias")
    assert "not been found" in fails(host, "route", "-n", "get", "default")
    assert "unreachable" in fails(host, "route", "-n", "add", "default", "192.0.2.1")


def test_sysctl_write_known_oids_only():
    h = FreeBSDHost()
    assert h.run(["sysctl", "net.link.tap.up_on_open=1"]) == \
        (0, "net.link.tap.up_on_open: 0 -> 1\n", "")
    assert h.run(["sysctl", "-n", "net.link.tap.up_on_open"])[1] == "1\n"
    rc, _, err = h.run(["sysctl", "net.link.tap.up_on_opne=1"])
    assert rc == 1 and "unknown oid" in err


def test_inet6_routes_need_an_on_link_gateway(host):
    # route(8) reads addresses as inet unless told -inet6.
    assert "bad address" in fails(host, "route", "-n", "add", "default", "fe80::1%em0")
    assert "bad address" in fails(host, "route", "-n", "add", "-net", "2001:db8:20::/48",
                                  "2001:db8::254")
    # A global gateway must sit in an inet6 prefix of some interface.
    assert "unreachable" in fails(host, "route", "-n", "add", "-inet6", "-net",
                                  "2001:db8:20::/48", "2001:db8::254")
    ok(host, "ifconfig", "em0", "inet6", "2001:db8::10/64", "alias")
    ok(host, "route", "-n", "add", "-inet6", "-net", "2001:db8:20::/48", "2001:db8::254")
    # A link-local one needs its scope, and that link its own link-local.
    assert "Invalid argument" in fails(host, "route", "-n", "add", "-inet6", "default",
                                       "fe80::1")
    assert "bad address" in fails(host, "route", "-n", "add", "-inet6", "default",
                                  "fe80::1%nosuch0")
    ok(host, "ifconfig", "bridge", "create", "name", "br-x", "up")
    assert "unreachable" in fails(host, "route", "-n", "add", "-inet6", "default",
                                  "fe80::1%br-x")
    ok(host, "ifconfig", "br-x", "inet6", "-ifdisabled", "auto_linklocal")
    assert [a for a in host.ifaces["br-x"].inet6 if a.startswith("fe80:")]
    ok(host, "route", "-n", "add", "-inet6", "default", "fe80::1%br-x")
    table = ok(host, "netstat", "-rn", "-f", "inet6")
    assert "Internet6:" in table
    assert any(r.split()[:4] == ["default", "fe80::1%br-x", "UGS", "br-x"]
               for r in table.splitlines())
    # Routes go with the address their gateway depended on.
    ok(host, "ifconfig", "em0", "inet6", "2001:db8::10", "-alias")
    assert "2001:db8:20::/48" not in host.routes and "::/0" in host.routes
    ok(host, "ifconfig", "br-x", "destroy")
    assert "::/0" not in host.routes
