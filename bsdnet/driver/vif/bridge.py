"""The ``bridge`` VIF driver: guests of one network share that network's bridge.

The network driver makes the bridge (with the uplink, or the VLAN interface
on it, as member); libvirt makes the tap and adds it to the bridge when the
guest starts.  Without an uplink the bridge is host-only: the network
driver keeps it as a network all the same, so its guests get leases too.

Roadmap:
  plug        before the domain is defined: the network (bridge, VLAN, and,
              when the subnet names a DHCP server, its address and dnsmasq)
  attach_tap  after libvirt started the guest: the network driver adopts the
              tap (mark, MTU, up) and writes the MAC -> IP static lease into
              the network's dnsmasq host file (dnsmasq re-reads it on SIGHUP)
  unplug      the port leaves the bridge and the host file; the bridge stays,
              other guests of the network use it

DHCP follows nova-network's multi-host dnsmasq: the IPv4 subnet's
``meta['dhcp_server']`` is the address this host's bridge answers from.  A
subnet without it gets no local DHCP (Neutron's DHCP agent serves it), and
``[bhyve] bridge_dhcp = false`` turns local DHCP off for every network, so
this host's dnsmasq never answers beside a Neutron DHCP port holding the
same address.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Any

from bsdnet.agent.apiclient import PortApiClient
from bsdnet.common import names
from bsdnet.driver.domain import DomainConfigError, Interface
from bsdnet.driver.domain import validate as v
from bsdnet.driver.vif.base import (DhcpSubnet, NetDriver, PortInfo, Vif, VifDriver, VifPlugError, tap_name)
from bsdnet.driver.vif.vrouter import port_request

LOG = logging.getLogger(__name__)
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")


def bridge_for(vif: Vif) -> str:
    """The network's bridge: Neutron's ``network.bridge``, else the one
    every node names after the network id (bsdnet.common.names)."""
    net = vif.get("network") or {}
    return v.check_ifname(net.get("bridge") or
                          names.bridge_name(str(net.get("id", "")), error=DomainConfigError))


def vlan_for(vif: Vif) -> int | None:
    details = vif.get("details") or {}
    meta = (vif.get("network") or {}).get("meta") or {}
    tag = details.get("vlan") or meta.get("vlan")
    if tag in (None, ""):
        return None
    tag = int(tag)
    if not 1 <= tag <= 4094:
        raise ValueError(f"VLAN {tag} out of range 1..4094")
    return tag


def _addr(obj: Any) -> str | None:
    """Nova's IP objects are dicts with 'address'; tolerate a bare string."""
    if isinstance(obj, str):
        return obj or None
    return (obj or {}).get("address") or None


def _v4_subnet(vif: Vif) -> Any:
    for subnet in (vif.get("network") or {}).get("subnets") or []:
        cidr = subnet.get("cidr")
        if cidr and ipaddress.ip_network(cidr, strict=False).version == 4:
            return subnet
    return None


def dhcp_for(vif: Vif) -> DhcpSubnet | None:
    """The subnet this host's dnsmasq serves for the VIF's network, or None."""
    subnet = _v4_subnet(vif)
    server = ((subnet or {}).get("meta") or {}).get("dhcp_server")
    if not server:
        return None
    cidr = ipaddress.ip_network(subnet["cidr"], strict=False)
    server_ip = ipaddress.ip_address(_addr(server))
    if server_ip not in cidr:
        # The bridge could not answer from it: no local DHCP rather than no guest.
        LOG.warning("VIF %s: DHCP server %s is outside %s; not serving DHCP for it here",
                    vif.get("id"), server_ip, cidr)
        return None
    routes = []
    for r in subnet.get("routes") or []:
        via = _addr(r.get("gateway"))
        if r.get("cidr") and via:
            routes.append((str(ipaddress.ip_network(r["cidr"], strict=False)), str(ipaddress.ip_address(via))))
    gateway = _addr(subnet.get("gateway"))
    dns = tuple(str(ipaddress.ip_address(a)) for a in map(_addr, subnet.get("dns") or []) if a)
    return DhcpSubnet(cidr=str(cidr), server=f"{server_ip}/{cidr.prefixlen}",
                      gateway=str(ipaddress.ip_address(gateway)) if gateway else None,
                      dns=dns, routes=tuple(routes))


def port_for(instance: Any, vif: Vif) -> PortInfo:
    """The port as the network driver registers it: the VIF's first IPv4
    address (the lease) and the instance's host name when it is a DNS label."""
    ip = None
    subnet = _v4_subnet(vif)
    for entry in (subnet or {}).get("ips") or []:
        addr = _addr(entry)
        if addr and ipaddress.ip_address(addr).version == 4:
            ip = str(ipaddress.ip_address(addr))
            break
    hostname = getattr(instance, "hostname", None)
    if not (isinstance(hostname, str) and _LABEL.match(hostname)):
        hostname = None
    net = vif.get("network") or {}
    return PortInfo(id=str(vif["id"]), network_id=str(net.get("id")), mac=v.check_mac(vif["address"]),
                    tap=tap_name(vif), ip=ip, hostname=hostname)


class BridgeVifDriver(VifDriver):
    name = "bridge"

    def __init__(self, net: NetDriver, uplink: str | None = None, dhcp: bool = True,
                 agent: PortApiClient | None = None) -> None:
        self.net = net
        self.uplink = v.check_ifname(uplink) if uplink else None
        self.dhcp = dhcp
        # With Neutron: the node's agent, told of each port so that it
        # reports the port up to Neutron (which then marks it ACTIVE).
        self.agent = agent

    def interface(self, instance: Any, vif: Vif) -> Interface:
        return Interface(type="bridge", mac=v.check_mac(vif["address"]), source_bridge=bridge_for(vif),
                         target_dev=tap_name(vif))

    def plug(self, instance: Any, vif: Vif) -> None:
        bridge = bridge_for(vif)
        net = vif.get("network") or {}
        mtu = (net.get("meta") or {}).get("mtu")
        tag = vlan_for(vif)
        if tag is not None and self.uplink is None:
            raise ValueError(f"network of VIF {vif['id']} is VLAN {tag} but no uplink is configured")
        self.net.ensure_network(str(net.get("id")), bridge, self.uplink, tag, mtu,
                                dhcp_for(vif) if self.dhcp else None)
        if self.agent is not None:
            self.agent.add_port(port_request(instance, vif))

    def attach_tap(self, instance: Any, vif: Vif) -> None:
        port = port_for(instance, vif)
        try:
            self.net.plug_port(port)
        except Exception as exc:
            raise VifPlugError(f"VIF {port.id} (tap {port.tap}, MAC {port.mac}) of instance "
                               f"{getattr(instance, 'uuid', '?')}: network driver refused the port: {exc}") from exc
        LOG.info("port %s on tap %s registered (lease %s)", port.id, port.tap, port.ip or "none")

    def unplug(self, instance: Any, vif: Vif) -> None:
        # The tap is libvirt's (it goes with the domain), the bridge the
        # network's: only the port's registration and lease go here.
        self.net.unplug_port(str(vif["id"]))
        if self.agent is not None:
            self.agent.delete_port(str(vif["id"]))
