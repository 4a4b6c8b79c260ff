"""DHCP on a bridged network: dnsmasq bound to the bridge in one namespace,
a stock client (busybox udhcpc) in another namespace on the bridge."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from bsdnet.driver.net import Network, Port
from bsdnet.driver.net.dnsmasq import DnsmasqManager

from .netdrv_env import dhcp_tools

CLIENT_MAC = "52:54:00:77:00:05"

SCRIPT = """#!/bin/sh
# udhcpc calls this with deconfig/bound/renew; record what the server gave.
if [ "$1" = bound ]; then
  env | grep -E '^(ip|subnet|router|mtu|staticroutes|hostname)=' >> "$OUT"
fi
exit 0
"""


@pytest.fixture
def client(linux):
    """A client namespace joined to the test namespace by a veth pair."""
    udhcpc = dhcp_tools()
    sfx = secrets.token_hex(3)
    ns, here, there = f"bnc{sfx}", f"cl{sfx}", f"cp{sfx}"
    work = Path(tempfile.mkdtemp(prefix="bsdnet-dhcp-"))
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", linux.ns.ns, "link", "add", here, "type", "veth", "peer",
                        "name", there, "netns", ns], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", there, "address", CLIENT_MAC, "up"],
                       check=True)
        script = work / "script.sh"
        script.write_text(SCRIPT)
        script.chmod(0o755)
        out = work / "leases.txt"

        def ask() -> list[str]:
            out.unlink(missing_ok=True)
            proc = subprocess.run(
                ["ip", "netns", "exec", ns, "env", f"OUT={out}", udhcpc, "-i", there,
                 "-f", "-q", "-n", "-t", "8", "-T", "1", "-A", "1", "-s", str(script),
                 "-O", "mtu", "-O", "staticroutes"],
                capture_output=True, text=True, timeout=60, check=False)
            assert proc.returncode == 0, proc.stderr + proc.stdout
            return dict(line.split("=", 1) for line in out.read_text().splitlines())

        yield here, ask
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def test_stock_client_gets_its_static_lease(linux, client):
    drv = linux.driver
    port_if, ask = client
    net = Network(id="dn1", uplink=linux.uplink, cidr="10.77.0.0/24", gateway="10.77.0.1",
                  bridge_address="10.77.0.1/24", dhcp=True, mtu=1400,
                  routes=[("10.99.0.0/16", "10.77.0.254")])
    drv.ensure_network(net)
    pid = drv.dhcp.pid("dn1")
    assert pid is not None
    # The veth end plays the VM's tap, made by someone else and adopted.
    drv.plug_port(Port(id="vm1", network_id="dn1", mac=CLIENT_MAC, ip="10.77.0.50",
                       hostname="vm1", tap=port_if), create=False)
    got = ask()
    assert got["ip"] == "10.77.0.50"
    assert got["subnet"] == "255.255.255.0"
    assert got["router"] == "10.77.0.1"
    assert got["mtu"] == "1400"
    assert got["hostname"] == "vm1"
    # udhcpc gives option 121 as "dst/len via" pairs.
    assert got["staticroutes"] == "10.99.0.0/16 10.77.0.254 0.0.0.0/0 10.77.0.1"

    # A port change rewrites the host file and reloads (SIGHUP), no restart.
    drv.unplug_port("vm1")
    drv.plug_port(Port(id="vm1", network_id="dn1", mac=CLIENT_MAC, ip="10.77.0.60",
                       tap=port_if), create=False)
    assert drv.dhcp.pid("dn1") == pid
    got = ask()
    assert got["ip"] == "10.77.0.60"

    # A dnsmasq that died is started again by the next plug.
    os.kill(pid, 15)
    for _ in range(100):
        if drv.dhcp.pid("dn1") is None:
            break
        time.sleep(0.05)
    drv.unplug_port("vm1")
    drv.plug_port(Port(id="vm1", network_id="dn1", mac=CLIENT_MAC, ip="10.77.0.70",
                       tap=port_if), create=False)
    pid = drv.dhcp.pid("dn1")
    assert pid is not None
    assert ask()["ip"] == "10.77.0.70"

    # The network going stops its dnsmasq.
    drv.unplug_port("vm1")
    drv.delete_network("dn1")
    assert drv.dhcp.pid("dn1") is None
    for _ in range(100):
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")
    assert drv.dhcp.networks() == []


def test_cleanup_stops_a_dnsmasq_nobody_wants(linux):
    drv = linux.driver
    net = Network(id="dn2", uplink=linux.uplink, cidr="10.78.0.0/24",
                  bridge_address="10.78.0.1/24", dhcp=True)
    drv.ensure_network(net)
    pid = drv.dhcp.pid("dn2")
    assert pid is not None
    drv.cleanup()
    assert drv.dhcp.pid("dn2") == pid            # wanted: left alone
    drv.store.drop_network("dn2")                # as if forgotten in a crash
    drv.cleanup()
    assert drv.dhcp.pid("dn2") is None and drv.dhcp.networks() == []


def test_host_and_option_files_are_what_dnsmasq_reads(tmp_path):
    mgr = DnsmasqManager(tmp_path)
    net = Network(id="n1", uplink="em0", cidr="10.0.0.0/24", gateway="10.0.0.1",
                  dns=["10.0.0.2"], routes=[("172.16.0.0/12", "10.0.0.254")], dhcp=True)
    ports = [Port(id="b", network_id="n1", mac="52:54:00:00:00:02", ip="10.0.0.6"),
             Port(id="a", network_id="n1", mac="52:54:00:00:00:01", ip="10.0.0.5",
                  hostname="web1"),
             Port(id="c", network_id="n1", mac="52:54:00:00:00:03")]   # no fixed IP
    assert mgr.host_lines(ports) == ("52:54:00:00:00:01,10.0.0.5,web1\n"
                                     "52:54:00:00:00:02,10.0.0.6\n")
    assert mgr.opt_lines(net, 9000).splitlines() == [
        "option:mtu,9000", "option:router,10.0.0.1", "option:dns-server,10.0.0.2",
        "option:classless-static-route,172.16.0.0/12,10.0.0.254,0.0.0.0/0,10.0.0.1"]
    argv = mgr.argv(net, "bnbn1")
    assert "--interface=bnbn1" in argv and "--bind-interfaces" in argv
    assert "--dhcp-range=set:n1,10.0.0.0,static,255.255.255.0,86400s" in argv
    assert mgr.update_hosts(net, ports) is True
    assert mgr.update_hosts(net, ports) is False     # unchanged: no reload
