"""One node with VMs, built as namespaces and programmed through the
agent's table layer (what the agent does for a port, done by hand)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from bsdnet.shm.abi import lib
from bsdnet.shm.region import Region
from bsdnet.shm.tables import Nexthop, Tables, Vif

from .nsutil import Namespaces, ip, nsexec, suffix

ROUTER_MAC = "00:00:5e:00:01:00"


def random_mac() -> str:
    b = bytearray(secrets.token_bytes(6))
    b[0] = (b[0] & 0xfc) | 0x02        # local, unicast
    return ":".join(f"{x:02x}" for x in b)


@dataclass
class VM:
    ns: str
    tap: str            # node side of the veth
    ip: str
    mac: str
    vif: int
    nh: int
    label: int


class Node:
    """A node namespace whose datapath region is programmed by `tables`."""

    def __init__(self, namespaces: Namespaces, ns: str, region: Region,
                 tables: Tables) -> None:
        self.namespaces = namespaces
        self.ns = ns
        self.region = region
        self.tables = tables

    def add_vm(self, vm_ip: str, vrf: int, policy: bool = False,
               plen: int = 24) -> VM:
        vm_ns = self.namespaces.add("bdv")
        tap = f"t{suffix()}"
        mac = random_mac()
        self.namespaces.veth(self.ns, tap, vm_ns, "eth0", up=False)
        # Quiet VMs: no IPv6 chatter in the captures and counters.
        nsexec(vm_ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
        ip("link", "set", "eth0", "address", mac, ns=vm_ns)
        ip("addr", "add", f"{vm_ip}/{plen}", "dev", "eth0", ns=vm_ns)
        ip("link", "set", "eth0", "up", ns=vm_ns)
        ip("link", "set", tap, "up", ns=self.ns)
        flags = lib.BSDNET_VIF_F_UP | (lib.BSDNET_VIF_F_POLICY if policy
                                       else 0)
        t = self.tables
        vif_entry = Vif(type=lib.BSDNET_VIF_VIRTUAL, flags=flags, vrf=vrf,
                        ip=vm_ip, mac=mac, name=tap)
        vif = t.vifs.add(vif_entry)
        nh = t.nexthops.add(Nexthop(type=lib.BSDNET_NH_ENCAP, vrf=vrf,
                                    vif=vif, dmac=mac, smac=ROUTER_MAC))
        vif_entry.nh = nh
        t.vifs.update(vif, vif_entry)
        label = t.labels.alloc(nh)
        t.vrfs.add_route(vrf, f"{vm_ip}/32", nh)
        return VM(vm_ns, tap, vm_ip, mac, vif, nh, label)
