"""The ``vrouter`` VIF driver: bsdnet's overlay.

libvirt's bhyve driver only attaches NICs to bridges, so each port gets a
private bridge ('vrb' + port id) holding nothing but its tap: two guests'
taps are never on one bridge, so tenants stay apart even when the datapath
is down or not yet attached.  The port is then registered with the agent
(``POST /port``), which attaches the tap to the datapath when it appears.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from bsdnet.agent.apiclient import PortApiClient, PortApiError
from bsdnet.agent.portstore import Port
from bsdnet.driver.domain import Interface
from bsdnet.driver.domain import validate as v
from bsdnet.driver.vif.base import NetDriver, Vif, VifDriver, _hexid, tap_name


def port_bridge(vif: Vif) -> str:
    return v.check_ifname("vrb" + _hexid(vif["id"])[:11])


def _addresses(vif: Vif) -> tuple[str, str]:
    v4, v6 = "0.0.0.0", ""
    for subnet in (vif.get("network") or {}).get("subnets") or []:
        for ip in subnet.get("ips") or []:
            addr = ipaddress.ip_address(ip["address"])
            if addr.version == 4 and v4 == "0.0.0.0":
                v4 = str(addr)
            elif addr.version == 6 and not v6:
                v6 = str(addr)
    return v4, v6


def port_request(instance: Any, vif: Vif) -> Port:
    """The port API's port for a Nova VIF (all fields checked)."""
    v4, v6 = _addresses(vif)
    net = vif.get("network") or {}
    return Port(id=v.check_uuid(vif["id"]), instance_id=v.check_uuid(instance.uuid),
                mac_address=v.check_mac(vif["address"]), system_name=tap_name(vif),
                vn_id=v.check_uuid(net["id"]), ip_address=v4, ip6_address=v6,
                display_name=v.check_text(getattr(instance, "display_name", None) or instance.name,
                                          "display name", 255),
                vm_project_id=str(getattr(instance, "project_id", None) or ""))


class VrouterVifDriver(VifDriver):
    name = "vrouter"

    def __init__(self, net: NetDriver, api: PortApiClient) -> None:
        self.net = net
        self.api = api

    def interface(self, instance: Any, vif: Vif) -> Interface:
        return Interface(type="bridge", mac=v.check_mac(vif["address"]), source_bridge=port_bridge(vif),
                         target_dev=tap_name(vif))

    def plug(self, instance: Any, vif: Vif) -> None:
        req = port_request(instance, vif)
        bridge = port_bridge(vif)
        self.net.ensure_bridge(bridge, None)
        try:
            self.api.add_port(req)
        except PortApiError:
            self.net.delete_bridge(bridge)
            raise

    def unplug(self, instance: Any, vif: Vif) -> None:
        try:
            self.api.delete_port(str(vif["id"]))
        finally:
            self.net.delete_bridge(port_bridge(vif))
