"""Moving an uplink into a bridge and back.

A flat network's uplink becomes a bridge member.  What it carried moves to
the bridge: IPv4/IPv6 addresses and every IPv4 and IPv6 gateway route
through it (when the network asks, move_address); a route via a
link-local gateway (fe80::1%uplink) is re-scoped to the bridge and back.  FreeBSD 15 (member_ifaddrs=0)
refuses a member with any address, so its IPv6 link-local goes too.  What
was taken is written into the bridge's description first (moved=, routes=,
ll=, mtu0=, from=), so a crash halfway is finished by restore() and
teardown gives it all back to the uplink.
"""

from __future__ import annotations

import logging

from .backend import Backend
from .errors import AddressConflict, BackendError, MtuMismatch, NetDriverError
from .model import IfState, Network
from .names import make_mark, parse_mark

LOG = logging.getLogger(__name__)


def set_mtu_checked(backend: Backend, name: str, mtu: int) -> None:
    """Set an MTU, turning the OS's refusal into a clear MtuMismatch."""
    try:
        backend.set_mtu(name, mtu)
    except BackendError as exc:
        raise MtuMismatch(f"cannot set MTU {mtu} on {name}: {exc.detail}") from None


class Uplinks:
    """Attach, restore and give back a network's uplink."""

    def __init__(self, backend: Backend, group: str):
        self.backend = backend
        self.group = group

    def _set_mtu_checked(self, name: str, mtu: int) -> None:
        set_mtu_checked(self.backend, name, mtu)

    def attach(self, net: Network, br: str, bst: IfState,
                       member: IfState, mtu: int) -> None:
        addrs = _addresses(member)
        self.check_addresses(net, member)
        lls = [a for a in member.inet6 if a.startswith("fe80:")]
        strip = bool(lls) and not self.backend.member_ifaddrs()
        # Keep what an interrupted earlier attempt recorded (see restore).
        fields = {k: v for k, v in (parse_mark(bst.description) or {}).items() if k != "kind"}
        fields.update({"net": net.id, "from": member.name})
        if addrs and net.move_address:
            fields["moved"] = ",".join(addrs)
            routes = self.backend.gateway_routes(member.name)
            if routes:
                fields["routes"] = _routes_field(routes)
        if strip:
            fields["ll"] = ",".join(lls)    # given back to the uplink on teardown
        if member.mtu != mtu and not net.vlan and "mtu0" not in fields:
            fields["mtu0"] = str(member.mtu)   # the uplink's own MTU, restored too
        if make_mark("bridge", **fields) != bst.description:
            # Record what moves before moving it: a crash between the
            # delete and the add is then repaired by restore().
            self.backend.mark(br, make_mark("bridge", **fields), self.group)
        if member.mtu != mtu:
            self._set_mtu_checked(member.name, mtu)
        if not bst.members and bst.mtu != mtu:
            self._set_mtu_checked(br, mtu)
        if addrs and net.move_address:
            for a in addrs:
                self.backend.del_address(member.name, a)
        if strip:
            for a in lls:
                self.backend.del_address(member.name, a)
        self.backend.add_member(br, member.name)
        if not member.up:
            self.backend.set_up(member.name)

    def strip_link_local(self, st: IfState) -> None:
        """With member_ifaddrs=0 FreeBSD refuses a member with any address,
        an IPv6 link-local one included; the member's own link-local is of
        no use once bridged (the bridge has its own), so it goes."""
        lls = [a for a in st.inet6 if a.startswith("fe80:")]
        if lls and not self.backend.member_ifaddrs():
            for a in lls:
                self.backend.del_address(st.name, a)

    def check_addresses(self, net: Network, member: IfState) -> None:
        addrs = _addresses(member)
        if addrs and not net.move_address and not self.backend.member_ifaddrs():
            raise AddressConflict(
                f"network {net.id}: {member.name} has addresses {addrs} and this host "
                "does not allow addresses on bridge members "
                "(net.link.bridge.member_ifaddrs=0); ask for move_address or remove them")

    def restore(self, br: str) -> None:
        """Put moved uplink addresses (and the default route) on the bridge."""
        st = self.backend.get(br)
        if st is None:
            raise NetDriverError(f"interface {br} does not exist")
        mark = parse_mark(st.description) or {}
        moved = [a for a in mark.get("moved", "").split(",") if a]
        have = {a.split("/")[0] for a in st.inet + st.inet6}
        for a in moved:
            if a.split("/")[0] not in have:
                self.backend.add_address(br, a)
        self._put_routes(br, _routes_of(mark))

    def _put_routes(self, ifname: str, routes: list[tuple[str, str]]) -> None:
        """Make each (dst, gateway) route leave through ifname again."""
        if not routes:
            return
        have = set(self.backend.gateway_routes(ifname))
        for dst, gw in routes:
            gw = _scoped(gw, ifname)
            if (dst, gw) in have:
                continue
            try:
                self.backend.replace_route(dst, gw)
            except BackendError as exc:
                # A gateway outside the moved prefixes cannot follow; say so
                # and keep the network usable.
                LOG.warning("route %s via %s not restored on %s: %s", dst, gw, ifname,
                            exc.detail)

    def teardown(self, st: IfState, mark: dict[str, str]) -> None:
        """Empty and destroy a network bridge, giving the uplink back what it had."""
        for m in list(st.members):
            mst = self.backend.get(m)
            mm = parse_mark(mst.description) if mst else None
            if mm and mm.get("kind") == "tap":
                raise NetDriverError(f"bridge {st.name} still has port {m}")
            self.backend.del_member(st.name, m)
        moved = [a for a in mark.get("moved", "").split(",") if a]
        for a in moved:
            if a.split("/")[0] in {x.split("/")[0] for x in st.inet + st.inet6}:
                self.backend.del_address(st.name, a)
        # Give the uplink its MTU, addresses and routes back.
        uplink = self.backend.get(mark["from"]) if mark.get("from") else None
        if uplink is not None and mark.get("mtu0") and uplink.mtu != int(mark["mtu0"]):
            self.backend.set_mtu(uplink.name, int(mark["mtu0"]))
        if uplink is not None:
            have = {x.split("/")[0] for x in uplink.inet + uplink.inet6}
            for a in moved + [x for x in mark.get("ll", "").split(",") if x]:
                if a.split("/")[0] not in have:
                    self.backend.add_address(uplink.name, a)
        self.backend.destroy(st.name)
        if uplink is not None and moved:
            self._put_routes(uplink.name, _routes_of(mark))


def _routes_field(routes: list[tuple[str, str]]) -> str:
    """Routes in a mark: 'dst>gw' joined by ','; no spaces, fits a description."""
    return ",".join(f"{dst}>{gw}" for dst, gw in routes)


def _scoped(gateway: str, ifname: str) -> str:
    """A link-local gateway is reached through one interface: name the one
    the route now leaves by (fe80::1%uplink becomes fe80::1%bridge)."""
    ip, sep, _ = gateway.partition("%")
    return f"{ip}%{ifname}" if sep else gateway


def _routes_of(mark: dict[str, str]) -> list[tuple[str, str]]:
    out = []
    for item in mark.get("routes", "").split(","):
        dst, sep, gw = item.partition(">")
        if sep:
            out.append((dst, gw))
    return out


def _addresses(st: IfState) -> list[str]:
    """Addresses that would move (link-local IPv6 stays with its link)."""
    return list(st.inet) + [a for a in st.inet6 if not a.startswith("fe80:")]
