"""Neighbour (ARP) entries in bsdnet.routesock, on both platforms.

FreeBSD: real message bytes (c/llinfo.c compiled for FreeBSD) through the
parser, the tracker and the listener, with a stand-in kernel answering
the ARP dump.  Linux: rtnetlink neighbour messages encoded with pyroute2's
own classes and decoded by the twin's monitor path.  Both tell the same
story and must give the same events; then HostWatcher turns them into
the gateway's MAC and fabric neighbour calls.
"""
from __future__ import annotations

import ipaddress
import socket

import pytest

from bsdnet.agent.hostwatch import FabricInfo, HostEventHandler, HostWatcher
from bsdnet.routesock.encoder import encode_ifinfo
from bsdnet.routesock.events import (
    Address, AddressAdded, Link, LinkAdded, LinkRemoved, Neighbour,
    NeighbourAdded, NeighbourChanged, NeighbourRemoved, Route, RouteAdded,
    RouteChanged, format_event,
)
from bsdnet.routesock.layout import CONSTANTS as C
from bsdnet.routesock.listener import RouteSocketListener
from bsdnet.routesock.messages import RouteMsg, SaLink
from bsdnet.routesock.parser import Decoder
from bsdnet.routesock.tracker import Tracker, neigh_from_rtm

pytest.importorskip("pyroute2")
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg  # noqa: E402
from pyroute2.netlink.rtnl.ndmsg import ndmsg  # noqa: E402
from routesock.netlinkmsg import nl  # noqa: E402

from .fakes import MAC1, MAC2, ArpKernel  # noqa: E402

IP = ipaddress.ip_address
GW, PEER, STATIC = IP("10.0.0.1"), IP("10.0.0.9"), IP("10.0.0.7")


def names(events):
    return [type(e).__name__ for e in events]


# -- FreeBSD ------------------------------------------------------------------


def test_arp_dump_entries_parse_as_neighbours(arp_images):
    arch, img = arp_images
    msgs = Decoder(arch).decode(img["arpdump"])
    assert len(msgs) == 3
    assert all(isinstance(m, RouteMsg) and m.type == C["RTM_GET"]
               and m.flags & C["RTF_LLINFO"] for m in msgs)
    assert [neigh_from_rtm(m) for m in msgs] == [
        Neighbour(2, GW, MAC1), Neighbour(2, PEER, None),
        Neighbour(2, STATIC, "02:00:5e:00:00:07", static=True)]


def test_lle_events_name_the_interface_in_the_sockaddr_dl(arp_images):
    arch, img = arp_images
    (add,) = Decoder(arch).decode(img["lle_add"])
    assert add.index == 0 and isinstance(add.addrs[1], SaLink)
    assert neigh_from_rtm(add) == Neighbour(2, GW, MAC2)
    (gone,) = Decoder(arch).decode(img["lle_delete"])
    # sdl_alen is set on expiry but no address copied: not a MAC.
    assert neigh_from_rtm(gone) == Neighbour(2, GW, None)


@pytest.fixture
def arp_kernel(arp_images):
    arch, img = arp_images
    k = ArpKernel(img["arpdump"])
    k.add_iface(2, "vtnet0", addrs=(("10.0.0.5", "255.255.255.0"),))
    k.add_route("0.0.0.0", None, "10.0.0.1", 2)
    yield k, arch, img
    k.close()


def test_listener_follows_the_arp_table(arp_kernel):
    k, arch, img = arp_kernel
    lst = RouteSocketListener(k.sock, k.dump, arch=arch, pid=1, settle=0.01,
                              neighbours=True)
    ev = lst.start()
    assert (C["NET_RT_FLAGS"], C["RTF_LLINFO"]) in k.sysctl_calls
    assert [e.neigh for e in ev if isinstance(e, NeighbourAdded)] == [
        Neighbour(2, GW, MAC1), Neighbour(2, PEER, None),
        Neighbour(2, STATIC, "02:00:5e:00:00:07", static=True)]
    # ARP entries are not routes: only the default route is one.
    assert [str(r.dst) for r in lst.state.routes.values()] == ["0.0.0.0/0"]

    k.send(img["lle_add"])
    ev = lst.poll(5)
    assert names(ev) == ["NeighbourChanged"]
    assert (ev[0].old.mac, ev[0].neigh.mac, ev[0].ifname) == (MAC1, MAC2, "vtnet0")
    k.send(img["lle_add"])           # the same again: nothing new
    assert lst.poll(0.2) == []
    k.send(img["lle_delete"])
    ev = lst.poll(5)
    assert names(ev) == ["NeighbourRemoved"] and ev[0].neigh.address == GW
    # The periodic re-dump finds what the socket did not say.
    ev = lst.refresh_neighbours()
    assert names(ev) == ["NeighbourAdded"] and ev[0].neigh == Neighbour(2, GW, MAC1)
    assert lst.refresh_neighbours() == []


def test_resync_keeps_neighbours_and_reports_only_differences(arp_kernel):
    k, arch, img = arp_kernel
    lst = RouteSocketListener(k.sock, k.dump, arch=arch, pid=1, settle=0.01,
                              neighbours=True)
    lst.start()
    k.send(img["lle_add"])
    lst.poll(5)
    k.sock.overflow()
    k.send(img["lle_add"])
    ev = lst.poll(5)
    # The dump still says MAC1: the resync brings the state back to it.
    assert [(type(e).__name__, e.neigh.mac) for e in ev] == [
        ("NeighbourChanged", MAC1)]


def test_without_neighbours_nothing_changes(arp_kernel):
    k, arch, img = arp_kernel
    lst = RouteSocketListener(k.sock, k.dump, arch=arch, pid=1)
    ev = lst.start()
    assert not any(isinstance(e, NeighbourAdded) for e in ev)
    assert k.sysctl_calls == [(C["NET_RT_IFLIST"], 0), (C["NET_RT_DUMP"], 0)]
    assert lst.refresh_neighbours() == []


def test_neighbours_go_with_their_link(arp_images):
    arch, img = arp_images
    t = Tracker()
    d = Decoder(arch)
    t.feed_all(d.decode(encode_ifinfo(2, C["IFF_UP"])))
    ev = t.feed_all(d.decode(img["lle_add"]))
    assert names(ev) == ["NeighbourAdded"]
    ev = t.state.remove_link(2)
    assert names(ev) == ["NeighbourRemoved", "LinkRemoved"]
    # An entry for an interface not (or no longer) known is dropped.
    assert t.feed_all(d.decode(img["lle_add"])) == []


# -- Linux --------------------------------------------------------------------


def nl_link(index, name):
    return nl(ifinfmsg, 16, {"index": index, "flags": 0x41},
              [("IFLA_IFNAME", name), ("IFLA_MTU", 1500),
               ("IFLA_ADDRESS", "02:00:5e:10:20:30")])


def nl_neigh(mtype, ip, mac, state, index=2, family=socket.AF_INET, flags=0):
    attrs = [("NDA_DST", ip)] + ([("NDA_LLADDR", mac)] if mac else [])
    return nl(ndmsg, mtype, {"family": family, "ifindex": index,
                             "state": state, "flags": flags}, attrs)


REACHABLE, STALE, FAILED, PERMANENT, INCOMPLETE = 0x02, 0x04, 0x20, 0x80, 0x01


@pytest.fixture
def twin():
    from bsdnet.routesock import netlink
    lst = netlink.NetlinkListener.__new__(netlink.NetlinkListener)
    lst.state = netlink.HostState()
    lst.own_ports = set()
    lst._marshal = netlink.MarshalRtnl()
    lst.feed_bytes(nl_link(2, "eth0"))
    return lst


def test_linux_neighbour_states(twin):
    ev = twin.feed_bytes(nl_neigh(28, "10.0.0.1", MAC1, REACHABLE))
    assert [e.neigh for e in ev] == [Neighbour(2, GW, MAC1)]
    assert ev[0].ifname == "eth0"
    # REACHABLE -> STALE -> REACHABLE: the MAC did not move, no event.
    assert twin.feed_bytes(nl_neigh(28, "10.0.0.1", MAC1, STALE)) == []
    assert twin.feed_bytes(nl_neigh(28, "10.0.0.1", MAC1, REACHABLE)) == []
    ev = twin.feed_bytes(nl_neigh(28, "10.0.0.1", MAC1, FAILED))
    assert names(ev) == ["NeighbourChanged"] and ev[0].neigh.mac is None
    ev = twin.feed_bytes(nl_neigh(28, "10.0.0.1", MAC2.upper(), PERMANENT))
    assert ev[0].neigh == Neighbour(2, GW, MAC2, static=True)
    ev = twin.feed_bytes(nl_neigh(29, "10.0.0.1", MAC2, PERMANENT))
    assert names(ev) == ["NeighbourRemoved"]
    assert "neighbour-removed 10.0.0.1 lladdr" in format_event(ev[0])


def test_linux_ignores_fdb_proxy_ipv6_and_unknown_links(twin):
    assert twin.feed_bytes(nl_neigh(28, "10.0.0.1", MAC1, REACHABLE,
                                    family=7)) == []          # AF_BRIDGE
    assert twin.feed_bytes(nl_neigh(28, "10.0.0.1", MAC1, REACHABLE,
                                    flags=0x08)) == []        # NTF_PROXY
    assert twin.feed_bytes(nl_neigh(28, "fe80::1", MAC1, REACHABLE,
                                    family=socket.AF_INET6)) == []
    assert twin.feed_bytes(nl_neigh(28, "10.0.0.1", MAC1, REACHABLE,
                                    index=99)) == []
    ev = twin.feed_bytes(nl_neigh(28, "10.0.0.9", None, INCOMPLETE))
    assert ev[0].neigh == Neighbour(2, PEER, None)


def test_same_story_same_events(arp_images, twin):
    """FreeBSD's bytes and rtnetlink's, for one neighbour's life."""
    arch, img = arp_images
    t = Tracker()
    d = Decoder(arch)
    t.feed_all(d.decode(encode_ifinfo(2, C["IFF_UP"] | C["IFF_DRV_RUNNING"],
                                      link_state=C["LINK_STATE_UP"],
                                      addrs={4: SaLink(2, 6, "eth0", b"")})))
    bsd = t.feed_all(d.decode(img["lle_add"]))
    bsd += t.feed_all(d.decode(img["lle_delete"]))
    lnx = twin.feed_bytes(nl_neigh(28, "10.0.0.1", MAC2, REACHABLE))
    lnx += twin.feed_bytes(nl_neigh(29, "10.0.0.1", None, 0))
    assert [e.to_dict() for e in bsd] == [e.to_dict() for e in lnx]
    assert [e.to_dict()["event"] for e in bsd] == [
        "neighbour-added", "neighbour-removed"]


# -- HostWatcher ----------------------------------------------------------------


class Recorder(HostEventHandler):
    def __init__(self):
        self.calls = []

    def tap_appeared(self, name, link):
        pass

    def tap_gone(self, name, link):
        pass

    def tap_state(self, name, link):
        pass

    def fabric_changed(self, fabric):
        self.calls.append(("fabric", str(fabric.gateway), fabric.gateway_mac))

    def neighbour_changed(self, ifname, address, mac):
        self.calls.append(("neigh", ifname, str(address), mac))

    def take(self):
        out, self.calls = self.calls, []
        return out


def test_watcher_gateway_mac_and_fabric_neighbours():
    rec = Recorder()
    w = HostWatcher(rec, fabric_ifname="fab0")
    dflt = ipaddress.ip_network("0.0.0.0/0")
    w.handle_all([LinkAdded(Link(2, "fab0", True, True)),
                  LinkAdded(Link(3, "mgmt0", True, True)),
                  AddressAdded(Address(2, ipaddress.ip_interface("10.0.0.5/24"))),
                  RouteAdded(Route(dflt, GW, 2))])
    assert rec.take() == [("fabric", "10.0.0.1", None)]
    w.handle(NeighbourAdded(Neighbour(2, GW, MAC1), "fab0"))
    assert rec.take() == [("neigh", "fab0", "10.0.0.1", MAC1),
                          ("fabric", "10.0.0.1", MAC1)]
    assert w.neighbour("10.0.0.1") == MAC1
    w.handle(NeighbourChanged(Neighbour(2, GW, MAC2), Neighbour(2, GW, MAC1)))
    assert rec.take() == [("neigh", "fab0", "10.0.0.1", MAC2),
                          ("fabric", "10.0.0.1", MAC2)]
    # The default route moves to a gateway not resolved yet.
    w.handle(RouteChanged(Route(dflt, STATIC, 2), Route(dflt, GW, 2)))
    assert rec.take() == [("fabric", "10.0.0.7", None)]
    # Neighbours elsewhere are not the fabric's business.
    w.handle(NeighbourAdded(Neighbour(3, STATIC, MAC1), "mgmt0"))
    assert rec.take() == [] and w.neighbour("10.0.0.7") is None
    w.handle(NeighbourAdded(Neighbour(2, STATIC, MAC1), "fab0"))
    assert rec.take() == [("neigh", "fab0", "10.0.0.7", MAC1),
                          ("fabric", "10.0.0.7", MAC1)]
    w.handle(NeighbourRemoved(Neighbour(2, STATIC, MAC1), "fab0"))
    assert rec.take() == [("neigh", "fab0", "10.0.0.7", None),
                          ("fabric", "10.0.0.7", None)]
    w.handle_all([NeighbourRemoved(Neighbour(2, GW, MAC2)),
                  LinkRemoved(Link(2, "fab0"))])
    assert w.fabric == FabricInfo("fab0", None, None, STATIC, 2, None)
