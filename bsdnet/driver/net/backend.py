"""The one interface both backends implement.

A backend does single operations on the host; it neither decides names nor
checks ownership (that is network.py's job).  Every method either succeeds
or raises NetDriverError with what the OS said.
"""

from __future__ import annotations

import abc

from .model import IfState


class Backend(abc.ABC):
    """Host plumbing: bridges, taps, VLAN interfaces, epairs, addresses."""

    #: short name shown by the CLI and the benchmark
    name: str = "abstract"

    # ----- reads
    @abc.abstractmethod
    def list_names(self) -> list[str]:
        """All interface names (ifconfig -l)."""

    @abc.abstractmethod
    def get(self, name: str, detail: bool = True) -> IfState | None:
        """One interface's state, or None when it does not exist.

        detail=False lets a backend skip what costs extra round trips (a
        bridge's members, the addresses); flags, MTU, the mark and the
        bridge holding the interface (master) are always filled."""

    @abc.abstractmethod
    def group_members(self, group: str) -> list[str]:
        """Names of interfaces carrying the ownership mark (ifconfig -g)."""

    def member_ifaddrs(self) -> bool:
        """May a bridge member carry IP addresses?  (FreeBSD 15: no.)"""
        return True

    def vlan_support(self) -> tuple[bool, str]:
        """(supported, reason when not)."""
        return True, ""

    @abc.abstractmethod
    def default_route(self) -> tuple[str, str] | None:
        """(gateway, interface) of the IPv4 default route, if any."""

    @abc.abstractmethod
    def gateway_routes(self, name: str) -> list[tuple[str, str]]:
        """IPv4 and IPv6 routes through a gateway out of interface `name`:
        [(destination cidr, gateway)], the default routes as 0.0.0.0/0 and
        ::/0.  A link-local IPv6 gateway carries its interface: fe80::1%name."""

    # ----- creation; each leaves the interface marked (group + description)
    @abc.abstractmethod
    def create_bridge(self, name: str, description: str, group: str) -> None: ...

    @abc.abstractmethod
    def create_tap(self, name: str, description: str, group: str,
                   mtu: int | None, ether: str | None) -> None: ...

    @abc.abstractmethod
    def create_vlan(self, name: str, parent: str, tag: int,
                    description: str, group: str) -> None: ...

    @abc.abstractmethod
    def create_epair(self, name: str, description: str, group: str) -> tuple[str, str]:
        """Make a pair named name+'a' and name+'b'; returns both names."""

    @abc.abstractmethod
    def destroy(self, name: str) -> None: ...

    # ----- changes
    @abc.abstractmethod
    def mark(self, name: str, description: str, group: str) -> None:
        """Give an existing interface (one libvirt made) bsdnet's mark."""

    @abc.abstractmethod
    def set_up(self, name: str) -> None: ...

    @abc.abstractmethod
    def set_mtu(self, name: str, mtu: int) -> None: ...

    @abc.abstractmethod
    def set_ether(self, name: str, mac: str) -> None: ...

    @abc.abstractmethod
    def add_member(self, bridge: str, member: str) -> None: ...

    @abc.abstractmethod
    def del_member(self, bridge: str, member: str) -> None: ...

    @abc.abstractmethod
    def set_stp(self, bridge: str, member: str, on: bool) -> None: ...

    @abc.abstractmethod
    def add_address(self, name: str, cidr: str) -> None: ...

    @abc.abstractmethod
    def del_address(self, name: str, cidr: str) -> None: ...

    @abc.abstractmethod
    def replace_route(self, dst: str, gateway: str) -> None:
        """(Re)install dst via gateway; the OS picks the interface the
        gateway is on-link on (after an address move, the bridge).  A
        link-local IPv6 gateway names its interface (fe80::1%br0)."""

    def replace_default_route(self, gateway: str) -> None:
        self.replace_route("0.0.0.0/0", gateway)

    def in_use(self, st: IfState) -> bool:
        """Is a tap held open by a process (a VM)?"""
        return st.opened_by is not None

    def close(self) -> None:
        """Release sockets; the backend is not used afterwards."""
