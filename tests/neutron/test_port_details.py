"""What a port's Neutron details do on the node: DHCP answers with the
subnet's DNS servers and host routes; anti-spoofing follows the fixed IPs
and allowed address pairs; port security off turns the checks off."""
from __future__ import annotations

import pytest

from bsdnet.sandbox import neutron as sbneutron
from bsdnet.sandbox import orchestrate
from bsdnet.sandbox.netns import ns_exec

from integration import vmtools

from datapath.helpers import wait_for

pytestmark = pytest.mark.root

# Sends one UDP datagram from a given source address (argv: src dst port),
# through a raw socket, so the VM can pretend to be anyone.
SPOOF = """
import socket, struct, sys
src, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
udp = struct.pack("!HHHH", 5555, port, 10, 0) + b"hi"
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.sendto(ip + udp, (dst, 0))
"""

# Prints the source of each datagram received on argv[1].
LISTEN = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
print("ready", flush=True)
while True:
    b, a = s.recvfrom(2048)
    print(a[0], flush=True)
"""


def test_dhcp_gives_neutrons_dns_and_host_routes(nsandbox, neutron):
    p = nsandbox.plan.neutron["project_id"]
    net = neutron.create("network", name=f"{nsandbox.plan.prefix}-opts", project_id=p)
    neutron.create("subnet", network_id=net["id"], ip_version=4, cidr="10.44.0.0/24",
                   project_id=p, gateway_ip="10.44.0.1", dns_nameservers=["10.44.0.53"],
                   host_routes=[{"destination": "198.18.0.0/15", "nexthop": "10.44.0.254"}])
    port = neutron.create("port", network_id=net["id"], project_id=p)
    vm = sbneutron.add_vm(nsandbox.plan, nsandbox.rundir, "opts", "n1", port["id"])
    try:
        assert vm.ip == port["fixed_ips"][0]["ip_address"]
        assert "nameserver 10.44.0.53" in open(f"/etc/netns/{vm.namespace}/resolv.conf").read()
        routes = ns_exec(vm.namespace, ["ip", "-4", "route"]).stdout
        assert "198.18.0.0/15 via 10.44.0.254" in routes, routes
        assert "default via 10.44.0.1" in routes, routes
    finally:
        sbneutron.del_vm(nsandbox.plan, nsandbox.rundir, "opts")
        neutron.delete("port", port["id"])
        neutron.delete("network", net["id"])


def _red(nsandbox):
    red = {v.node: v for v in nsandbox.plan.vms if v.network == "red"}
    return red["n1"], red["n2"]


def _sent(src, dst, source: str, listener, port: int) -> bool:
    r = vmtools.run(src.namespace, SPOOF, source, dst.ip, str(port))
    assert r.returncode == 0, r.stderr
    return _heard(listener, source)


def _heard(listener, source: str, timeout: float = 1.5) -> bool:
    import select
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([listener.stdout], [], [], 0.1)
        if ready and listener.stdout.readline().strip() == source:
            return True
    return False


def test_antispoofing_follows_pairs_and_port_security(nsandbox, neutron):
    src, dst = _red(nsandbox)
    listener = vmtools.spawn(dst.namespace, LISTEN, "7777")
    before = neutron.show("port", src.port_id)
    try:
        vmtools.wait_ready(listener)
        # an open port on the receiver for these datagrams
        project = nsandbox.plan.neutron["project_id"]
        sg = neutron.create("security_group", name="udp7777", project_id=project)
        neutron.add_rule(sg["id"], direction="ingress", ethertype="IPv4", protocol="udp",
                         port_range_min=7777, port_range_max=7777)
        dst_groups = neutron.show("port", dst.port_id)["security_groups"]
        neutron.update("port", dst.port_id, security_groups=dst_groups + [sg["id"]])
        assert wait_for(lambda: _sent(src, dst, src.ip, listener, 7777),
                        "own address passes", 10, pause=0)
        assert not _sent(src, dst, "10.0.0.250", listener, 7777)     # spoofed: dropped
        neutron.update("port", src.port_id,
                       allowed_address_pairs=[{"ip_address": "10.0.0.250"}])
        assert wait_for(lambda: _sent(src, dst, "10.0.0.250", listener, 7777),
                        "a pair's address passes", 10, pause=0)
        assert not _sent(src, dst, "10.0.0.251", listener, 7777)
        neutron.update("port", src.port_id, allowed_address_pairs=[], security_groups=[],
                       port_security_enabled=False)
        assert wait_for(lambda: _sent(src, dst, "10.0.0.251", listener, 7777),
                        "any address once port security is off", 10, pause=0)
    finally:
        vmtools.kill_tree(listener)
        neutron.update("port", src.port_id, port_security_enabled=True,
                       security_groups=before["security_groups"],
                       allowed_address_pairs=before["allowed_address_pairs"])
        neutron.update("port", dst.port_id, security_groups=dst_groups)
        wait_for(lambda: _delete(neutron, sg["id"]), "group unused", 10)
    assert orchestrate.ping(src.namespace, dst.ip, count=2)


def _delete(neutron, gid) -> bool:
    from bsdnet.sandbox.neutronapi import NeutronError
    try:
        neutron.delete("security_group", gid)
    except NeutronError as e:
        if e.status == 409:
            return False
        raise
    return True
