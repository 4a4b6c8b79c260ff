"""Snapshots (files and ZFS, running, paused or stopped guests) and
rescue/unrescue, on test:///default and the zfs stand-in."""

from __future__ import annotations

import os
import subprocess

import pytest

from bsdnet.driver.compute.driver import RUNNING
from bsdnet.driver.compute.errors import ComputeError, InstanceNotRunning
from bsdnet.driver.compute.snapshot import IMAGE_PENDING_UPLOAD, IMAGE_UPLOADING
from bsdnet.driver.domain import Domain
from tests.driver.helpers import libvirt, make_instance, make_vif
from tests.driver.helpers import BhyveLikeConn

IMAGE = {"id": "img-raw", "disk_format": "raw", "properties": {"os_distro": "freebsd"}}


class Glance:
    """Records what the driver uploads, checking it is the format it says."""

    def __init__(self, tmp_path) -> None:
        self.dir, self.uploads = tmp_path, []

    def __call__(self, context, instance, image_id, path, disk_format) -> None:
        info = subprocess.run(["qemu-img", "info", "--output=json", path], capture_output=True, text=True,
                              check=True).stdout
        assert f'"format": "{disk_format}"' in info
        raw = self.dir / f"{image_id}.raw"
        subprocess.run(["qemu-img", "convert", "-f", disk_format, "-O", "raw", path, str(raw)], check=True)
        self.uploads.append((instance.uuid, image_id, disk_format, raw.read_bytes()[:9]))


def states() -> tuple[list, object]:
    seen: list = []
    return seen, lambda **kw: seen.append((kw["task_state"], kw.get("expected_state")))


@pytest.mark.parametrize("power", ["running", "paused", "stopped"])
def test_snapshot_files(driver, tmp_path, power) -> None:
    driver.uploader = glance = Glance(tmp_path)
    inst = make_instance()
    driver.spawn(None, inst, IMAGE, network_info=[])
    try:
        if power == "paused":
            driver.pause(inst)
        elif power == "stopped":
            driver.power_off(inst)
        seen, update = states()
        driver.snapshot(None, inst, "snap-1", update)
        assert seen == [(IMAGE_PENDING_UPLOAD, None), (IMAGE_UPLOADING, IMAGE_PENDING_UPLOAD)]
        assert glance.uploads == [(inst.uuid, "snap-1", "qcow2", b"\xeb\x3c\x90BSDNET")]
        want = {"running": libvirt.VIR_DOMAIN_RUNNING, "paused": libvirt.VIR_DOMAIN_PAUSED,
                "stopped": libvirt.VIR_DOMAIN_SHUTOFF}[power]
        assert driver.conn.lookupByUUIDString(inst.uuid).state()[0] == want  # as it was
    finally:
        driver.destroy(None, inst, [])


def test_snapshot_refusals(driver, tmp_path) -> None:
    with pytest.raises(ComputeError, match="no image service"):
        driver.snapshot(None, make_instance(), "x", lambda **kw: None)
    driver.uploader = Glance(tmp_path)
    with pytest.raises(InstanceNotRunning):
        driver.snapshot(None, make_instance(), "x", lambda **kw: None)
    inst = make_instance()
    driver.spawn(None, inst, IMAGE, network_info=[])
    try:
        driver._conn = BhyveLikeConn(driver.conn)  # cannot pause
        with pytest.raises(ComputeError, match="images_type = zfs"):
            driver.snapshot(None, inst, "x", lambda **kw: None)
        assert driver.get_info(inst).state == RUNNING
    finally:
        driver._conn = driver._conn.real
        driver.destroy(None, inst, [])


def test_snapshot_zfs_running_without_pause(zfs_driver, zfs_host, tmp_path) -> None:
    zfs_driver.uploader = glance = Glance(tmp_path)
    zfs_driver.config.snapshot_image_format = "raw"
    inst = make_instance()
    zfs_driver.spawn(None, inst, IMAGE, network_info=[])
    try:
        before = set(zfs_host.datasets())
        zfs_driver._conn = BhyveLikeConn(zfs_driver.conn)  # no pause, and none needed
        zfs_driver.snapshot(None, inst, "snap-z", lambda **kw: None)
        assert glance.uploads == [(inst.uuid, "snap-z", "raw", b"\xeb\x3c\x90BSDNET")]
        assert set(zfs_host.datasets()) == before  # the snapshot and its clone are gone again
        assert zfs_driver.get_info(inst).state == RUNNING
    finally:
        zfs_driver._conn = zfs_driver._conn.real
        zfs_driver.destroy(None, inst, [])


def _disks(driver, inst) -> list[str]:
    return [d.source for d in Domain.from_xml(driver.conn.lookupByUUIDString(inst.uuid).XMLDesc(0)).disks]


def test_rescue_and_unrescue(driver, fake_net, image_dir) -> None:
    inst = make_instance(config_drive=True)
    vif = make_vif()
    driver.spawn(None, inst, IMAGE, network_info=[vif])
    idir = os.path.join(driver.config.instances_path, inst.uuid)
    before = _disks(driver, inst)
    try:
        driver.unrescue(None, inst)  # not rescued: nothing to do
        assert _disks(driver, inst) == before
        driver.rescue(None, inst, [vif], {"id": "img-qcow2", "properties": {"os_type": "linux"}}, "r3scue")
        assert driver.get_info(inst).state == RUNNING
        rescued = Domain.from_xml(driver.conn.lookupByUUIDString(inst.uuid).XMLDesc(0))
        assert [d.source for d in rescued.disks] == [os.path.join(idir, "disk.rescue"), os.path.join(idir, "disk"),
                                                     os.path.join(idir, "disk.config.rescue")]
        assert rescued.disks[0].boot_order == 1 and rescued.os.is_uefi  # the rescue image's guest type
        assert [i.mac for i in rescued.interfaces] == [vif["address"]]
        with pytest.raises(ComputeError, match="rescued already"):
            driver.rescue(None, inst, [vif], IMAGE, "x")
        fake_net.calls.clear()
        driver.unrescue(None, inst)
        assert _disks(driver, inst) == before and driver.get_info(inst).state == RUNNING
        assert not os.path.exists(os.path.join(idir, "disk.rescue"))
        assert not os.path.exists(os.path.join(idir, "unrescue.xml"))
        assert ("plug_port", vif["id"], vif["devname"], vif["address"], "10.0.0.5") in fake_net.calls
    finally:
        driver.destroy(None, inst, [vif])


def test_rescue_zfs_volume_comes_and_goes(zfs_driver, zfs_host) -> None:
    inst = make_instance()
    zfs_driver.spawn(None, inst, IMAGE, network_info=[])
    try:
        zfs_driver.rescue(None, inst, [], IMAGE, None)
        rescue_vol = f"tank/bsdnet/instances/{inst.uuid}/rescue"
        assert zfs_host.datasets()[rescue_vol]["origin"].endswith("@base")
        assert _disks(zfs_driver, inst)[0] == os.path.join(zfs_host.dev_dir, rescue_vol)
        zfs_driver.unrescue(None, inst)
        assert rescue_vol not in zfs_host.datasets()
    finally:
        zfs_driver.destroy(None, inst, [])
