"""bsdnet-compute: xml, inspect, and spawn/list/console/destroy against test:///default."""

from __future__ import annotations

import json
import os
import uuid as _uuid

import pytest

from bsdnet.cmd import compute as compute_cli
from bsdnet.driver.domain import Domain
from tests.driver.helpers import CORPUS, libvirt


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = compute_cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_xml_from_flags_validates(capsys, conn) -> None:
    rc, out, _ = run(capsys, "xml", "--name", "cli-win", "--memory", "2048", "--vcpus", "2",
                     "--image-prop", "os_type=windows", "--disk", "/images/w.img", "--cdrom", "/images/drv.iso",
                     "--nic", "fa:16:3e:00:00:01,br0,tap0", "--libvirt-version", "9.0")
    assert rc == 0
    dom = Domain.from_xml(out, strict=True)
    assert dom.memory_kib == 2048 * 1024 and dom.interfaces[0].model == "e1000"
    conn.defineXMLFlags(out, libvirt.VIR_DOMAIN_DEFINE_VALIDATE).undefine()


def test_xml_from_spec_and_refusal(capsys, tmp_path) -> None:
    spec = {"name": "cli-nvme", "flavor": {"memory_mb": 256, "vcpus": 1},
            "image_properties": {"os_distro": "freebsd", "hw_disk_bus": "nvme"},
            "disks": [{"path": "/images/fb.raw"}], "nics": [], "console": True}
    f = tmp_path / "spec.json"
    f.write_text(json.dumps(spec))
    rc, out, _ = run(capsys, "xml", "--spec", str(f))
    assert rc == 0 and Domain.from_xml(out).disks[0].target_dev == "nvme0n1"
    rc, out, err = run(capsys, "xml", "--spec", str(f), "--libvirt-version", "9.0")
    assert rc == 2 and out == "" and "nvme needs libvirt >= 11.9" in err
    rc, _, err = run(capsys, "xml", "--name", "bad name")
    assert rc == 2 and "domain name" in err


def test_inspect(capsys) -> None:
    path = os.path.join(CORPUS, "bhyvexml2argv-grub-bootorder.xml")
    if not os.path.exists(path):
        pytest.skip("corpus absent")
    rc, out, _ = run(capsys, "inspect", "--strict", path)
    model = json.loads(out)
    assert rc == 0 and model["bootloader"] == "/usr/local/sbin/grub-bhyve"
    assert [d["boot_order"] for d in model["devices"] if d["kind"] == "Disk"] == [None, None, 1]


def test_spawn_list_console_destroy(capsys, tmp_path, image_dir, conn) -> None:
    # `conn` holds test:///default open: its state lives only while a connection
    # does, and each command opens and drops its own (bhyve:///system persists).
    conf = tmp_path / "bsdnet.conf"
    conf.write_text(f"[bhyve]\nconnection_uri = test:///default\ninstances_path = {tmp_path}/inst\n"
                    f"image_cache_path = {tmp_path}/cache\nvif_driver = bridge\n")
    name = "bsdt-cli" + _uuid.uuid4().hex[:6]
    spec = tmp_path / "vm.json"
    spec.write_text(json.dumps({"name": name, "flavor": {"memory_mb": 256, "vcpus": 1},
                                "image": {"id": "img-qcow2", "properties": {"os_type": "linux"}}}))
    common = ("--config-file", str(conf))
    rc, out, err = run(capsys, "spawn", *common, "--image-dir", str(image_dir), str(spec))
    assert rc == 0, err
    uuid = out.strip()
    try:
        rc, out, _ = run(capsys, "list", *common)
        assert rc == 0 and f"{uuid}  {name}" in out and "running" in out
        rc, out, _ = run(capsys, "console", *common, name)
        assert rc == 0
    finally:
        rc, _, err = run(capsys, "destroy", *common, uuid)
    assert rc == 0, err
    rc, out, _ = run(capsys, "list", *common)
    assert uuid not in out
    with pytest.raises(SystemExit, match="no guest"):
        compute_cli.main(["destroy", *common, uuid])


def test_destroy_removes_ports_and_their_bridges(capsys, tmp_path, image_dir, conn, port_api, monkeypatch) -> None:
    """bsdnet-compute destroy unplugs what spawn plugged: the vrouter port
    leaves the agent and its per-port bridge goes (FreeBSD stand-in host)."""
    from bsdnet.driver import net
    from bsdnet.driver.compute import wiring
    from bsdnet.driver.net.fbsd_sim import FreeBSDHost
    from bsdnet.driver.net.freebsd import FreeBSDBackend
    from bsdnet.driver.net.runner import SimRunner
    from bsdnet.driver.vif.netadapter import NetworkDriverAdapter
    from bsdnet.driver.vif.vrouter import port_bridge
    from tests.driver.helpers import make_vif
    from tests.driver.helpers import HOST

    host = FreeBSDHost.from_ifconfig(HOST)
    netdrv = net.get_driver({"state_dir": str(tmp_path / "net"), "dhcp": False},
                            backend=FreeBSDBackend(SimRunner(host)))
    monkeypatch.setattr(wiring, "default_net_driver", lambda conf=None: NetworkDriverAdapter(netdrv))
    conf = tmp_path / "bsdnet.conf"
    conf.write_text(f"[bhyve]\nconnection_uri = test:///default\ninstances_path = {tmp_path}/inst\n"
                    f"image_cache_path = {tmp_path}/cache\nvif_driver = vrouter\nport_api_url = {port_api.url}\n")
    vif = make_vif()
    vif["type"] = "vrouter"
    name = "bsdt-cli" + _uuid.uuid4().hex[:6]
    spec = tmp_path / "vm.json"
    spec.write_text(json.dumps({"name": name, "flavor": {"memory_mb": 256, "vcpus": 1}, "network_info": [vif],
                                "image": {"id": "img-raw", "properties": {"os_distro": "freebsd"}}}))
    common = ("--config-file", str(conf))
    rc, out, err = run(capsys, "spawn", *common, "--image-dir", str(image_dir), str(spec))
    assert rc == 0, err
    uuid = out.strip()
    assert vif["id"] in port_api.ports and netdrv.backend.get(port_bridge(vif)) is not None
    rc, _, err = run(capsys, "destroy", *common, name)
    assert rc == 0, err
    assert port_api.ports == {} and ("DELETE", vif["id"]) in port_api.requests
    assert netdrv.backend.get(port_bridge(vif)) is None
    assert not os.path.exists(tmp_path / "inst" / uuid)
