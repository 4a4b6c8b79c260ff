"""What the driver knows about interfaces, networks and ports.

IfState is the one model both backends fill: the FreeBSD backend by parsing
`ifconfig IF`, the Linux backend from rtnetlink.  Network and Port are what
the compute driver (or the operator's CLI) asks for.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import InvalidName
from .names import check_id, check_ifname, check_mac


@dataclass
class IfState:
    """One interface as the OS reports it."""

    name: str
    flags: list[str] = field(default_factory=list)
    mtu: int = 0
    ether: str | None = None
    inet: list[str] = field(default_factory=list)      # "10.0.0.1/24"
    inet6: list[str] = field(default_factory=list)     # "fe80::1%em0/64"
    description: str | None = None
    groups: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)   # bridge members
    member_stp: dict[str, bool] = field(default_factory=dict)
    vlan_tag: int | None = None
    vlan_parent: str | None = None
    opened_by: int | None = None                       # tap: "Opened by PID"
    kind: str | None = None                            # bridge/tap/vlan/epair/...
    master: str | None = None                          # Linux: bridge it is in

    @property
    def up(self) -> bool:
        return "UP" in self.flags

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Neutron's ipv6_ra_mode / ipv6_address_mode values.
IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")


@dataclass
class Network:
    """A flat or VLAN network, as nova-network's managers built them.

    uplink: the physical interface (flat: bridged directly; vlan: the parent
    of the VLAN interface); None for a host-only network, whose bridge
    joins this host's guests and the host itself.  move_address: move the
    uplink's addresses and default route to the bridge (flat networks on a
    host's only NIC).
    """

    id: str
    uplink: str | None
    vlan: int | None = None
    mtu: int | None = None
    bridge: str | None = None
    cidr: str | None = None          # subnet served by DHCP, e.g. 10.0.0.0/24
    gateway: str | None = None       # router option; also the bridge address
    bridge_address: str | None = None  # host address on the bridge, CIDR
    dns: list[str] = field(default_factory=list)
    routes: list[tuple[str, str]] = field(default_factory=list)  # (cidr, via)
    dhcp: bool = False
    move_address: bool = False
    stp: bool = False
    # An IPv6 subnet served by the same dnsmasq, with Neutron's two modes
    # (slaac, dhcpv6-stateful, dhcpv6-stateless): ra_mode says whether we
    # send router advertisements and which flags, address_mode how ports
    # get addresses.  bridge_address6 is the host's address on it (CIDR).
    cidr6: str | None = None
    bridge_address6: str | None = None
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None

    def validate(self) -> "Network":
        check_id(self.id, "network id")
        if self.uplink is not None:
            check_ifname(self.uplink)
        elif self.vlan is not None or self.move_address:
            raise InvalidName(f"network {self.id}: a VLAN or moved addresses need an uplink")
        if self.bridge is not None:
            check_ifname(self.bridge)
        if self.vlan is not None and not 1 <= int(self.vlan) <= 4094:
            raise InvalidName(f"VLAN tag {self.vlan} is outside 1-4094")
        if self.mtu is not None and not 576 <= int(self.mtu) <= 65535:
            raise InvalidName(f"MTU {self.mtu} is outside 576-65535")
        if self.dhcp and not (self.cidr and self.bridge_address):
            raise InvalidName(f"network {self.id}: DHCP needs a cidr and a bridge_address "
                              "in it (dnsmasq answers from the bridge)")
        self._validate_v6()
        try:
            if self.cidr:
                ipaddress.ip_network(self.cidr)
            for ip in [self.gateway, *self.dns]:
                if ip:
                    ipaddress.ip_address(ip)
            if self.bridge_address:
                host = ipaddress.ip_interface(self.bridge_address)
                if self.dhcp and host.ip not in ipaddress.ip_network(self.cidr):
                    raise ValueError(f"bridge_address {host} is outside {self.cidr}")
            for dst, via in self.routes:
                ipaddress.ip_network(dst)
                ipaddress.ip_address(via)
        except ValueError as exc:
            raise InvalidName(f"network {self.id}: {exc}") from None
        return self

    def _validate_v6(self) -> None:
        for what, mode in (("ipv6_ra_mode", self.ipv6_ra_mode),
                           ("ipv6_address_mode", self.ipv6_address_mode)):
            if mode is not None and mode not in IPV6_MODES:
                raise InvalidName(f"network {self.id}: {what} {mode!r} is not one of "
                                  f"{', '.join(IPV6_MODES)}")
        # Neutron's rule: when both are given they agree.
        if self.ipv6_ra_mode and self.ipv6_address_mode and \
                self.ipv6_ra_mode != self.ipv6_address_mode:
            raise InvalidName(f"network {self.id}: ipv6_ra_mode {self.ipv6_ra_mode} and "
                              f"ipv6_address_mode {self.ipv6_address_mode} differ")
        if not self.cidr6:
            if self.ipv6_ra_mode or self.ipv6_address_mode or self.bridge_address6:
                raise InvalidName(f"network {self.id}: IPv6 modes need a cidr6")
            return
        try:
            net = ipaddress.IPv6Network(self.cidr6)
            if self.bridge_address6 and \
                    ipaddress.IPv6Interface(self.bridge_address6).ip not in net:
                raise ValueError(f"bridge_address6 {self.bridge_address6} is outside {net}")
        except ValueError as exc:
            raise InvalidName(f"network {self.id}: {exc}") from None
        if self.dhcp and (self.ipv6_ra_mode or self.ipv6_address_mode) and \
                not self.bridge_address6:
            raise InvalidName(f"network {self.id}: RA and DHCPv6 need a bridge_address6 "
                              "(dnsmasq answers from the bridge)")
        if self.ipv6_ra_mode == "slaac" and net.prefixlen != 64:
            raise InvalidName(f"network {self.id}: SLAAC needs a /64, not {net}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Network":
        d = dict(d)
        d["routes"] = [tuple(r) for r in d.get("routes", [])]
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Port:
    """A VM port on a network: its tap, MAC and (for DHCP) fixed address."""

    id: str
    network_id: str
    mac: str
    ip: str | None = None
    ip6: str | None = None           # fixed address for DHCPv6 (stateful)
    hostname: str | None = None
    tap: str | None = None
    mtu: int | None = None
    # The tap is the hypervisor's (plugged with create=False): it goes and
    # comes back with the guest, and bsdnet never makes one of that name.
    adopted: bool = False

    def validate(self) -> "Port":
        check_id(self.id, "port id")
        check_id(self.network_id, "network id")
        self.mac = check_mac(self.mac)
        if self.tap is not None:
            check_ifname(self.tap)
        if self.ip6 is not None:
            try:
                ipaddress.IPv6Address(self.ip6)
            except ValueError as exc:
                raise InvalidName(f"port {self.id}: {exc}") from None
        if self.ip is not None:
            try:
                ipaddress.ip_address(self.ip)
            except ValueError as exc:
                raise InvalidName(f"port {self.id}: {exc}") from None
        if self.hostname is not None and not _hostname_ok(self.hostname):
            raise InvalidName(f"port {self.id}: host name {self.hostname!r} is not a DNS label")
        return self

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Port":
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hostname_ok(name: str) -> bool:
    import re
    return bool(re.match(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z", name))
