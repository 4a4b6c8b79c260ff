"""Cinder volumes: local block devices and iSCSI (FreeBSD's iscsictl, played
by iscsictl_standin.py), attached to stopped guests, refused with the
reason on running ones, booted from, reconnected at power on, and
disconnected when the last guest using a session lets go."""

from __future__ import annotations

import os
import subprocess

import pytest

from bsdnet.driver.compute.volumes import VolumeAttachRunning, VolumeError
from bsdnet.driver.domain import Domain
from tests.driver.helpers import IscsiHost, libvirt, make_instance

IMAGE = {"id": "img-raw", "disk_format": "raw", "properties": {"os_distro": "freebsd"}}
PORTAL, IQN = "10.9.0.1:3260", "iqn.2010-10.org.openstack:volume-1"
VOL1, VOL2 = "5d1c4c2e-0b6f-4c5e-9a1e-000000000001", "5d1c4c2e-0b6f-4c5e-9a1e-000000000002"


def backing(tmp_path, name: str, data: bytes = b"") -> str:
    path = tmp_path / name
    with open(path, "wb") as f:
        f.write(data)
        f.truncate(2 ** 20)
    return str(path)


def local(path: str, vol: str = VOL1) -> dict:
    return {"driver_volume_type": "local", "serial": vol, "data": {"device_path": path, "volume_id": vol}}


def iscsi(lun: int = 0, vol: str = VOL1, chap: tuple[str, str] | None = None) -> dict:
    data = {"target_portal": PORTAL, "target_iqn": IQN, "target_lun": lun, "volume_id": vol}
    if chap:
        data.update(auth_method="CHAP", auth_username=chap[0], auth_password=chap[1])
    return {"driver_volume_type": "iscsi", "serial": vol, "data": data}


def persistent(driver, inst) -> Domain:
    return Domain.from_xml(driver.conn.lookupByUUIDString(inst.uuid).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


@pytest.fixture
def guest(driver):
    inst = make_instance()
    driver.spawn(None, inst, IMAGE, network_info=[])
    yield inst
    driver.destroy(None, inst, [])


def test_local_volume_on_a_stopped_guest_only(driver, guest, tmp_path) -> None:
    path = backing(tmp_path, "lv0")
    with pytest.raises(VolumeAttachRunning, match="no device hot-plug; stop the instance"):
        driver.attach_volume(None, local(path), guest, "/dev/vdb")
    driver.power_off(guest)
    driver.attach_volume(None, local(path), guest, "/dev/vdb")
    disk = persistent(driver, guest).disks[-1]
    assert (disk.type, disk.source, disk.target_dev, disk.target_bus, disk.serial) == \
        ("block", path, "vdb", "virtio", VOL1)
    with pytest.raises(VolumeError, match="already"):
        driver.attach_volume(None, local(path), guest, "/dev/vdc")
    driver.power_on(None, guest, [])
    with pytest.raises(VolumeAttachRunning, match="detach a volume"):
        driver.detach_volume(None, local(path), guest, "/dev/vdb")
    assert persistent(driver, guest).disks[-1].serial == VOL1  # nothing changed
    driver.power_off(guest)
    driver.detach_volume(None, local(path), guest, "/dev/vdb")
    assert [d.serial for d in persistent(driver, guest).disks] == [None]
    with pytest.raises(VolumeError, match="not attached"):
        driver.detach_volume(None, local(path), guest, "/dev/vdb")


def test_refusals(driver, guest, tmp_path) -> None:
    driver.power_off(guest)
    with pytest.raises(VolumeError, match="'local' and 'iscsi'"):
        driver.attach_volume(None, {"driver_volume_type": "fake", "data": {}}, guest, "/dev/vdb")
    with pytest.raises(VolumeError, match="does not exist"):
        driver.attach_volume(None, local(str(tmp_path / "absent")), guest, "/dev/vdb")
    with pytest.raises(VolumeError, match="device name"):
        driver.attach_volume(None, local(backing(tmp_path, "x")), guest, "/dev/hda")
    with pytest.raises(VolumeError, match="not an iqn"):
        driver.attach_volume(None, {"driver_volume_type": "iscsi", "data": {
            "target_portal": PORTAL, "target_iqn": "-t evil", "target_lun": 0}}, guest, "/dev/vdb")
    with pytest.raises(VolumeError, match="host:port"):
        driver.attach_volume(None, {"driver_volume_type": "iscsi", "data": {
            "target_portal": "-p x", "target_iqn": IQN, "target_lun": 0}}, guest, "/dev/vdb")
    with pytest.raises(VolumeError, match="encrypted"):
        driver.attach_volume(None, local(backing(tmp_path, "y")), guest, "/dev/vdb", encryption={"provider": "x"})
    assert [d.serial for d in persistent(driver, guest).disks] == [None]


def test_iscsi_with_chap(driver, guest, iscsi_host, tmp_path) -> None:
    iscsi_host.target(PORTAL, IQN, {0: backing(tmp_path, "lun0", b"VOLUME")}, chap=("nova", "s3cretpass"))
    driver.power_off(guest)
    with pytest.raises(VolumeError, match="Authentication failed"):
        driver.attach_volume(None, iscsi(chap=("nova", "wrong")), guest, "/dev/vdb")
    assert iscsi_host.sessions() == []  # the failed session is not left behind
    driver.attach_volume(None, iscsi(chap=("nova", "s3cretpass")), guest, "/dev/vdb")
    [s] = iscsi_host.sessions()
    assert (s["target"], s["portal"], s["user"], s["secret"]) == (IQN, PORTAL, "nova", "s3cretpass")
    disk = persistent(driver, guest).disks[-1]
    assert disk.source == os.path.join(iscsi_host.dev_dir, "da0")
    with open(disk.source, "rb") as f:
        assert f.read(6) == b"VOLUME"
    driver.detach_volume(None, iscsi(chap=("nova", "s3cretpass")), guest, "/dev/vdb")
    assert iscsi_host.sessions() == []


def test_shared_session_stays_while_used(driver, iscsi_host, tmp_path) -> None:
    iscsi_host.target(PORTAL, IQN, {0: backing(tmp_path, "l0"), 1: backing(tmp_path, "l1")})
    a, b = make_instance(), make_instance()
    for inst in (a, b):
        driver.spawn(None, inst, IMAGE, network_info=[], power_on=False)
    try:
        driver.attach_volume(None, iscsi(0, VOL1), a, "/dev/vdb")
        driver.attach_volume(None, iscsi(1, VOL2), b, "/dev/vdb")
        assert len(iscsi_host.sessions()) == 1  # one session to the target, two LUNs
        assert persistent(driver, b).disks[-1].source == os.path.join(iscsi_host.dev_dir, "da1")
        driver.detach_volume(None, iscsi(0, VOL1), a, "/dev/vdb")
        assert len(iscsi_host.sessions()) == 1  # b still uses da1
        driver.detach_volume(None, iscsi(1, VOL2), b, "/dev/vdb")
        assert iscsi_host.sessions() == []
    finally:
        for inst in (a, b):
            driver.destroy(None, inst, [])


def test_boot_from_volume_and_reconnect(driver, iscsi_host, tmp_path, image_dir) -> None:
    iscsi_host.target(PORTAL, IQN, {0: backing(tmp_path, "root", (image_dir / "img-raw").read_bytes()[:4096])})
    inst = make_instance()
    bdi = {"root_device_name": "/dev/vda", "block_device_mapping": [
        {"connection_info": iscsi(), "mount_device": "/dev/vda", "boot_index": 0, "disk_bus": "virtio"}]}
    driver.spawn(None, inst, {"properties": {"os_distro": "freebsd"}}, network_info=[], block_device_info=bdi)
    try:
        dom = persistent(driver, inst)
        assert [(d.source, d.serial) for d in dom.disks] == [(os.path.join(iscsi_host.dev_dir, "da0"), VOL1)]
        assert (dom.metadata.root_type, dom.metadata.root_uuid) == ("volume", VOL1)
        assert dom.disks[0].boot_order == 1
        assert not os.path.exists(os.path.join(driver.config.instances_path, inst.uuid, "disk"))
        # a host reboot drops the session: power on logs in again
        driver.power_off(inst)
        subprocess.run([iscsi_host.bin, "-R", "-p", PORTAL, "-t", IQN], check=True)
        driver.power_on(None, inst, [], bdi)
        assert [s["connected"] for s in iscsi_host.sessions()] == [True]
    finally:
        driver.destroy(None, inst, [], block_device_info=bdi)
    assert iscsi_host.sessions() == []


def test_spawn_failure_disconnects(driver, iscsi_host, tmp_path) -> None:
    iscsi_host.target(PORTAL, IQN, {0: backing(tmp_path, "v")})
    inst = make_instance()
    bdi = {"block_device_mapping": [{"connection_info": iscsi(), "mount_device": "/dev/vdb", "boot_index": None}]}
    with pytest.raises(Exception):
        driver.spawn(None, inst, {"id": "no-such-image"}, network_info=[], block_device_info=bdi)
    assert iscsi_host.sessions() == []


def test_swap_volume_on_a_stopped_guest(driver, guest, tmp_path) -> None:
    old, new = backing(tmp_path, "old"), backing(tmp_path, "new")
    driver.power_off(guest)
    driver.attach_volume(None, local(old, VOL1), guest, "/dev/vdb")
    driver.swap_volume(None, local(old, VOL1), local(new, VOL2), guest, "/dev/vdb", 1)
    disk = persistent(driver, guest).disks[-1]
    assert (disk.source, disk.serial, disk.target_dev) == (new, VOL2, "vdb")


def test_volume_connector_is_honest(driver, tmp_path) -> None:
    from bsdnet.driver.compute.volumes import Iscsictl
    driver.iscsi = Iscsictl(str(tmp_path / "no-iscsictl"))
    c = driver.get_volume_connector(None)
    assert "initiator" not in c and c["ip"] == driver.config.host_ip and c["multipath"] is False
    host = IscsiHost(tmp_path / "i")
    driver.iscsi = Iscsictl(host.bin)
    assert driver.get_volume_connector(None)["initiator"].startswith("iqn.1994-09.org.freebsd:")


def test_standin_option_rules(iscsi_host) -> None:
    for argv, msg in ((["-A", "-t", IQN], "-t must always be used with -p"),
                      (["-A", "-p", PORTAL, "-t", IQN, "-u", "x"], "-u must always be used with -s"),
                      (["-A", "-L"], "at most one of"), (["-R"], "must specify either"),
                      (["-L", "-p", PORTAL], "-p cannot be used with -L"),
                      (["-R", "-t", IQN], "No such file or directory")):
        r = subprocess.run([iscsi_host.bin, *argv], capture_output=True, text=True)
        assert r.returncode == 1 and msg in r.stderr, (argv, r.stderr)
    subprocess.run([iscsi_host.bin, "-A", "-p", PORTAL, "-t", IQN], check=True)
    r = subprocess.run([iscsi_host.bin, "-A", "-p", PORTAL, "-t", IQN], capture_output=True, text=True)
    assert r.returncode == 1 and "Device busy" in r.stderr
    assert "Connection refused" in subprocess.run([iscsi_host.bin, "-L"], capture_output=True, text=True).stdout
