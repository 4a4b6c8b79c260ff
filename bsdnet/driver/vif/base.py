"""The VIF driver interface and the network-driver interface it depends on."""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bsdnet.common import names
from bsdnet.driver.domain import DomainConfigError, Interface, UnsupportedConfig
from bsdnet.driver.domain import validate as v

# Nova's network_info VIF: a dict-like with id, address, type, devname,
# network{id, bridge, subnets[...], meta{...}}, details{...}.
Vif = Mapping[str, Any]


class VifPlugError(RuntimeError):
    """The network driver refused a port; the message names the VIF, its tap and why."""


class UnsupportedVif(UnsupportedConfig):
    """A port bound for a switch this host does not run (say 'ovs')."""


@dataclass(frozen=True)
class DhcpSubnet:
    """The IPv4 subnet a network's dnsmasq serves, from Nova's network_info."""

    cidr: str
    server: str  # the bridge's address, as 'ip/prefixlen'
    gateway: str | None = None
    dns: tuple[str, ...] = ()
    routes: tuple[tuple[str, str], ...] = ()  # (destination cidr, next hop)


@dataclass(frozen=True)
class PortInfo:
    """What the network driver needs to register one guest NIC."""

    id: str
    network_id: str
    mac: str
    tap: str
    ip: str | None = None
    hostname: str | None = None


class NetDriver(Protocol):
    """What the VIF drivers need from the network driver (``bsdnet.driver.net``).

    Injected, so the VIF drivers are tested with a fake; ``vif.netadapter``
    puts bsdnet's own network driver (ifconfig on FreeBSD, pyroute2 on
    Linux) behind it.  Every method is idempotent.
    """

    def ensure_network(self, network_id: str, bridge: str, uplink: str | None,
                       vlan: int | None, mtu: int | None, dhcp: DhcpSubnet | None = None) -> None:
        """The network's bridge, with the uplink (or its VLAN interface) as member,
        alone when ``uplink`` is None (a host-only network); with ``dhcp``, the
        bridge's address and a dnsmasq serving static leases."""

    def plug_port(self, port: PortInfo) -> None:
        """Adopt the tap libvirt made for a port and register its lease (MAC -> IP)."""

    def unplug_port(self, port_id: str) -> None:
        """Forget a port: off the bridge, out of dnsmasq's host file (absent is fine)."""

    def ensure_bridge(self, name: str, mtu: int | None = None) -> None:
        """A bridge with no uplink: one port's private bridge (vrouter)."""

    def delete_bridge(self, name: str) -> None:
        """Remove a bridge ensure_bridge made (absent is fine)."""


def _hexid(vif_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", str(vif_id))


def tap_name(vif: Vif) -> str:
    """The VIF's devname, else the tap Nova would name (bsdnet.common.names)."""
    return v.check_ifname(vif.get("devname") or names.tap_name(str(vif["id"]), error=DomainConfigError))


class VifDriver(abc.ABC):
    """Turns a VIF into a domain ``<interface>`` and plugs / unplugs it on the host."""

    name = ""

    @abc.abstractmethod
    def interface(self, instance: Any, vif: Vif) -> Interface:
        """The ``<interface type='bridge'>`` element for this VIF."""

    @abc.abstractmethod
    def plug(self, instance: Any, vif: Vif) -> None:
        """Prepare the host so libvirt can attach the guest's tap (idempotent)."""

    def attach_tap(self, instance: Any, vif: Vif) -> None:
        """libvirt has started the guest and made its tap: finish plugging
        (idempotent; called again after every start).  Nothing by default."""

    @abc.abstractmethod
    def unplug(self, instance: Any, vif: Vif) -> None:
        """Undo plug and attach_tap (idempotent, tolerant of half-plugged state)."""
