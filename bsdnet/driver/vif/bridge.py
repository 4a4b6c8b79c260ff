"""The ``bridge`` VIF driver: guests of one network share that network's bridge.

The network driver makes the bridge (with the uplink, or the VLAN interface
on it, as member); libvirt makes the tap and adds it to the bridge.  Without
an uplink the bridge is host-only.
Unplug leaves the bridge: other guests of the network use it.
"""

from __future__ import annotations

from typing import Any

from bsdnet.driver.domain import Interface
from bsdnet.driver.domain import validate as v
from bsdnet.driver.vif.base import NetDriver, Vif, VifDriver, _hexid, tap_name


def bridge_for(vif: Vif) -> str:
    """The network's bridge: Neutron's ``network.bridge``, else 'bnb' + network id."""
    net = vif.get("network") or {}
    return v.check_ifname(net.get("bridge") or "bnb" + _hexid(net.get("id", ""))[:12])


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


class BridgeVifDriver(VifDriver):
    name = "bridge"

    def __init__(self, net: NetDriver, uplink: str | None = None) -> None:
        self.net = net
        self.uplink = v.check_ifname(uplink) if uplink else None

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
        if self.uplink is None:
            self.net.ensure_bridge(bridge, mtu)
        else:
            self.net.ensure_network(str(net.get("id")), bridge, self.uplink, tag, mtu)

    def unplug(self, instance: Any, vif: Vif) -> None:
        # libvirt destroys the tap with the domain; the bridge is the network's.
        return None
