"""bsdnet's network driver (``bsdnet.driver.net``) behind the VIF drivers'
``NetDriver`` interface.

``ensure_network`` is the network driver's own ``ensure_network`` (bridge,
uplink or its VLAN interface, or none for a host-only network, MTU,
ownership marks; with a DHCP subnet the bridge's address and the
network's dnsmasq).  ``plug_port`` adopts the tap
libvirt made (``create=False``) and puts the port's static lease in the
dnsmasq host file; ``unplug_port`` undoes both.  ``ensure_bridge`` makes
the bare, uplink-less bridge of one vrouter port, marked ``kind=portbridge``
so the network driver's ownership checks know it for bsdnet's; only such a
bridge is ever destroyed by ``delete_bridge``.
"""

from __future__ import annotations

from typing import Any

from bsdnet.driver.domain import validate as v
from bsdnet.driver.vif.base import DhcpSubnet, PortInfo

KIND = "portbridge"


class NetworkDriverAdapter:
    def __init__(self, driver: Any) -> None:
        from bsdnet.driver.net import names
        self.driver = driver
        self.backend = driver.backend
        self._names = names

    def ensure_network(self, network_id: str, bridge: str, uplink: str | None, vlan: int | None,
                       mtu: int | None, dhcp: DhcpSubnet | None = None) -> None:
        from bsdnet.driver.net import Network
        net = Network(id=network_id, uplink=uplink, vlan=vlan, mtu=mtu, bridge=bridge)
        if dhcp is not None:
            net.dhcp, net.cidr, net.bridge_address = True, dhcp.cidr, dhcp.server
            net.gateway, net.dns, net.routes = dhcp.gateway, list(dhcp.dns), list(dhcp.routes)
        self.driver.ensure_network(net)

    def plug_port(self, port: PortInfo) -> None:
        from bsdnet.driver.net import Port
        # create=False: the tap is libvirt's; it must exist already.
        self.driver.plug_port(Port(id=port.id, network_id=port.network_id, mac=port.mac, ip=port.ip,
                                   hostname=port.hostname, tap=port.tap), create=False)

    def unplug_port(self, port_id: str) -> None:
        self.driver.unplug_port(port_id)

    def _ours(self, name: str) -> Any:
        st = self.backend.get(name)
        if st is None:
            return None
        mark = self._names.parse_mark(st.description)
        if mark is None or mark.get("kind") != KIND or mark.get("bridge") != name:
            from bsdnet.driver.net import NotOwned
            raise NotOwned(f"{name} exists and is not a bsdnet port bridge ({st.description!r}); not touching it")
        return st

    def ensure_bridge(self, name: str, mtu: int | None = None) -> None:
        # No MTU here: a bridge takes its MTU from its first member, the tap.
        v.check_ifname(name)
        if self._ours(name) is None:
            self.backend.create_bridge(name, self._names.make_mark(KIND, bridge=name), self.driver.group)

    def delete_bridge(self, name: str) -> None:
        if self._ours(name) is not None:
            self.backend.destroy(name)
