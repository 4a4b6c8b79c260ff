"""VIF drivers: how a Neutron port becomes a NIC of a bhyve guest.

``bridge``: the port's network bridge (made by the network driver, with a
VLAN interface when the network has one); libvirt makes the tap on it.
``vrouter``: a private bridge per port, so the tap is alone on it, and the
port registered with the bsdnet agent through its port API.
"""

from bsdnet.driver.vif.base import NetDriver, VifDriver, tap_name
from bsdnet.driver.vif.bridge import BridgeVifDriver
from bsdnet.driver.vif.vrouter import VrouterVifDriver

__all__ = ["BridgeVifDriver", "NetDriver", "VifDriver", "VrouterVifDriver", "tap_name", "get_vif_driver"]


def get_vif_driver(kind: str, **kwargs: object) -> VifDriver:
    """'bridge' or 'vrouter', with the collaborators each needs."""
    if kind == "bridge":
        return BridgeVifDriver(**kwargs)  # type: ignore[arg-type]
    if kind == "vrouter":
        return VrouterVifDriver(**kwargs)  # type: ignore[arg-type]
    raise ValueError(f"unknown VIF driver {kind!r} (bridge, vrouter)")
