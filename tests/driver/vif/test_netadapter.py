"""The VIF drivers on bsdnet's real network driver, its FreeBSD backend
running against the in-process FreeBSD stand-in (ifconfig rules enforced)."""

from __future__ import annotations

import pytest

from bsdnet.driver.vif import BridgeVifDriver, VrouterVifDriver
from bsdnet.agent.apiclient import PortApiClient
from tests.driver.helpers import HOST, make_instance, make_vif

net = pytest.importorskip("bsdnet.driver.net", reason="network driver not present")
try:
    from bsdnet.driver.net.fbsd_sim import FreeBSDHost
    from bsdnet.driver.net.freebsd import FreeBSDBackend
    from bsdnet.driver.net.runner import SimRunner
    from bsdnet.driver.vif.netadapter import NetworkDriverAdapter
except ImportError as exc:  # the network driver is another issue's work
    pytest.skip(f"FreeBSD stand-in not available ({exc})", allow_module_level=True)



@pytest.fixture
def sim(tmp_path):
    host = FreeBSDHost.from_ifconfig(HOST)
    drv = net.get_driver({"state_dir": str(tmp_path / "state"), "dhcp": False},
                         backend=FreeBSDBackend(SimRunner(host)))
    return NetworkDriverAdapter(drv), drv


def test_bridge_vif_builds_vlan_network(sim) -> None:
    adapter, drv = sim
    vif = make_vif(bridge="brvlan100", vlan=100)
    BridgeVifDriver(adapter, uplink="em0").plug(make_instance(), vif)
    br = drv.backend.get("brvlan100")
    assert br is not None and "UP" in br.flags
    assert br.members == ["em0.100"]
    BridgeVifDriver(adapter, uplink="em0").plug(make_instance(), vif)  # idempotent
    assert drv.backend.get("brvlan100").members == ["em0.100"]


def test_vrouter_port_bridges_are_private_and_removed(sim, port_api) -> None:
    adapter, drv = sim
    vr = VrouterVifDriver(adapter, PortApiClient(port_api.url))
    a, b = make_vif(), make_vif()
    vr.plug(make_instance(), a)
    vr.plug(make_instance(), b)
    ba, bb = (vr.interface(make_instance(), x).source_bridge for x in (a, b))
    assert ba != bb
    assert drv.backend.get(ba).members == [] and drv.backend.get(bb).members == []
    vr.unplug(make_instance(), a)
    assert drv.backend.get(ba) is None and drv.backend.get(bb) is not None
    vr.unplug(make_instance(), a)  # already gone: fine


def test_foreign_bridge_never_touched(sim) -> None:
    adapter, drv = sim
    drv.backend.create_bridge("vrbforeign", "somebody else", "other")
    with pytest.raises(net.NotOwned):
        adapter.delete_bridge("vrbforeign")
    with pytest.raises(net.NotOwned):
        adapter.ensure_bridge("vrbforeign")
    assert drv.backend.get("vrbforeign") is not None
