"""NetworkDriver: flat and VLAN networks, ports, ownership and cleanup.

Roadmap:
  ensure_network()  uplink check -> [vlan interface] -> bridge -> MTU ->
                    [move uplink addresses] -> member -> up -> [dnsmasq]
  plug_port()       tap (create, or adopt the one libvirt made) -> mark ->
                    MTU -> up -> member -> [dnsmasq host entry + SIGHUP]
  unplug_port()     deletem -> destroy (if bsdnet made it) -> [host entry]
  delete_network()  refuses while ports remain; undoes ensure_network
  cleanup()         removes bsdnet-marked interfaces nobody wants or uses
  reconcile()       after a restart: ensure everything wanted, then cleanup

Moving the uplink's addresses, routes and MTU into the bridge and back is
uplink.py's job.  Every step reads the current state first and only changes what differs, so
each call is idempotent and can be repeated after a crash halfway.  Names
that exist without bsdnet's mark are never touched.
"""

from __future__ import annotations

import logging
from typing import Iterable

from . import names
from .backend import Backend
from .errors import BackendError, MtuMismatch, NetDriverError, NotOwned, Unsupported
from .model import IfState, Network, Port
from .names import OWNER_GROUP, make_mark, parse_mark
from .state import StateStore
from .uplink import Uplinks, set_mtu_checked

LOG = logging.getLogger(__name__)


class NetworkDriver:
    """The entry point the compute driver and bsdnet-net use."""

    def __init__(self, backend: Backend, store: StateStore | None = None,
                 dhcp: "DhcpManager | None" = None, group: str = OWNER_GROUP):
        self.backend = backend
        self.store = store or StateStore(None)
        self.dhcp = dhcp
        self.group = group
        self.uplinks = Uplinks(backend, group)

    # ------------------------------------------------------------ helpers
    def _owned(self, st: IfState, kind: str, **want: str) -> dict[str, str]:
        """The mark of st if bsdnet made it for this purpose, else NotOwned."""
        mark = parse_mark(st.description)
        if mark is None or self.group not in st.groups:
            raise NotOwned(f"interface {st.name} exists and was not made by bsdnet "
                           f"(description {st.description!r}); refusing to touch it")
        if mark.get("kind") != kind or any(mark.get(k) != v for k, v in want.items()):
            raise NotOwned(f"interface {st.name} belongs to bsdnet {mark}, "
                           f"not to kind={kind} {want}")
        return mark

    def _require(self, name: str, detail: bool = True) -> IfState:
        st = self.backend.get(name, detail)
        if st is None:
            raise NetDriverError(f"interface {name} does not exist")
        return st

    @staticmethod
    def bridge_of(net: Network) -> str:
        return net.bridge or names.bridge_name(net.id)

    # ------------------------------------------------------------ networks
    def ensure_network(self, net: Network) -> dict:
        """Make (or check) the network's bridge and uplink; returns its names."""
        net.validate()
        br = self.bridge_of(net)
        names.check_ifname(br)
        if net.uplink is None:
            return self._ensure_host_only(net, br)
        uplink = self.backend.get(net.uplink)
        if uplink is None:
            raise NetDriverError(f"network {net.id}: uplink {net.uplink} does not exist")
        if parse_mark(uplink.description) is not None:
            raise NetDriverError(f"network {net.id}: uplink {net.uplink} is a bsdnet "
                                 "interface; give a physical interface")
        mtu = int(net.mtu or uplink.mtu)
        # Check everything that can refuse before making anything, so a
        # refusal leaves nothing half made.
        bst = self.backend.get(br)
        if bst is not None:
            self._owned(bst, "bridge", net=net.id)
        port_if = net.uplink
        if net.vlan:
            ok, reason = self.backend.vlan_support()
            if not ok:
                raise Unsupported(f"network {net.id}: VLAN {net.vlan} needs 802.1Q: {reason}")
            port_if = names.vlan_name(net.uplink, int(net.vlan))
            vst = self.backend.get(port_if)
            if vst is not None:
                self._owned(vst, "vlan", net=net.id)
        elif uplink.master not in (None, br):
            raise NetDriverError(f"network {net.id}: {net.uplink} is already a member "
                                 f"of {uplink.master}")
        elif uplink.master is None:
            self.uplinks.check_addresses(net, uplink)
        self.store.put_network(net)       # wanted, even if we crash below
        if net.vlan:
            self._ensure_vlan(net, uplink, mtu)
        bst = self._ensure_bridge(net, br)
        member = self._require(port_if)
        if member.master not in (None, br):
            raise NetDriverError(f"network {net.id}: {port_if} is already a member "
                                 f"of {member.master}")
        if member.master is None:
            self.uplinks.attach(net, br, bst, member, mtu)
        elif bst.mtu != mtu:
            set_mtu_checked(self.backend, br, mtu)
        self.uplinks.restore(br)
        bst = self._require(br)
        if bst.member_stp.get(port_if, False) != net.stp:
            self.backend.set_stp(br, port_if, net.stp)
        self._finish_network(net, br, bst, mtu)
        LOG.info("network %s ready on bridge %s (uplink %s, mtu %d)", net.id, br, port_if, mtu)
        return {"network": net.id, "bridge": br, "uplink": port_if, "mtu": mtu}

    def _ensure_host_only(self, net: Network, br: str) -> dict:
        """A network without an uplink: its bridge alone, with the host's
        address on it and, with DHCP, a dnsmasq serving its guests."""
        bst = self.backend.get(br)
        if bst is not None:
            self._owned(bst, "bridge", net=net.id)
        self.store.put_network(net)
        bst = self._ensure_bridge(net, br)
        mtu = int(net.mtu or bst.mtu)
        if bst.mtu != mtu:
            set_mtu_checked(self.backend, br, mtu)
        self._finish_network(net, br, self._require(br), mtu)
        LOG.info("host-only network %s ready on bridge %s (mtu %d)", net.id, br, mtu)
        return {"network": net.id, "bridge": br, "uplink": None, "mtu": mtu}

    def _finish_network(self, net: Network, br: str, bst: IfState, mtu: int) -> None:
        """The bridge's own address, up, and the network's dnsmasq."""
        if net.bridge_address and net.bridge_address.split("/")[0] not in \
                [a.split("/")[0] for a in bst.inet]:
            self.backend.add_address(br, net.bridge_address)
        if net.bridge_address6 and net.bridge_address6.split("/")[0] not in \
                [a.split("/")[0] for a in bst.inet6]:
            self.backend.add_address(br, net.bridge_address6)
        if not bst.up:
            self.backend.set_up(br)
        if self.dhcp and net.dhcp:
            self.dhcp.ensure(net, br, self.store.ports(net.id), mtu)

    def _ensure_vlan(self, net: Network, uplink: IfState, mtu: int) -> str:
        vname = names.vlan_name(net.uplink, int(net.vlan))
        st = self.backend.get(vname)
        if st is None:
            if uplink.mtu < mtu:
                self.backend.set_mtu(net.uplink, mtu)
            self.backend.create_vlan(vname, net.uplink, int(net.vlan),
                                     make_mark("vlan", net=net.id), self.group)
            st = self._require(vname)
        else:
            self._owned(st, "vlan", net=net.id)
        if st.vlan_tag != int(net.vlan) or st.vlan_parent != net.uplink:
            raise NetDriverError(f"{vname} is VLAN {st.vlan_tag} on {st.vlan_parent}, "
                                 f"network {net.id} wants VLAN {net.vlan} on {net.uplink}")
        if st.mtu != mtu and st.master is None:
            self.backend.set_mtu(vname, mtu)
        if not st.up:
            self.backend.set_up(vname)
        return vname

    def _ensure_bridge(self, net: Network, br: str) -> IfState:
        st = self.backend.get(br)
        if st is None:
            self.backend.create_bridge(br, make_mark("bridge", net=net.id), self.group)
            return self._require(br)
        self._owned(st, "bridge", net=net.id)
        return st

    def delete_network(self, network_id: str) -> None:
        """Undo ensure_network: refuses while ports are still plugged."""
        names.check_id(network_id, "network id")
        net = self.store.network(network_id)
        ports = self.store.ports(network_id)
        if ports:
            raise NetDriverError(f"network {network_id} still has ports "
                                 f"{[p.id for p in ports]}; unplug them first")
        if self.dhcp:
            self.dhcp.stop(network_id)
        br = self.bridge_of(net) if net else names.bridge_name(network_id)
        st = self.backend.get(br)
        if st is not None:
            mark = self._owned(st, "bridge", net=network_id)
            self.uplinks.teardown(st, mark)
        if net and net.vlan:
            vname = names.vlan_name(net.uplink, int(net.vlan))
            vst = self.backend.get(vname)
            if vst is not None:
                self._owned(vst, "vlan", net=network_id)
                self.backend.destroy(vname)
        self.store.drop_network(network_id)

    # ------------------------------------------------------------ ports
    def plug_port(self, port: Port, create: bool = True) -> dict:
        """Put a port's tap on its network's bridge.

        create=True: bsdnet makes the tap.  create=False: the tap already
        exists (libvirt's bhyve driver makes it for <interface type='bridge'>)
        and bsdnet adopts it: marks it, fixes its MTU, brings it up.
        """
        port.validate()
        net = self.store.network(port.network_id)
        if net is None:
            raise NetDriverError(f"port {port.id}: network {port.network_id} is unknown; "
                                 "ensure_network first")
        br = self.bridge_of(net)
        bst = self._require(br, detail=False)
        self._owned(bst, "bridge", net=net.id)
        tap = port.tap or names.tap_name(port.id)
        port.tap = tap
        mtu = int(port.mtu or bst.mtu)
        if mtu != bst.mtu:
            raise MtuMismatch(f"port {port.id} wants MTU {mtu} but bridge {br} has "
                              f"{bst.mtu}; FreeBSD bridges need one MTU on every member")
        made_now = False
        adopted = False
        st = self.backend.get(tap, detail=False)
        if st is None:
            if not create:
                raise NetDriverError(f"port {port.id}: tap {tap} does not exist "
                                     "(the hypervisor should have made it)")
            self.backend.create_tap(tap, make_mark("tap", port=port.id, net=net.id, made="bsdnet"),
                                    self.group, mtu, _host_mac(port.mac))
            made_now = True
            st = IfState(tap, flags=["UP"], mtu=mtu)   # as create_tap leaves it
        else:
            mark = parse_mark(st.description)
            if mark is None and not create:
                self._check_adoptable(port, st, br)
                self.backend.mark(tap, make_mark("tap", port=port.id, net=net.id,
                                                 made="adopted"), self.group)
                adopted = True
            else:
                adopted = self._owned(st, "tap", port=port.id).get("made") == "adopted"
        port.adopted = adopted
        self.store.put_port(port)
        try:
            self._finish_plug(st, br, mtu)
        except NetDriverError:
            if made_now:   # leave nothing half made
                try:
                    self.backend.destroy(tap)
                except NetDriverError:
                    LOG.exception("could not remove half-made tap %s", tap)
                self.store.drop_port(port.id)
            raise
        if self.dhcp and net.dhcp:
            # ensure, not just reload: a dnsmasq that died is started again.
            self.dhcp.ensure(net, br, self.store.ports(net.id), mtu)
        return {"port": port.id, "tap": tap, "bridge": br, "mtu": mtu}

    def _check_adoptable(self, port: Port, st: IfState, br: str) -> None:
        """Never adopt a NIC, a bridge, a VLAN or a network's uplink as a port."""
        if st.kind not in ("tap", "epair"):
            raise NotOwned(f"port {port.id}: {st.name} is a {st.kind} interface, "
                           "not a tap; refusing to adopt it")
        uplinks = {n.uplink for n in self.store.networks()}
        if st.name in uplinks or st.master not in (None, br):
            raise NotOwned(f"port {port.id}: {st.name} is a network's uplink or in "
                           f"bridge {st.master}; refusing to adopt it")

    def _finish_plug(self, st: IfState, br: str, mtu: int) -> None:
        tap = st.name
        if st.master not in (None, br):
            raise NetDriverError(f"tap {tap} is a member of {st.master}, not {br}")
        if st.mtu != mtu:
            set_mtu_checked(self.backend, tap, mtu)
        if not st.up:
            self.backend.set_up(tap)
        if st.master is None:
            self.uplinks.strip_link_local(st)
            try:
                self.backend.add_member(br, tap)
            except BackendError as exc:
                raise MtuMismatch(f"bridge {br} refused {tap}: {exc.detail}") \
                    if "Invalid argument" in exc.detail else exc

    def unplug_port(self, port_id: str) -> None:
        """Take a port off its bridge and remove its tap if bsdnet made it."""
        names.check_id(port_id, "port id")
        port = self.store.port(port_id)
        tap = port.tap if port and port.tap else names.tap_name(port_id)
        st = self.backend.get(tap, detail=False)
        if st is not None:
            mark = self._owned(st, "tap", port=port_id)
            if st.master:
                self.backend.del_member(st.master, tap)
            if mark.get("made") != "adopted":
                self.backend.destroy(tap)
        self.store.drop_port(port_id)
        net = self.store.network(port.network_id) if port else None
        if self.dhcp and net and net.dhcp:
            self.dhcp.update_hosts(net, self.store.ports(net.id))

    # ------------------------------------------------------------ inventory
    def owned(self, detail: bool = True) -> list[IfState]:
        out = []
        for n in self.backend.group_members(self.group):
            st = self.backend.get(n, detail)
            if st is not None and parse_mark(st.description):
                out.append(st)
        return out

    def list(self) -> list[dict]:
        rows = []
        for st in self.owned():
            mark = parse_mark(st.description) or {}
            rows.append({"name": st.name, "kind": mark.get("kind"), "network": mark.get("net"),
                         "port": mark.get("port"), "mtu": st.mtu, "up": st.up,
                         "members": st.members, "bridge": st.master,
                         "in_use": self.backend.in_use(st) if st.kind == "tap" else None})
        return rows

    def cleanup(self, dry_run: bool = False) -> list[str]:
        """Remove what bsdnet owns and nobody wants or uses.

        Wanted means: a network or port in the state store.  Used means: a
        tap held open by a process.  Interfaces without bsdnet's mark are
        never looked at twice.
        """
        removed: list[str] = []
        nets = {n.id for n in self.store.networks()}
        ports = {p.id: p for p in self.store.ports()}
        owned = self.owned(detail=False)
        for st in [s for s in owned if (parse_mark(s.description) or {}).get("kind") == "tap"]:
            mark = parse_mark(st.description) or {}
            p = ports.get(mark.get("port", ""))
            if p is not None and p.tap == st.name:
                continue
            if self.backend.in_use(st):
                LOG.warning("tap %s is unknown to bsdnet but in use; leaving it", st.name)
                continue
            removed.append(st.name)
            if not dry_run:
                if st.master:
                    self.backend.del_member(st.master, st.name)
                self.backend.destroy(st.name)
        for st in owned:
            mark = parse_mark(st.description) or {}
            kind, net = mark.get("kind"), mark.get("net")
            if kind == "bridge" and (net not in nets or self.bridge_of(
                    self.store.network(net)) != st.name):
                cur = self.backend.get(st.name)
                if cur is None:
                    continue
                taps = [m for m in cur.members if m not in removed and
                        (parse_mark((self.backend.get(m) or IfState(m)).description) or {})
                        .get("kind") == "tap"]
                if taps:
                    LOG.warning("bridge %s is unwanted but still has ports %s", st.name, taps)
                    continue
                removed.append(st.name)
                if not dry_run:
                    self.uplinks.teardown(cur, mark)
                    if self.dhcp and net and net not in nets:
                        self.dhcp.stop(net)
        for st in owned:
            mark = parse_mark(st.description) or {}
            if mark.get("kind") in ("vlan", "epair") and mark.get("net") not in nets:
                cur = self.backend.get(st.name)
                if cur is None or (cur.master and cur.master not in removed):
                    continue
                removed.append(st.name)
                if not dry_run:
                    self.backend.destroy(st.name)
        if self.dhcp and not dry_run:
            # A dnsmasq left by a network that is no longer wanted.
            for net_id in self.dhcp.networks():
                if net_id not in nets:
                    self.dhcp.stop(net_id)
        return removed

    def reconcile(self, networks: Iterable[Network] | None = None,
                  ports: Iterable[Port] | None = None, create: bool = True) -> dict:
        """After a restart: make sure every wanted network and port is in
        place, then clean up the rest.  With no arguments, what the state
        store remembers is what is wanted."""
        nets = list(networks) if networks is not None else self.store.networks()
        want_ports = list(ports) if ports is not None else self.store.ports()
        if networks is not None:
            keep = {n.id for n in nets}
            for n in self.store.networks():
                if n.id not in keep:
                    self.store.drop_network(n.id)
        if ports is not None:
            keep = {p.id for p in want_ports}
            for p in self.store.ports():
                if p.id not in keep:
                    self.store.drop_port(p.id)
        for n in nets:
            self.ensure_network(n)
        for p in want_ports:
            if p.adopted:
                # The hypervisor's tap: adopted again if the guest runs; if
                # not, it comes with the guest's next start (and the compute
                # driver adopts it then).  Making one here would take its
                # name from the hypervisor.  The lease stays either way.
                if self.backend.get(p.tap or names.tap_name(p.id), detail=False) is not None:
                    self.plug_port(p, create=False)
                continue
            self.plug_port(p, create=create)
        removed = self.cleanup()
        return {"networks": len(nets), "ports": len(want_ports), "removed": removed}


def _host_mac(mac: str) -> str:
    """The host side of a tap gets the guest MAC with first octet fe, as
    libvirt does, so the bridge never learns the guest's own address on it."""
    return "fe" + mac[2:]


class DhcpManager:  # pragma: no cover - interface only, see dnsmasq.py
    def ensure(self, net: Network, bridge: str, ports: list[Port],
               mtu: int | None = None) -> int: ...
    def update_hosts(self, net: Network, ports: list[Port]) -> bool: ...
    def stop(self, network_id: str) -> None: ...
    def networks(self) -> list[str]: ...
