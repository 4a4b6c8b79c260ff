"""VIF drivers: bridge (network bridge + VLAN through the network driver) and
vrouter (private bridge per port + the agent's port API, checked by a local
HTTP server the way the API will check it)."""

from __future__ import annotations

import uuid as _uuid

import pytest

from bsdnet.driver.compute.config import DriverConfig
from bsdnet.driver.compute.driver import BhyveDriver
from bsdnet.driver.compute import images
from bsdnet.driver.domain import DomainConfigError
from bsdnet.driver.vif import BridgeVifDriver, VrouterVifDriver, get_vif_driver
from bsdnet.agent.apiclient import PortApiClient, PortApiError
from tests.driver.helpers import libvirt, make_instance, make_vif


def test_bridge_interface_and_plug(fake_net) -> None:
    drv = BridgeVifDriver(fake_net, uplink="em0")
    vif = make_vif(bridge="br-prov", vlan=42)
    nic = drv.interface(make_instance(), vif)
    assert (nic.type, nic.source_bridge, nic.target_dev, nic.mac) == \
        ("bridge", "br-prov", vif["devname"], vif["address"])
    drv.plug(make_instance(), vif)
    assert fake_net.calls == [("ensure_network", vif["network"]["id"], "br-prov", "em0", 42, 1500)]
    assert fake_net.bridges == {"br-prov": ["em0.42"]}
    drv.unplug(make_instance(), vif)
    assert "br-prov" in fake_net.bridges  # the network's bridge stays for its other guests


def test_bridge_defaults_and_refusals(fake_net) -> None:
    vif = make_vif()
    nic = BridgeVifDriver(fake_net).interface(make_instance(), vif)
    assert nic.source_bridge == "bnb" + vif["network"]["id"].replace("-", "")[:12]
    BridgeVifDriver(fake_net).plug(make_instance(), vif)  # no uplink: a host-only bridge
    assert fake_net.bridges == {nic.source_bridge: []}
    with pytest.raises(ValueError, match="uplink"):
        BridgeVifDriver(fake_net).plug(make_instance(), make_vif(vlan=7))
    with pytest.raises(ValueError, match="VLAN"):
        BridgeVifDriver(fake_net, "em0").plug(make_instance(), make_vif(vlan=5000))
    bad = make_vif()
    bad["address"] = "01:00:5e:00:00:01"
    with pytest.raises(DomainConfigError):
        BridgeVifDriver(fake_net).interface(make_instance(), bad)
    bad = make_vif(bridge="br0 up")
    with pytest.raises(DomainConfigError):
        BridgeVifDriver(fake_net).interface(make_instance(), bad)


def vrouter(fake_net, port_api) -> VrouterVifDriver:
    return get_vif_driver("vrouter", net=fake_net, api=PortApiClient(port_api.url))


def test_vrouter_registers_port(fake_net, port_api) -> None:
    drv = vrouter(fake_net, port_api)
    inst = make_instance()
    vif = make_vif(ip="10.1.0.7")
    vif["network"]["subnets"].append({"cidr": "fd00::/64", "ips": [{"address": "fd00::7"}]})
    drv.plug(inst, vif)
    assert port_api.requests == [("POST", {
        "id": vif["id"], "instance-id": inst.uuid, "ip-address": "10.1.0.7", "ip6-address": "fd00::7",
        "vn-id": vif["network"]["id"], "display-name": inst.display_name, "vm-project-id": inst.project_id,
        "mac-address": vif["address"], "system-name": vif["devname"], "type": 0,
        "rx-vlan-id": -1, "tx-vlan-id": -1, "security-groups": [], "allowed-address-pairs": [],
        "port-security-enabled": True, "admin-state-up": True})]
    drv.unplug(inst, vif)
    assert port_api.requests[-1] == ("DELETE", vif["id"])
    assert not port_api.ports


def test_vrouter_taps_never_share_a_bridge(fake_net, port_api) -> None:
    """Two tenants' ports: each tap alone on its own bridge, nothing else added,
    so with the datapath down there is no path between them."""
    drv = vrouter(fake_net, port_api)
    a, b = make_instance(), make_instance()
    va, vb = make_vif(), make_vif(net_id=None)
    va["network"]["id"] = vb["network"]["id"]  # even on the same network
    drv.plug(a, va)
    drv.plug(b, vb)
    na, nb = drv.interface(a, va), drv.interface(b, vb)
    assert na.source_bridge != nb.source_bridge
    assert fake_net.bridges == {na.source_bridge: [], nb.source_bridge: []}  # libvirt adds only the tap
    assert not [c for c in fake_net.calls if c[0] == "ensure_network"]
    assert len(na.source_bridge) <= 15
    drv.unplug(a, va)
    assert na.source_bridge not in fake_net.bridges


def test_vrouter_agent_down_or_refusing(fake_net, port_api) -> None:
    drv = vrouter(fake_net, port_api)
    port_api.status = 500
    vif = make_vif()
    with pytest.raises(PortApiError, match="500"):
        drv.plug(make_instance(), vif)
    assert fake_net.bridges == {}  # the private bridge made for it is gone again
    dead = VrouterVifDriver(fake_net, PortApiClient("http://127.0.0.1:9"))
    with pytest.raises(PortApiError, match="unreachable"):
        dead.plug(make_instance(), make_vif())
    assert fake_net.bridges == {}


def test_vrouter_unplug_of_unknown_port_is_quiet(fake_net, port_api) -> None:
    vrouter(fake_net, port_api).unplug(make_instance(), make_vif())  # 404 from the agent is fine
    assert port_api.requests[-1][0] == "DELETE"


def test_vrouter_refuses_bad_ids(fake_net, port_api) -> None:
    vif = make_vif()
    vif["id"] = "../../etc"
    with pytest.raises(DomainConfigError):
        vrouter(fake_net, port_api).plug(make_instance(), vif)
    assert not port_api.requests


def test_spawn_with_vrouter_and_failure_deregisters(tmp_path, image_dir, fake_net, port_api) -> None:
    cfg = DriverConfig(connection_uri="test:///default", instances_path=str(tmp_path / "i"),
                       image_cache_path=str(tmp_path / "c"))
    drv = BhyveDriver(config=cfg, vif_driver=vrouter(fake_net, port_api),
                      fetcher=images.local_fetcher(str(image_dir)))
    inst = make_instance()
    vifs = [make_vif(), make_vif()]
    image = {"id": "img-raw", "properties": {"os_distro": "freebsd"}}
    drv.spawn(None, inst, image, network_info=vifs)
    try:
        assert set(port_api.ports) == {v["id"] for v in vifs}
    finally:
        drv.destroy(None, inst, vifs)
    assert port_api.ports == {} and fake_net.bridges == {}
    # a libvirt failure after plugging: the ports are deregistered again
    real = drv.conn

    class Refusing:
        def __getattr__(self, name):
            return getattr(real, name)

        def defineXMLFlags(self, xml, flags):  # noqa: N802
            raise libvirt.libvirtError("injected")

    drv._conn = Refusing()
    inst2 = make_instance()
    with pytest.raises(libvirt.libvirtError):
        drv.spawn(None, inst2, image, network_info=[make_vif()])
    drv._conn = real
    assert port_api.ports == {} and fake_net.bridges == {}
    drv.cleanup_host("h")


def test_unknown_vif_driver() -> None:
    with pytest.raises(ValueError, match="unknown VIF driver"):
        get_vif_driver("ovs")


def test_port_api_url_checked() -> None:
    with pytest.raises(ValueError):
        PortApiClient("file:///etc/passwd")
    with pytest.raises(ValueError):
        PortApiClient("http://").delete_port(str(_uuid.uuid4()))


def test_dispatch_by_binding_type(fake_net, port_api) -> None:
    from bsdnet.driver.compute.config import DriverConfig
    from bsdnet.driver.compute.wiring import make_vif_driver
    from bsdnet.driver.domain import UnsupportedConfig
    cfg = DriverConfig(vif_driver="bridge", port_api_url=port_api.url, bridge_uplink="em0")
    drv = make_vif_driver(cfg, fake_net)
    routed, bridged, untyped, ovs = make_vif(), make_vif(vlan=12), make_vif(), make_vif()
    routed["type"], bridged["type"], ovs["type"] = "vrouter", "bridge", "ovs"
    del untyped["type"]
    inst = make_instance()
    for vif in (routed, bridged, untyped):
        drv.plug(inst, vif)
    assert set(port_api.ports) == {routed["id"]}  # only the vrouter port reached the agent
    assert drv.interface(inst, routed).source_bridge.startswith("vrb")
    assert drv.interface(inst, untyped).source_bridge.startswith("bnb")  # [bhyve] vif_driver = bridge
    with pytest.raises(UnsupportedConfig, match="'ovs'"):
        drv.plug(inst, ovs)


def test_spawn_refuses_unpluggable_port_before_any_work(driver, fake_net) -> None:
    from bsdnet.driver.compute.wiring import make_vif_driver
    from bsdnet.driver.domain import UnsupportedConfig
    import os
    driver.vif_driver = make_vif_driver(driver.config, fake_net)
    vif = make_vif()
    vif["type"] = "ovs"
    inst = make_instance()
    with pytest.raises(UnsupportedConfig, match="ovs"):
        driver.spawn(None, inst, {"id": "img-raw", "properties": {}}, network_info=[vif])
    assert not fake_net.calls and not os.path.exists(os.path.join(driver.config.instances_path, inst.uuid))
