"""The os-vif plugin 'vrouter': found by os-vif's own loader under that entry
point name, and a Neutron port bound with vif_type 'vrouter', converted by
Nova's os_vif_util as a stock Nova does, reaches the agent's port API."""

from __future__ import annotations

import os
import tomllib
import uuid as _uuid
from pathlib import Path

import pytest

from bsdnet.driver.vif import osvif_plugin

ROOT = str(Path(__file__).resolve().parents[3])
ENTRY = "bsdnet.driver.vif.osvif_plugin:VrouterPlugin"
PROJECT = "cb33cc2c6fb84072a11277547c60d2b7"   # Keystone writes project ids so


def test_entry_point_declared() -> None:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["entry-points"]["os_vif"] == {"vrouter": ENTRY}


@pytest.fixture
def os_vif_loaded(tmp_path, monkeypatch, port_api):
    """os-vif initialised with our entry point visible (a dist-info on sys.path,
    the same metadata an installed bsdnet carries), pointed at the test API."""
    os_vif = pytest.importorskip("os_vif", reason="os-vif not installed: pip install os-vif")
    if not osvif_plugin.HAVE_OS_VIF:
        pytest.skip("os-vif importable only partly")
    dist = tmp_path / "bsdnet_osvif_probe-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bsdnet-osvif-probe\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(f"[os_vif]\nvrouter = {ENTRY}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))  # stevedore's entry point cache
    from oslo_config import cfg
    monkeypatch.setattr(os_vif, "_EXT_MANAGER", None)
    os_vif.initialize()
    cfg.CONF.set_override("port_api_url", port_api.url, group="os_vif_vrouter")
    plugin = os_vif._EXT_MANAGER["vrouter"].obj
    plugin.api = osvif_plugin.PortApiClient(port_api.url)
    yield os_vif
    cfg.CONF.clear_override("port_api_url", group="os_vif_vrouter")
    monkeypatch.setattr(os_vif, "_EXT_MANAGER", None)


def test_plugin_describes_vif_generic(os_vif_loaded) -> None:
    info = os_vif_loaded._EXT_MANAGER["vrouter"].obj.describe()
    assert info.plugin_name == "vrouter"
    assert [v.vif_object_name for v in info.vif_info] == ["VIFGeneric"]


def test_stock_nova_vrouter_port_reaches_agent(os_vif_loaded, port_api) -> None:
    try:
        from nova.network import model as nm
        from nova.network import os_vif_util
    except ImportError as exc:
        pytest.skip(f"Nova not importable ({exc})")
    from os_vif.objects import instance_info as ii
    port, net, inst = (str(_uuid.uuid4()) for _ in range(3))
    vif = nm.VIF(id=port, address="fa:16:3e:12:34:56", type="vrouter", vnic_type="normal",
                 devname="tap" + port[:11], details={},
                 network=nm.Network(id=net, bridge=None, label="net1", subnets=[
                     nm.Subnet(cidr="10.9.0.0/24", ips=[nm.FixedIP(address="10.9.0.4")])]))
    osvif = os_vif_util.nova_to_osvif_vif(vif)
    assert osvif.plugin == "vrouter" and type(osvif).__name__ == "VIFGeneric"
    info = ii.InstanceInfo(uuid=inst, name="instance-00000007", project_id=PROJECT)
    os_vif_loaded.plug(osvif, info)
    assert port_api.requests == [("POST", {
        "id": port, "instance-id": inst, "ip-address": "10.9.0.4", "ip6-address": "", "vn-id": net,
        "display-name": "instance-00000007", "vm-project-id": PROJECT, "mac-address": "fa:16:3e:12:34:56",
        "system-name": "tap" + port[:11], "type": 0, "rx-vlan-id": -1, "tx-vlan-id": -1,
        "security-groups": [], "allowed-address-pairs": [], "port-security-enabled": True,
        "admin-state-up": True})]
    os_vif_loaded.unplug(osvif, info)
    assert port_api.requests[-1] == ("DELETE", port) and not port_api.ports


def test_placeholder_without_os_vif(monkeypatch) -> None:
    if osvif_plugin.HAVE_OS_VIF:
        pytest.skip("os-vif installed: the placeholder is not in use")
    with pytest.raises(ImportError, match="os-vif"):
        osvif_plugin.VrouterPlugin.load("vrouter")


def test_request_from_osvif_objects_checks_fields() -> None:
    class Obj:
        def __init__(self, **kw):
            self.__dict__.update(kw)
    vif = Obj(id="not-a-uuid", address="fa:16:3e:00:00:01", vif_name="tap1",
              network=Obj(id=str(_uuid.uuid4()), subnets=Obj(objects=[])))
    with pytest.raises(Exception, match="UUID"):
        osvif_plugin.request_from_osvif(vif, Obj(uuid=str(_uuid.uuid4()), name="x", project_id=""))
    vif.id = str(_uuid.uuid4())
    req = osvif_plugin.request_from_osvif(vif, Obj(uuid=str(_uuid.uuid4()), name="x", project_id=None))
    assert (req.ip_address, req.ip6_address, req.vm_project_id, req.system_name) == ("0.0.0.0", "", "", "tap1")
