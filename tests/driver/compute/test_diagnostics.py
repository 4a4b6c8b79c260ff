"""Diagnostics, block stats, disk info and device names on test:///default,
and the file image cache's pruning."""

from __future__ import annotations

import json
import os
import time

from bsdnet.driver.compute.diagnostics import next_disk_name
from tests.driver.helpers import make_instance, make_vif

IMAGE = {"id": "img-raw", "disk_format": "raw", "properties": {"os_distro": "freebsd"}}


def test_diagnostics_from_libvirt(driver) -> None:
    inst = make_instance()
    inst.flavor.ephemeral_gb = 1
    vif = make_vif()
    driver.spawn(None, inst, IMAGE, network_info=[vif])
    try:
        s = driver.guest_stats(inst)
        assert s.memory_max_kib == 256 * 1024 and s.cpu_time_ns >= 0
        assert [d.dev for d in s.disks] == ["vda", "vdb"]  # test:///default counts block I/O
        assert [(n.mac, n.tap) for n in s.nics] == [(vif["address"], vif["devname"])]
        assert s.nics[0].rx_octets is not None  # test:///default has interfaceStats
        flat = driver.get_diagnostics(inst)
        assert flat["memory"] == 256 * 1024 and "vda_read" in flat and "cpu0_time" in flat
        assert f"{vif['devname']}_rx" in flat
        driver.power_off(inst)
        stopped = driver.guest_stats(inst)
        assert stopped.disks == [] and [n.tap for n in stopped.nics] == [None]
    finally:
        driver.destroy(None, inst, [vif])


def test_block_stats_by_target_path_or_serial(driver) -> None:
    inst = make_instance()
    driver.spawn(None, inst, IMAGE, network_info=[])
    try:
        by_dev = driver.block_stats(inst, "vda")
        assert by_dev is not None and len(by_dev) == 5
        disk = os.path.join(driver.config.instances_path, inst.uuid, "disk")
        assert len(driver.block_stats(inst, disk)) == 5  # (the test driver's counters move between calls)
        assert driver.block_stats(inst, "no-such-disk") is None
    finally:
        driver.destroy(None, inst, [])


def test_disk_info_and_next_device_name(driver) -> None:
    inst = make_instance()
    inst.flavor.root_gb, inst.flavor.ephemeral_gb = 1, 2
    driver.spawn(None, inst, IMAGE, network_info=[], power_on=False)
    try:
        info = json.loads(driver.get_instance_disk_info(inst))
        idir = os.path.join(driver.config.instances_path, inst.uuid)
        assert [(d["path"], d["virt_disk_size"]) for d in info] == [
            (os.path.join(idir, "disk"), 2 ** 30), (os.path.join(idir, "disk.eph0"), 2 * 2 ** 30)]
        assert all(d["disk_size"] < d["virt_disk_size"] for d in info)  # sparse: over-committed
        assert info[1]["over_committed_disk_size"] == info[1]["virt_disk_size"] - info[1]["disk_size"]
        assert driver.get_device_name_for_instance(inst, [], None) == "/dev/vdc"
        assert driver.get_device_name_for_instance(inst, [{"device_name": "/dev/vdc"}], None) == "/dev/vdd"

        class Sata:
            disk_bus = "sata"
        assert driver.get_device_name_for_instance(inst, [], Sata()) == "/dev/sda"
    finally:
        driver.destroy(None, inst, [])


def test_next_disk_name() -> None:
    assert next_disk_name("virtio", {"vda", "vdb"}) == "vdc"
    assert next_disk_name("nvme", {"nvme0n1"}) == "nvme1n1"
    assert next_disk_name("sata", set()) == "sda"


def test_file_image_cache_pruning(driver) -> None:
    inst = make_instance()
    driver.spawn(None, inst, IMAGE, network_info=[], power_on=False)
    other = make_instance(image_ref="img-qcow2")
    driver.spawn(None, other, {"id": "img-qcow2", "properties": {"os_distro": "freebsd"}}, network_info=[],
                 power_on=False)
    raw, qcow = driver.image_cache.cached_path("img-raw"), driver.image_cache.cached_path("img-qcow2")
    inst.image_ref = "img-raw"
    driver.config.remove_unused_original_minimum_age_seconds = 3600
    driver.destroy(None, other, [])
    driver.manage_image_cache(None, [inst])
    assert os.path.exists(raw) and os.path.exists(qcow)  # qcow2's: unused, but only just
    old = time.time() - 7200
    for path in (raw, qcow):
        os.utime(path, (old, old))
    driver.manage_image_cache(None, [inst])
    assert os.path.exists(raw) and not os.path.exists(qcow)  # in use stays, unused and old goes
    driver.destroy(None, inst, [])


def test_what_libvirt_cannot_count_is_left_out(driver) -> None:
    """libvirt's bhyve driver has no blockStats, interfaceStats or vcpus:
    those counters are absent (the tap's own come from the host when it exists)."""
    from tests.driver.helpers import BhyveLikeConn, BhyveLikeDom
    inst = make_instance()
    vif = make_vif()
    driver.spawn(None, inst, IMAGE, network_info=[vif])
    try:
        BhyveLikeDom.LACKS = (*BhyveLikeDom.LACKS, "blockStats", "interfaceStats", "vcpus")
        driver._conn = BhyveLikeConn(driver.conn)
        s = driver.guest_stats(inst)
        assert s.disks == [] and s.vcpu_times_ns == [] and s.nics[0].rx_octets is None
        flat = driver.get_diagnostics(inst)
        assert "vda_read" not in flat and not any(k.startswith(vif["devname"]) for k in flat)
        assert driver.block_stats(inst, "vda") is None
    finally:
        BhyveLikeDom.LACKS = BhyveLikeDom.LACKS[:-3]
        driver._conn = driver._conn.real
        driver.destroy(None, inst, [vif])


def test_tap_counters_from_the_host() -> None:
    from bsdnet.driver.compute.diagnostics import _tap_counters
    lo = _tap_counters("lo")  # any interface the host has; a tap's transmit is its guest's receive
    assert lo is not None and lo.rx_octets is not None and lo.tx_octets is not None
    assert _tap_counters("tapnosuch0") is None
