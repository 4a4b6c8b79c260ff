"""One model for the programmer: the topology file and the port API's store.

Both feed the same dict that Programmer.apply() reconciles the tables to
(topology.parse()'s shape: fabric, networks, ports, remote).  Networks of
the port API are named by their id (a UUID), so they never meet a
topology file's network names; their ports always carry the policy flag,
because their flows go through security groups.

The fabric MAC of a route's path (the TUNNEL nexthop's nh_dmac) is
peer_mac(): the static options first, then what the host resolved
(hostevents.Watcher.resolve: the peer's own neighbour entry when it is on
the fabric's subnet, the default route's gateway's otherwise).
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Optional

from .portstore import Network, Port, PortStore, Route
from .secgroups import AddrSet

# node -> (MAC or None, on the fabric's subnet, what was looked up)
Resolver = Callable[[str], tuple[Optional[str], bool, str]]

LOG = logging.getLogger(__name__)


def port_entry(port: Port, net: Network | None, quota: int = 0,
               up: bool = True) -> dict[str, Any]:
    """A port of the API as the programmer's port dict."""
    subnet = net.subnet_of(port.ip_address) if net is not None and \
        port.ip_address != "0.0.0.0" else None
    return {"id": port.id, "network": port.vn_id,
            "interface": port.system_name, "mac": port.mac_address,
            "ip": port.ip_address, "policy": True,
            "secure": port.port_security,
            "mtu": net.mtu if net is not None else 1500,
            "gateway": subnet.gateway if subnet is not None else "",
            "quota": quota, "up": up and port.admin_up,
            "pairs": sorted({a.ip for a in port.allowed_address_pairs} -
                            {port.ip_address})}


def peer_mac(node: str, neighbors: dict[str, str], nexthop_mac: str,
             resolve: Resolver | None = None) -> tuple[str | None, str]:
    """The fabric MAC frames to peer ``node`` go to, and where it came
    from.  Static options override the host (fabrics without ARP):
    [fabric] neighbors for the node; then, for a node on the fabric's
    subnet, its neighbour entry before nexthop_mac, and for any other
    node, nexthop_mac before the default route's gateway's entry."""
    if neighbors.get(node):
        return neighbors[node], "[fabric] neighbors"
    if resolve is None:
        return nexthop_mac or None, "[fabric] nexthop_mac"
    mac, onlink, what = resolve(node)
    if onlink and mac:
        return mac, what
    if nexthop_mac:
        return nexthop_mac, "[fabric] nexthop_mac"
    return mac, what


def route_members(route: Route, neighbors: dict[str, str],
                  nexthop_mac: str, resolve: Resolver | None = None
                  ) -> list[dict[str, Any]]:
    """The paths of an API route as the programmer's remote entries; a
    path to a node whose fabric MAC is unknown is left out (logged)."""
    out = []
    for p in route.paths:
        mac, what = peer_mac(p.node, neighbors, nexthop_mac, resolve)
        if not mac:
            LOG.warning("route %s: no fabric MAC for node %s (%s; or set "
                        "[fabric] neighbors or nexthop_mac): path left out "
                        "until it is known", route.id, p.node,
                        what if resolve is not None else
                        "the host's neighbours are not followed")
            continue
        out.append({"network": route.network, "prefix": route.prefix,
                    "node": p.node, "node_mac": mac.lower(),
                    "label": p.label})
    return out


def merge(topo: dict[str, Any], store: PortStore, *, vif_quota: int = 0,
          neighbors: dict[str, str] | None = None, nexthop_mac: str = "",
          up: Callable[[str], bool] = lambda name: True,
          resolve: Resolver | None = None) -> dict[str, Any]:
    """The topology file's objects plus the store's, as one topology.
    up(interface): is the port's tap there and up (its vif's UP flag);
    resolve(node): the host's view of a peer's fabric MAC (peer_mac)."""
    nets = {n.id: n for n in store.list("network")
            if isinstance(n, Network)}
    out = {"fabric": topo["fabric"],
           "networks": list(topo["networks"]) +
           sorted(n for n in nets if n not in topo["networks"]),
           "labels": {n.id: n.label for n in nets.values() if n.label},
           "ports": [{**p, "quota": vif_quota} for p in topo["ports"]],
           "remote": list(topo["remote"])}
    file_ids = {p["id"] for p in topo["ports"]}
    for port in sorted(store.list("port"), key=lambda o: o.id):
        assert isinstance(port, Port)
        if port.vn_id not in nets or port.id in file_ids:
            continue        # dangling (reported at load) or shadowed
        out["ports"].append(port_entry(port, nets[port.vn_id], vif_quota,
                                       up(port.system_name)))
    for route in sorted(store.list("route"), key=lambda o: o.id):
        assert isinstance(route, Route)
        if route.network in nets:
            out["remote"] += route_members(route, neighbors or {},
                                           nexthop_mac, resolve)
    return out


def route_nodes(store: PortStore) -> set[str]:
    """The peer nodes the store's routes lead to."""
    return {p.node for r in store.list("route") if isinstance(r, Route)
            for p in r.paths}


@functools.lru_cache(maxsize=65536)
def addresses(port: Port) -> tuple[int, ...]:
    """The IPv4 addresses a port answers for (its own and its allowed
    address pairs' that are single addresses), host order.  (Cached: the
    daemon asks for every port after each change.)"""
    return port.binding().ips


@functools.lru_cache(maxsize=65536)
def sources(port: Port) -> AddrSet:
    """Every source a port may send from: its addresses and its allowed
    address pairs' prefixes."""
    b = port.binding()
    return AddrSet(b.ips, b.nets)
