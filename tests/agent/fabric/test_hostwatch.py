"""HostWatcher: events to the agent's attach/detach/state/fabric calls."""
from __future__ import annotations

import ipaddress

import pytest

from bsdnet.agent.hostwatch import FabricInfo, HostEventHandler, HostWatcher
from bsdnet.routesock.encoder import encode_announce, encode_ifaddr, encode_ifinfo, encode_route
from bsdnet.routesock.events import Address, AddressAdded, Link, LinkAdded, RouteAdded, Route
from bsdnet.routesock.layout import CONSTANTS as C
from bsdnet.routesock.listener import RouteSocketListener
from bsdnet.routesock.messages import SaInet
from routesock.fakekernel import FakeKernel

from .conftest import ip, suffix


class Recorder(HostEventHandler):
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def tap_appeared(self, name, link):
        self.calls.append(("attach", name, link.index))

    def tap_gone(self, name, link):
        self.calls.append(("detach", name, link.index))

    def tap_state(self, name, link):
        self.calls.append(("state", name, link.up, link.running, link.mtu))

    def fabric_changed(self, fabric):
        self.calls.append(("fabric", fabric.ifname,
                           str(fabric.address) if fabric.address else None,
                           str(fabric.gateway) if fabric.gateway else None))

    def take(self):
        out, self.calls = self.calls, []
        return out


@pytest.fixture
def kernel():
    k = FakeKernel()
    k.add_iface(1, "vtnet0", addrs=(("10.0.0.5", "255.255.255.0"),))
    k.add_route("0.0.0.0", None, "10.0.0.1", 1)
    yield k
    k.close()


def test_taps_attach_detach_rename_and_state_over_freebsd_messages(kernel):
    rec = Recorder()
    w = HostWatcher(rec, fabric_ifname="vtnet0")
    lst = RouteSocketListener(kernel.sock, kernel.dump, pid=1, settle=0.01)
    w.start(lst)
    assert rec.take() == [("fabric", "vtnet0", "10.0.0.5/24", "10.0.0.1")]

    w.register_tap("tap5")
    assert rec.take() == []          # not there yet
    kernel.add_iface(5, "tap5", flags=C["IFF_BROADCAST"], link_state=1)
    kernel.add_iface(6, "tap6", flags=C["IFF_BROADCAST"], link_state=1)
    kernel.send(encode_announce(5, "tap5", 0), encode_announce(6, "tap6", 0))
    w.pump(lst, 5)
    assert rec.take() == [("attach", "tap5", 5)]       # tap6 is not ours

    kernel.send(encode_ifinfo(5, C["IFF_UP"] | C["IFF_DRV_RUNNING"], link_state=2, mtu=1450))
    w.pump(lst, 5)
    assert rec.take() == [("state", "tap5", True, True, 1450)]

    # tap6 renamed to a registered name: attach; tap5 renamed away: detach.
    w.register_tap("vm-b")
    kernel.add_iface(6, "vm-b", flags=C["IFF_BROADCAST"], link_state=1)
    kernel.send(encode_announce(6, "tap6", 1), encode_announce(6, "vm-b", 0))
    w.pump(lst, 5)
    assert rec.take() == [("attach", "vm-b", 6)]
    kernel.add_iface(5, "tap5x")
    kernel.send(encode_announce(5, "tap5", 1), encode_announce(5, "tap5x", 0))
    w.pump(lst, 5)
    assert rec.take() == [("detach", "tap5", 5)]

    kernel.send(encode_announce(6, "vm-b", 1))
    w.pump(lst, 5)
    assert rec.take() == [("detach", "vm-b", 6)]


def test_fabric_address_and_default_route_changes(kernel):
    rec = Recorder()
    w = HostWatcher(rec, fabric_ifname="vtnet0")
    lst = RouteSocketListener(kernel.sock, kernel.dump, pid=1, settle=0.01)
    w.start(lst)
    rec.take()
    gw = C["RTF_UP"] | C["RTF_GATEWAY"] | C["RTF_STATIC"]
    kernel.send(
        encode_ifaddr(C["RTM_DELADDR"], 1, {2: SaInet("255.255.255.0"), 5: SaInet("10.0.0.5")}),
        encode_ifaddr(C["RTM_NEWADDR"], 1, {2: SaInet("255.255.0.0"), 5: SaInet("10.9.0.5")}))
    w.pump(lst, 5)
    assert rec.take() == [("fabric", "vtnet0", "10.9.0.5/16", "10.0.0.1")]
    kernel.send(encode_route(C["RTM_CHANGE"], {0: SaInet("0.0.0.0"), 1: SaInet("10.9.0.1"),
                                               2: SaInet("0.0.0.0")}, flags=gw, index=1))
    w.pump(lst, 5)
    assert rec.take() == [("fabric", "vtnet0", "10.9.0.5/16", "10.9.0.1")]
    kernel.send(encode_route(C["RTM_ADD"], {0: SaInet("192.0.2.0"), 1: SaInet("10.9.0.1"),
                                            2: SaInet("255.255.255.0")}, flags=gw, index=1))
    w.pump(lst, 5)
    assert rec.take() == []          # not the default route: nothing for the datapath
    kernel.send(encode_route(C["RTM_DELETE"], {0: SaInet("0.0.0.0"), 2: SaInet("0.0.0.0")},
                             flags=gw, index=1))
    w.pump(lst, 5)
    assert rec.take() == [("fabric", "vtnet0", "10.9.0.5/16", None)]
    assert w.fabric == FabricInfo("vtnet0", 1, ipaddress.ip_interface("10.9.0.5/16"), None, None)


def test_register_present_tap_and_unregister():
    rec = Recorder()
    w = HostWatcher(rec)
    w.handle_all([LinkAdded(Link(3, "tapA", True, True, 1500, "02:00:00:00:00:03"))])
    w.register_tap("tapA")
    assert rec.take() == [("attach", "tapA", 3)]
    assert set(w.attached) == {"tapA"}
    w.unregister_tap("tapA")
    assert rec.take() == [("detach", "tapA", 3)]
    w.handle(AddressAdded(Address(3, ipaddress.ip_interface("10.0.0.1/24"))))
    w.handle(RouteAdded(Route(ipaddress.ip_network("0.0.0.0/0"), None, 3)))
    assert rec.take() == []          # no fabric interface configured


@pytest.mark.root
def test_watcher_with_the_linux_twin(netns):
    from bsdnet.routesock.netlink import NetlinkListener
    lst = NetlinkListener(netns)
    try:
        rec = Recorder()
        fab, tap = f"rf{suffix()}", f"rt{suffix()}"
        ip(netns, "link", "add", fab, "type", "veth", "peer", "name", fab + "b")
        ip(netns, "link", "set", fab, "up")
        ip(netns, "link", "set", fab + "b", "up")
        ip(netns, "addr", "add", "10.91.0.2/24", "dev", fab)
        ip(netns, "route", "add", "default", "via", "10.91.0.1")
        w = HostWatcher(rec, fabric_ifname=fab)
        w.start(lst)
        assert rec.take() == [("fabric", fab, "10.91.0.2/24", "10.91.0.1")]
        w.register_tap(tap)

        def pump_until(pred):
            for _ in range(20):
                w.pump(lst, 0.5)
                if pred(rec.calls):
                    return rec.take()
            raise AssertionError(rec.calls)

        ip(netns, "tuntap", "add", "dev", tap, "mode", "tap")
        calls = pump_until(lambda c: any(x[0] == "attach" for x in c))
        assert [x[:2] for x in calls] == [("attach", tap)]
        ip(netns, "link", "set", tap, "up")
        calls = pump_until(lambda c: any(x[0] == "state" for x in c))
        assert calls[-1][:3] == ("state", tap, True)
        ip(netns, "route", "replace", "default", "via", "10.91.0.7")
        calls = pump_until(lambda c: any(x[0] == "fabric" for x in c))
        assert calls == [("fabric", fab, "10.91.0.2/24", "10.91.0.7")]
        ip(netns, "link", "del", tap)
        calls = pump_until(lambda c: any(x[0] == "detach" for x in c))
        assert [x[:2] for x in calls if x[0] == "detach"] == [("detach", tap)]
    finally:
        lst.close()


def test_a_failing_callback_does_not_lose_the_batch(caplog):
    class Failing(Recorder):
        def tap_appeared(self, name, link):
            super().tap_appeared(name, link)
            raise RuntimeError("datapath busy")

    rec = Failing()
    w = HostWatcher(rec)
    w.register_tap("tapA")
    w.register_tap("tapB")
    w.handle_all([LinkAdded(Link(3, "tapA")), LinkAdded(Link(4, "tapB"))])
    assert rec.take() == [("attach", "tapA", 3), ("attach", "tapB", 4)]
    assert "datapath busy" in caplog.text
