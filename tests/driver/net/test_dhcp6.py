"""IPv6 on a bridged network: router advertisements and DHCPv6 from the
network's dnsmasq, taken by a stock client in another namespace (the
kernel's SLAAC, ISC dhclient -6)."""

from __future__ import annotations

import ipaddress
import json
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from bsdnet.driver.net import Network, Port
from bsdnet.driver.net.dnsmasq import DnsmasqManager
from bsdnet.driver.net.errors import InvalidName

from .netdrv_env import dhcp_tools

CLIENT_MAC = "52:54:00:77:00:06"
# The EUI-64 interface id of CLIENT_MAC (RFC 4291 appendix A).
SLAAC_ADDR = "2001:db8:77::5054:ff:fe77:6"


@pytest.fixture
def client6(linux):
    """A client namespace joined to the test namespace by a veth pair; the
    client end stays down until the test brings it up (so its router
    solicitation goes out once dnsmasq listens)."""
    dhcp_tools()
    sfx = secrets.token_hex(3)
    ns, here, there = f"bnc{sfx}", f"cl{sfx}", f"cp{sfx}"
    work = Path(tempfile.mkdtemp(prefix="bsdnet-dhcp6-"))
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", linux.ns.ns, "link", "add", here, "type", "veth", "peer",
                        "name", there, "netns", ns], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", there, "address", CLIENT_MAC],
                       check=True)
        yield ns, here, there, work
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def global_v6(ns: str, ifname: str) -> list[dict]:
    out = subprocess.run(["ip", "-n", ns, "-j", "-6", "addr", "show", "dev", ifname,
                          "scope", "global"], capture_output=True, text=True, check=True)
    return [a for link in json.loads(out.stdout) for a in link.get("addr_info", [])
            if "local" in a]


def wait_for(fn, seconds: float):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.2)
    return fn()


def v6net(linux, mode: str, **kw) -> Network:
    return Network(id="d6", uplink=linux.uplink, cidr="10.79.0.0/24",
                   bridge_address="10.79.0.1/24", dhcp=True, cidr6="2001:db8:77::/64",
                   bridge_address6="2001:db8:77::1/64", ipv6_ra_mode=mode,
                   ipv6_address_mode=mode, **kw)


def test_slaac_client_configures_itself_from_the_ra(linux, client6):
    ns, here, there, _ = client6
    drv = linux.driver
    drv.ensure_network(v6net(linux, "slaac"))
    drv.plug_port(Port(id="vm6", network_id="d6", mac=CLIENT_MAC, ip="10.79.0.50",
                       tap=here), create=False)
    subprocess.run(["ip", "-n", ns, "link", "set", there, "up"], check=True)
    addrs = wait_for(lambda: global_v6(ns, there), 20)
    assert [(ipaddress.IPv6Address(a["local"]), a["prefixlen"]) for a in addrs] == \
        [(ipaddress.IPv6Address(SLAAC_ADDR), 64)]
    # The kernel made it from the prefix (the RA's autonomous flag).
    assert addrs[0].get("dynamic") is True
    drv.unplug_port("vm6")
    drv.delete_network("d6")


def test_stateful_dhcpv6_client_gets_its_fixed_address(linux, client6):
    ns, here, there, work = client6
    dhclient = shutil.which("dhclient")
    if dhclient is None:
        pytest.skip("dhclient (isc-dhcp-client) is not installed")
    drv = linux.driver
    drv.ensure_network(v6net(linux, "dhcpv6-stateful"))
    drv.plug_port(Port(id="vm6", network_id="d6", mac=CLIENT_MAC, ip="10.79.0.50",
                       ip6="2001:db8:77::50", tap=here), create=False)
    subprocess.run(["ip", "-n", ns, "link", "set", there, "up"], check=True)
    # The M flag: no SLAAC address appears, the address comes from DHCPv6.
    # dhclient needs the link-local address to be past DAD first.
    wait_for(lambda: not subprocess.run(
        ["ip", "-n", ns, "-6", "addr", "show", "dev", there, "tentative"],
        capture_output=True, text=True).stdout.strip(), 10)
    leases = work / "dhclient6.leases"
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, dhclient, "-6", "-1", "-v", "-sf", "/bin/true",
         "-lf", str(leases), "-pf", str(work / "dhclient6.pid"), there],
        capture_output=True, text=True, timeout=60, check=False)
    subprocess.run(["ip", "netns", "exec", ns, dhclient, "-6", "-x", "-pf",
                    str(work / "dhclient6.pid")], capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "iaaddr 2001:db8:77::50 " in leases.read_text()
    assert [a["local"] for a in global_v6(ns, there)] == []
    drv.unplug_port("vm6")
    drv.delete_network("d6")


def test_ra_and_dhcpv6_ranges_follow_neutron_modes(tmp_path):
    mgr = DnsmasqManager(tmp_path)
    base = dict(id="n6", uplink="em0", cidr="10.0.0.0/24", bridge_address="10.0.0.1/24",
                dhcp=True, cidr6="2001:db8:1::/64", bridge_address6="2001:db8:1::1/64")
    rng = "--dhcp-range=set:n6-v6,2001:db8:1::,{},64,86400s"
    for mode, kind in (("slaac", "ra-only"), ("dhcpv6-stateless", "ra-stateless"),
                       ("dhcpv6-stateful", "static")):
        net = Network(**base, ipv6_ra_mode=mode, ipv6_address_mode=mode).validate()
        assert mgr.argv6(net) == [rng.format(kind), "--enable-ra"]
    # Another router advertises: DHCPv6 only, or nothing at all for SLAAC.
    net = Network(**base, ipv6_address_mode="dhcpv6-stateful").validate()
    assert mgr.argv6(net) == [rng.format("static")]
    assert mgr.argv6(Network(**base, ipv6_address_mode="slaac").validate()) == []
    ports = [Port(id="a", network_id="n6", mac="52:54:00:00:00:01", ip="10.0.0.5",
                  ip6="2001:db8:1::5", hostname="web1"),
             Port(id="b", network_id="n6", mac="52:54:00:00:00:02", ip6="2001:db8:1::6")]
    assert mgr.host_lines(ports) == ("52:54:00:00:00:01,10.0.0.5,[2001:db8:1::5],web1\n"
                                     "52:54:00:00:00:02,[2001:db8:1::6]\n")
    for bad in (dict(ipv6_ra_mode="slaac", ipv6_address_mode="dhcpv6-stateful"),
                dict(ipv6_ra_mode="stateful"),
                dict(ipv6_ra_mode="slaac", cidr6="2001:db8:1::/56",
                     bridge_address6="2001:db8:1::1/56"),
                dict(ipv6_ra_mode="slaac", bridge_address6=None),
                dict(bridge_address6="2001:db8:2::1/64")):
        with pytest.raises(InvalidName):
            Network(**{**base, **bad}).validate()
