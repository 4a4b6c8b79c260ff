"""VIF drivers: how a Neutron port becomes a NIC of a bhyve guest.

``bridge``: the port's network bridge (made by the network driver, with a
VLAN interface when the network has one); libvirt makes the tap on it, and
once the guest runs the network driver adopts the tap and serves its lease.
``vrouter``: a private bridge per port, so the tap is alone on it, and the
port registered with the bsdnet agent through its port API.
"""

from typing import Any

from bsdnet.driver.domain import Interface
from bsdnet.driver.vif.base import (DhcpSubnet, NetDriver, PortInfo, UnsupportedVif, Vif, VifDriver, VifPlugError,
                                    tap_name)
from bsdnet.driver.vif.bridge import BridgeVifDriver
from bsdnet.driver.vif.vrouter import VrouterVifDriver

__all__ = ["BridgeVifDriver", "DhcpSubnet", "NetDriver", "PortInfo", "UnsupportedVif", "VifDispatcher",
           "VifDriver", "VifPlugError", "VrouterVifDriver", "get_vif_driver", "tap_name"]


class VifDispatcher(VifDriver):
    """Picks the VIF driver by the port's binding (``vif['type']``).

    A VIF without a type goes to ``default``; a type no driver here handles
    (say 'ovs': Neutron bound the port for a switch this host does not run)
    is refused at spawn rather than plugged the wrong way.
    """

    name = "dispatch"

    def __init__(self, drivers: dict[str, VifDriver], default: str) -> None:
        if default not in drivers:
            raise ValueError(f"default VIF driver {default!r} not among {sorted(drivers)}")
        self.drivers = drivers
        self.default = default

    def pick(self, vif: Vif) -> VifDriver:
        kind = vif.get("type") or self.default
        try:
            return self.drivers[kind]
        except KeyError:
            raise UnsupportedVif(f"VIF {vif.get('id')} is bound as {kind!r}; this host plugs "
                                    f"{sorted(self.drivers)}") from None

    def interface(self, instance: Any, vif: Vif) -> Interface:
        return self.pick(vif).interface(instance, vif)

    def plug(self, instance: Any, vif: Vif) -> None:
        self.pick(vif).plug(instance, vif)

    def attach_tap(self, instance: Any, vif: Vif) -> None:
        self.pick(vif).attach_tap(instance, vif)

    def unplug(self, instance: Any, vif: Vif) -> None:
        self.pick(vif).unplug(instance, vif)


def get_vif_driver(kind: str, **kwargs: object) -> VifDriver:
    """'bridge' or 'vrouter', with the collaborators each needs."""
    if kind == "bridge":
        return BridgeVifDriver(**kwargs)  # type: ignore[arg-type]
    if kind == "vrouter":
        return VrouterVifDriver(**kwargs)  # type: ignore[arg-type]
    raise ValueError(f"unknown VIF driver {kind!r} (bridge, vrouter)")
