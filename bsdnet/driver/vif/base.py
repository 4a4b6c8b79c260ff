"""The VIF driver interface and the network-driver interface it depends on."""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from typing import Any, Protocol

from bsdnet.driver.domain import Interface
from bsdnet.driver.domain import validate as v

# Nova's network_info VIF: a dict-like with id, address, type, devname,
# network{id, bridge, subnets[...], meta{...}}, details{...}.
Vif = Mapping[str, Any]


class NetDriver(Protocol):
    """What the VIF drivers need from the network driver (``bsdnet.driver.net``).

    Injected, so the VIF drivers are tested with a fake; ``vif.netadapter``
    puts bsdnet's own network driver (ifconfig on FreeBSD, pyroute2 on
    Linux) behind it.  Every method is idempotent.
    """

    def ensure_network(self, network_id: str, bridge: str, uplink: str | None,
                       vlan: int | None, mtu: int | None) -> None:
        """The network's bridge, with the uplink (or its VLAN interface) as member."""

    def ensure_bridge(self, name: str, mtu: int | None = None) -> None:
        """A bridge with no uplink: one port's private bridge (vrouter)."""

    def delete_bridge(self, name: str) -> None:
        """Remove a bridge ensure_bridge made (absent is fine)."""


def _hexid(vif_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", str(vif_id))


def tap_name(vif: Vif) -> str:
    """Nova's tap name: the VIF's devname, else 'tap' + the first 11 id characters."""
    return v.check_ifname(vif.get("devname") or "tap" + _hexid(vif["id"])[:11])


class VifDriver(abc.ABC):
    """Turns a VIF into a domain ``<interface>`` and plugs / unplugs it on the host."""

    name = ""

    @abc.abstractmethod
    def interface(self, instance: Any, vif: Vif) -> Interface:
        """The ``<interface type='bridge'>`` element for this VIF."""

    @abc.abstractmethod
    def plug(self, instance: Any, vif: Vif) -> None:
        """Prepare the host so libvirt can attach the guest's tap (idempotent)."""

    @abc.abstractmethod
    def unplug(self, instance: Any, vif: Vif) -> None:
        """Undo plug (idempotent, tolerant of half-plugged state)."""
