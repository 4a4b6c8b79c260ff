"""Program the tables from a topology, and reconcile on change.

Every topology object maps to table entries recorded in the state (port id
-> vif, nexthop, label; (network, prefix) -> tunnel nexthops, ECMP).  apply()
computes what each entry should hold and writes only entries that differ,
so re-applying an unchanged topology, or adopting tables after a restart,
writes nothing.  Order keeps the datapath's view consistent at each step:
a nexthop is written before the route or label that points at it, and
deleted only after nothing points at it any more.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from bsdnet.shm.abi import ffi, lib
from bsdnet.shm.tables import Nexthop, Tables, Vif, ip_to_int, mac_to_bytes

LOG = logging.getLogger(__name__)

VIF_UP = lib.BSDNET_VIF_F_UP
VIF_POLICY = lib.BSDNET_VIF_F_POLICY


class Programmer:
    def __init__(self, tables: Tables, state: dict[str, Any],
                 vrf_flow_quota: int = 0) -> None:
        self.t = tables
        self.state = state
        self.vrf_flow_quota = vrf_flow_quota
        self.changes: Counter[str] = Counter()
        # Called with a vif before its entry is cleared: a home that binds
        # interfaces itself (the kernel module) lets go of the interface
        # first, so no frame arrives for a port half removed.
        self.unbind: Callable[[int], None] = lambda vif: None

    def reserve(self) -> None:
        """Mark every index the state names as used, also where the live
        entry is gone (a table written over behind our back): apply() then
        rewrites it in place instead of handing the index to another."""
        st = self.state
        for p in st["ports"].values():
            self.t.vifs.pool.take(p["vif"])
            self.t.nexthops.pool.take(p["nexthop"])
            self.t.labels.pool.take(p["label"])
        for r in st["remote"].values():
            for n in r["nexthops"] + ([r["ecmp"]] if r["ecmp"] else []):
                self.t.nexthops.pool.take(n)
        for net in st["networks"].values():
            if net.get("label_nh"):
                self.t.nexthops.pool.take(net["label_nh"])
        if st["fabric"].get("vif"):
            self.t.vifs.pool.take(st["fabric"]["vif"])

    @property
    def router_mac(self) -> bytes:
        return self.t.region.router_mac

    def apply(self, topo: dict[str, Any]) -> Counter[str]:
        """Make the tables match topo.  Returns counts of what changed."""
        self.changes = Counter()
        try:
            self._fabric(topo.get("fabric"))
            labels = topo.get("labels", {})
            for name in topo["networks"]:
                self._network(name, labels.get(name, 0))
            self._ports(topo["ports"])
            self._remotes(topo["remote"])
            for name in list(self.state["networks"]):
                if name not in topo["networks"]:
                    self._network_delete(name)
            if not topo.get("fabric") and self.state["fabric"].get("vif"):
                self._vif_delete(self.state["fabric"].pop("vif"))
                self.changes["fabric-"] += 1
        finally:
            # Also after a full table part way: the endpoints follow what
            # the state says is programmed.
            self._endpoints()
        return self.changes

    def _endpoints(self) -> None:
        """The known tunnel endpoints: every node of a remote route we
        programmed, in that route's VRF, and no other."""
        pairs = {(ip_to_int(n), st["vrf"])
                 for st in self.state["remote"].values()
                 for n in st.get("nodes", ())}
        added, removed = self.t.endpoints.sync(pairs)
        if added:
            self.changes["endpoint+"] += added
        if removed:
            self.changes["endpoint-"] += removed

    # ---- fabric and networks ----------------------------------------------

    def _fabric(self, fab: dict[str, Any] | None) -> None:
        if not fab:
            return
        want = Vif(type=lib.BSDNET_VIF_FABRIC, flags=VIF_UP,
                   ip=ip_to_int(fab["address"]), mtu=fab["mtu"],
                   mac=mac_to_bytes(fab["mac"]), name=fab["interface"])
        idx = self.state["fabric"].get("vif")
        if idx is None:
            self.state["fabric"]["vif"] = self.t.vifs.add(want)
            self.changes["fabric+"] += 1
        elif self.t.vifs.update(idx, want):
            self.changes["fabric~"] += 1

    def _network(self, name: str, label: int = 0) -> None:
        if name in self.state["networks"]:
            self.t.vrfs.bind(name, self.state["networks"][name]["vrf"])
        else:
            self.state["networks"][name] = {"vrf": self.t.vrfs.alloc(name)}
            self.changes["network+"] += 1
        vrf = self._vrf(name)
        q = ffi.addressof(self.t.region.vrfs[vrf], "vrf_flow_quota")
        if q[0] != self.vrf_flow_quota:
            lib.bsdnet_agent_store_rel32(q, self.vrf_flow_quota)
        self._network_label(name, vrf, label)

    def _network_label(self, name: str, vrf: int, label: int) -> None:
        """The network's own label: a VRF nexthop, so that a packet with
        it is delivered by its inner destination within the network."""
        st = self.state["networks"][name]
        if st.get("label") and st["label"] != label:
            self.t.labels.free_fixed(st.pop("label"))
            self.changes["network~"] += 1
        if not label:
            if st.get("label_nh"):
                self.t.nexthops.delete(st.pop("label_nh"))
            return
        want = Nexthop(type=lib.BSDNET_NH_VRF, vrf=vrf)
        if st.get("label_nh"):
            self.t.nexthops.update(st["label_nh"], want)
        else:
            st["label_nh"] = self.t.nexthops.add(want)
        if self.t.labels.set_fixed(label, st["label_nh"]):
            self.changes["network~"] += 1
        st["label"] = label

    def _network_delete(self, name: str) -> None:
        st = self.state["networks"].pop(name)
        if st.get("label"):
            self.t.labels.free_fixed(st["label"])
        if st.get("label_nh"):
            self.t.nexthops.delete(st["label_nh"])
        self.t.vrfs.free(name)
        self.changes["network-"] += 1

    # ---- one object at a time (the port API) -------------------------------

    def apply_network(self, name: str, label: int = 0) -> Counter[str]:
        self.changes = Counter()
        self._network(name, label)
        return self.changes

    def remove_network(self, name: str) -> Counter[str]:
        """Free a network's VRF; nothing may refer to it any more."""
        self.changes = Counter()
        if name in self.state["networks"]:
            self._network_delete(name)
        return self.changes

    def apply_port(self, p: dict[str, Any]) -> Counter[str]:
        self.changes = Counter()
        self._port(p)
        return self.changes

    def remove_port(self, pid: str) -> Counter[str]:
        self.changes = Counter()
        if pid in self.state["ports"]:
            self._port_delete(pid)
        return self.changes

    def _vrf(self, network: str) -> int:
        return self.state["networks"][network]["vrf"]

    # ---- ports ------------------------------------------------------------

    def _ports(self, ports: list[dict[str, Any]]) -> None:
        want_ids = {p["id"] for p in ports}
        for pid in [p for p in self.state["ports"] if p not in want_ids]:
            self._port_delete(pid)
        for p in ports:
            self._port(p)

    def _port_vif(self, p: dict[str, Any], vrf: int, nh: int) -> Vif:
        flags = (VIF_UP if p.get("up", True) else 0) | \
            (VIF_POLICY if p["policy"] else 0)
        # The datapath checks sources against one address (vif_ip); a port
        # with allowed address pairs has several, so vif_ip 0 turns the
        # datapath's check off and the agent checks each new flow instead
        # (it traps them all: such ports always carry the policy flag).
        # A port without port security has neither check (both fields 0);
        # it keeps the policy flag, so flows towards other ports still
        # meet their security groups.
        secure = p.get("secure", True)
        ip = 0 if p.get("pairs") or not secure else ip_to_int(p["ip"])
        mac = mac_to_bytes(p["mac"]) if secure else bytes(6)
        gw = ip_to_int(p["gateway"]) if p.get("gateway") else 0
        return Vif(type=lib.BSDNET_VIF_VIRTUAL, flags=flags, vrf=vrf,
                   ip=ip, nh=nh, mtu=p["mtu"], mac=mac, name=p["interface"],
                   flow_quota=p.get("quota", 0), gw=gw)

    def _port_nh(self, p: dict[str, Any], vrf: int, vif: int) -> Nexthop:
        return Nexthop(type=lib.BSDNET_NH_ENCAP, vrf=vrf, vif=vif,
                       dmac=mac_to_bytes(p["mac"]), smac=self.router_mac)

    def _port(self, p: dict[str, Any]) -> None:
        vrf = self._vrf(p["network"])
        # A port without an address (vRouter's 0.0.0.0) has no route and
        # no IP anti-spoofing; it still gets its vif, nexthop and label.
        prefix = f"{p['ip']}/32" if p["ip"] != "0.0.0.0" else ""
        st = self.state["ports"].get(p["id"])
        if st is None:
            # New port: vif first (its index goes into the nexthop), then
            # the nexthop, then everything that points at it.
            # A full table part way undoes the rest: no orphan entries.
            vif = self.t.vifs.add(self._port_vif(p, vrf, 0))
            nh = label = None
            extra = self._pair_prefixes(p)
            routed: list[str] = []
            try:
                nh = self.t.nexthops.add(self._port_nh(p, vrf, vif))
                self.t.vifs.write(vif, self._port_vif(p, vrf, nh))
                label = self.t.labels.alloc(nh)
                for x in ([prefix] if prefix else []) + extra:
                    self.t.vrfs.add_route(vrf, x, nh)
                    routed.append(x)
            except Exception:
                for x in routed:
                    self.t.vrfs.delete_route(vrf, x)
                if label is not None:
                    self.t.labels.free(label)
                if nh is not None:
                    self.t.nexthops.delete(nh)
                self.t.vifs.delete(vif)
                raise
            self.state["ports"][p["id"]] = {
                "vif": vif, "label": label, "nexthop": nh, "vrf": vrf,
                "prefix": prefix}
            if extra:
                self.state["ports"][p["id"]]["extra"] = extra
            self.changes["port+"] += 1
            return
        vif, nh, label = st["vif"], st["nexthop"], st["label"]
        changed = self.t.nexthops.update(nh, self._port_nh(p, vrf, vif))
        changed |= self.t.vifs.update(vif, self._port_vif(p, vrf, nh))
        changed |= self.t.labels.set(label, nh)
        if (st["vrf"], st.get("prefix")) != (vrf, prefix):
            if st.get("prefix") and st["vrf"] in self.t.vrfs.routes:
                self.t.vrfs.delete_route(st["vrf"], st["prefix"])
            changed = True
        if prefix:
            changed |= self.t.vrfs.add_route(vrf, prefix, nh)
        old_extra = st.get("extra", [])
        if st["vrf"] != vrf:
            if st["vrf"] in self.t.vrfs.routes:
                for x in old_extra:
                    self.t.vrfs.delete_route(st["vrf"], x)
            old_extra = []
        extra = self._extra_routes(vrf, nh, old_extra, p)
        changed |= extra != st.get("extra", [])
        st.update(vrf=vrf, prefix=prefix)
        if extra:
            st["extra"] = extra
        else:
            st.pop("extra", None)
        if changed:
            self.changes["port~"] += 1

    @staticmethod
    def _pair_prefixes(p: dict[str, Any]) -> list[str]:
        return sorted({a if "/" in a else f"{a}/32"
                       for a in p.get("pairs", ())} - {f"{p['ip']}/32"})

    def _extra_routes(self, vrf: int, nh: int, have: list[str],
                      p: dict[str, Any]) -> list[str]:
        """/32 routes of a port's allowed address pairs: the ones no longer
        wanted removed, the wanted ones written (if they differ).  Returns
        the prefixes now routed to the port."""
        want = self._pair_prefixes(p)
        for x in have:
            if x not in want:
                self.t.vrfs.delete_route(vrf, x)
        for x in want:
            self.t.vrfs.add_route(vrf, x, nh)
        return want

    def _port_delete(self, pid: str) -> None:
        st = self.state["ports"].pop(pid)
        if st["vrf"] in self.t.vrfs.routes:
            for x in ([st["prefix"]] if st.get("prefix") else []) + \
                    st.get("extra", []):
                self.t.vrfs.delete_route(st["vrf"], x)
        self.t.labels.free(st["label"])
        self.t.nexthops.delete(st["nexthop"])
        self._vif_delete(st["vif"])
        self.changes["port-"] += 1

    def _vif_delete(self, vif: int) -> None:
        self.unbind(vif)
        self.t.vifs.delete(vif)

    # ---- remote prefixes --------------------------------------------------

    def _remotes(self, remote: list[dict[str, Any]]) -> None:
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in remote:
            groups.setdefault(f"{r['network']} {r['prefix']}", []).append(r)
        for key in [k for k in self.state["remote"] if k not in groups]:
            self._remote_delete(key)
        for key, members in groups.items():
            self._remote(key, members)

    def _tunnel(self, r: dict[str, Any], vrf: int) -> Nexthop:
        fab = self.state["fabric"].get("vif")
        if fab is None:
            raise ValueError("remote routes need a fabric")
        fv = self.t.vifs.read(fab)
        return Nexthop(type=lib.BSDNET_NH_TUNNEL, vrf=vrf, vif=fab,
                       dmac=mac_to_bytes(r["node_mac"]), smac=fv.mac,
                       tun_src=fv.ip, tun_dst=ip_to_int(r["node"]),
                       label=r["label"])

    def _remote(self, key: str, members: list[dict[str, Any]]) -> None:
        network, prefix = key.split(" ")
        vrf = self._vrf(network)
        st = self.state["remote"].get(key)
        if st is not None and st["vrf"] != vrf:
            self._remote_delete(key)
            st = None
        fresh = st is None
        if fresh:
            st = {"vrf": vrf, "prefix": prefix, "nexthops": [], "ecmp": 0}
            self.state["remote"][key] = st
        changed = False
        if len(members) > lib.BSDNET_ECMP_MAX:
            LOG.warning("%s: %d paths, keeping the first %d", key,
                        len(members), lib.BSDNET_ECMP_MAX)
            members = members[:lib.BSDNET_ECMP_MAX]
        # st is updated as entries are made, so a full table part way
        # leaves everything made recorded (and reconciled next time).
        nhs = st["nexthops"]
        for i, r in enumerate(members):
            want = self._tunnel(r, vrf)
            if i < len(nhs):
                changed |= self.t.nexthops.update(nhs[i], want)
            else:
                nhs.append(self.t.nexthops.add(want))
                changed = True
        used = nhs[:len(members)]
        st["nodes"] = sorted({r["node"] for r in members})
        old_ecmp = st["ecmp"]
        if len(used) > 1:
            want = Nexthop(type=lib.BSDNET_NH_ECMP, vrf=vrf,
                           members=tuple(used))
            if old_ecmp:
                changed |= self.t.nexthops.update(old_ecmp, want)
            else:
                st["ecmp"] = self.t.nexthops.add(want)
                changed = True
            target = st["ecmp"]
        else:
            target = used[0]
        changed |= self.t.vrfs.add_route(vrf, prefix, target)
        # Nothing points at these any more.
        if old_ecmp and len(used) == 1:
            self.t.nexthops.delete(old_ecmp)
            st["ecmp"] = 0
        while len(nhs) > len(members):
            self.t.nexthops.delete(nhs.pop())
            changed = True
        if fresh:
            self.changes["remote+"] += 1
        elif changed:
            self.changes["remote~"] += 1

    def _remote_delete(self, key: str) -> None:
        st = self.state["remote"].pop(key)
        if st["vrf"] in self.t.vrfs.routes:
            self.t.vrfs.delete_route(st["vrf"], st["prefix"])
        if st.get("ecmp"):
            self.t.nexthops.delete(st["ecmp"])
        for n in st["nexthops"]:
            self.t.nexthops.delete(n)
        self.changes["remote-"] += 1
