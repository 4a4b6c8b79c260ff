"""The bridge VIF driver's port registration, against the recording FakeNet:
what it derives from Nova's network_info (DHCP subnet, lease, host name) and
when it calls plug_port / unplug_port."""

from __future__ import annotations

import pytest

from bsdnet.driver.vif import BridgeVifDriver, VifDispatcher, VifPlugError, VrouterVifDriver
from bsdnet.driver.vif.bridge import dhcp_for, port_for
from bsdnet.agent.apiclient import PortApiClient
from tests.driver.helpers import make_instance, make_vif


def nova_vif() -> dict:
    vif = make_vif(ip="10.0.0.5")
    subnet = vif["network"]["subnets"][0]
    subnet["meta"] = {"dhcp_server": "10.0.0.2"}
    subnet["routes"] = [{"cidr": "172.16.0.0/12", "gateway": {"address": "10.0.0.254"}}]
    vif["network"]["subnets"].insert(0, {"cidr": "2001:db8::/64", "ips": [{"address": "2001:db8::5"}],
                                         "meta": {"dhcp_server": "2001:db8::2"}})
    return vif


def test_dhcp_subnet_from_network_info() -> None:
    d = dhcp_for(nova_vif())
    assert (d.cidr, d.server, d.gateway, d.dns, d.routes) == (
        "10.0.0.0/24", "10.0.0.2/24", "10.0.0.1", ("10.0.0.2",), (("172.16.0.0/12", "10.0.0.254"),))
    assert dhcp_for(make_vif()) is None  # no dhcp_server: Neutron's DHCP agent serves it
    outside = nova_vif()
    outside["network"]["subnets"][1]["meta"]["dhcp_server"] = "1.1.1.1"
    assert dhcp_for(outside) is None  # the bridge could not answer from it


def test_port_from_network_info() -> None:
    vif = nova_vif()
    p = port_for(make_instance(hostname="web-1"), vif)
    assert (p.id, p.network_id, p.mac, p.tap, p.ip, p.hostname) == (
        vif["id"], vif["network"]["id"], vif["address"], vif["devname"], "10.0.0.5", "web-1")
    assert port_for(make_instance(hostname="not a label"), vif).hostname is None
    bare = make_vif()
    bare["network"]["subnets"] = []
    assert port_for(make_instance(), bare).ip is None  # registered, no lease


def test_attach_and_unplug_register_the_port(fake_net) -> None:
    drv = BridgeVifDriver(fake_net, uplink="em0")
    vif, inst = nova_vif(), make_instance()
    drv.plug(inst, vif)
    assert vif["id"] not in fake_net.ports  # the tap does not exist before the guest starts
    drv.attach_tap(inst, vif)
    drv.attach_tap(inst, vif)
    assert fake_net.ports[vif["id"]].ip == "10.0.0.5"
    drv.unplug(inst, vif)
    drv.unplug(inst, vif)
    assert fake_net.ports == {}
    assert [c[0] for c in fake_net.calls] == ["ensure_network", "plug_port", "plug_port",
                                              "unplug_port", "unplug_port"]


def test_host_only_network_registers_its_ports(fake_net) -> None:
    drv = BridgeVifDriver(fake_net)
    vif, inst = nova_vif(), make_instance()
    drv.plug(inst, vif)
    drv.attach_tap(inst, vif)
    assert fake_net.ports[vif["id"]].ip == "10.0.0.5"  # a lease on the host-only bridge too
    drv.unplug(inst, vif)
    assert [c[0] for c in fake_net.calls] == ["ensure_network", "plug_port", "unplug_port"]
    assert fake_net.calls[0][3] is None  # no uplink


def test_refused_port_names_vif_tap_and_reason(fake_net) -> None:
    def refuse(port):
        raise RuntimeError("tap does not exist (the hypervisor should have made it)")
    fake_net.plug_port = refuse
    vif, inst = nova_vif(), make_instance()
    with pytest.raises(VifPlugError, match=f"VIF {vif['id']} \\(tap {vif['devname']}.*{inst.uuid}.*does not exist"):
        BridgeVifDriver(fake_net, uplink="em0").attach_tap(inst, vif)


def test_dispatcher_forwards_attach(fake_net, port_api) -> None:
    d = VifDispatcher({"bridge": BridgeVifDriver(fake_net, "em0"),
                       "vrouter": VrouterVifDriver(fake_net, PortApiClient(port_api.url))}, default="vrouter")
    b, r = nova_vif(), make_vif()
    r["type"] = "vrouter"
    d.attach_tap(make_instance(), b)
    d.attach_tap(make_instance(), r)  # vrouter: the agent attaches the tap itself
    assert list(fake_net.ports) == [b["id"]] and port_api.requests == []


def test_bridged_ports_plugged_through_the_agent_when_asked(fake_net, tmp_path) -> None:
    """With Neutron the agent reports bridged ports up: the driver plugs
    them through its port API too (a real server on a unix socket)."""
    from bsdnet.agent import portapi, portstore
    store = portstore.PortStore(str(tmp_path / "state"))
    api = portapi.PortApi(store)
    vif, inst = nova_vif(), make_instance()
    api.add_network({"id": vif["network"]["id"], "subnets": [{"cidr": "10.0.0.0/24"}]})
    server = portapi.PortApiServer(api, str(tmp_path / "api.sock"))
    server.start(poll_interval=0.02)
    try:
        drv = BridgeVifDriver(fake_net, uplink="em0", agent=PortApiClient(server.url))
        drv.plug(inst, vif)
        port = store.get("port", vif["id"])
        assert (port.system_name, port.mac_address, port.ip_address) == (
            vif["devname"], vif["address"], "10.0.0.5")
        drv.unplug(inst, vif)
        assert store.find("port", vif["id"]) is None
    finally:
        server.stop()
