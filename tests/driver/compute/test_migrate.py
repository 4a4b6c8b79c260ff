"""Resize on one host (files and ZFS): confirm and revert, disks that only
grow, the new flavor applied; and cold migration to another host, which is
this machine seen through ssh_standin.py (its own instances directory and
zfs state, in a mount namespace)."""

from __future__ import annotations

import json
import os
import subprocess
from types import SimpleNamespace

import pytest

from bsdnet.driver.compute.driver import RUNNING, SHUTDOWN
from bsdnet.driver.compute.migrate import RESIZE, ResizeError
from bsdnet.driver.compute.instance import Flavor
from bsdnet.driver.domain import Domain
from tests.driver.helpers import libvirt, make_instance, make_vif, ssh_standin

IMAGE = {"id": "img-raw", "disk_format": "raw", "properties": {"os_distro": "freebsd"}}
GiB = 2 ** 30
SAME = SimpleNamespace(source_compute="h1", dest_compute="h1")


def dom_of(driver, inst) -> Domain:
    return Domain.from_xml(driver.conn.lookupByUUIDString(inst.uuid).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))


def root_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(9)


def spawn(driver, inst, vifs=()) -> None:
    driver.spawn(None, inst, IMAGE, network_info=list(vifs))


def test_resize_same_host_files_confirm(driver, fake_net) -> None:
    inst = make_instance(flavor=Flavor(name="small", memory_mb=256, vcpus=1, root_gb=1, ephemeral_gb=1, swap=16))
    vif = make_vif()
    spawn(driver, inst, [vif])
    idir = os.path.join(driver.config.instances_path, inst.uuid)
    with open(os.path.join(idir, "disk"), "r+b") as f:
        f.seek(4096)
        f.write(b"guest data")  # written by the guest before the resize
    big = Flavor(name="big", memory_mb=512, vcpus=2, root_gb=2, ephemeral_gb=1, swap=32)
    info = json.loads(driver.migrate_disk_and_power_off(None, inst, driver.config.host_ip, big, [vif]))
    assert [d["path"] for d in info][:2] == [os.path.join(idir, "disk"), os.path.join(idir, "disk.eph0")]
    assert driver.get_info(inst).state == SHUTDOWN and os.path.isdir(idir + RESIZE)
    inst.flavor = big  # Nova switches the flavor before finish_migration
    driver.finish_migration(None, SAME, inst, info, [vif], IMAGE, True)
    try:
        assert driver.get_info(inst).state == RUNNING
        dom = dom_of(driver, inst)
        assert (dom.memory_kib, dom.vcpus) == (512 * 1024, 2)
        sizes = {os.path.basename(d.source): os.path.getsize(d.source) for d in dom.disks}
        assert sizes == {"disk": 2 * GiB, "disk.eph0": GiB, "disk.swap": 32 * 2 ** 20}
        with open(os.path.join(idir, "disk"), "rb") as f:
            f.seek(4096)
            assert f.read(10) == b"guest data"
        assert fake_net.ports[vif["id"]].mac == vif["address"]
        driver.confirm_migration(None, SAME, inst, [vif])
        assert not os.path.exists(idir + RESIZE)
        assert driver.get_info(inst).state == RUNNING
    finally:
        driver.destroy(None, inst, [vif])


def test_resize_revert_brings_the_old_guest_back(driver) -> None:
    inst = make_instance(flavor=Flavor(name="small", memory_mb=256, vcpus=1, root_gb=1))
    spawn(driver, inst)
    before = dom_of(driver, inst)
    big = Flavor(name="big", memory_mb=512, vcpus=2, root_gb=2)
    info = driver.migrate_disk_and_power_off(None, inst, driver.config.host_ip, big, [])
    inst.flavor = big
    driver.finish_migration(None, SAME, inst, info, [], IMAGE, True)
    # Nova's revert: the destination's copy destroyed (shared storage here: disks kept), then the source reverts
    data = driver.check_instance_shared_storage_local(None, inst)
    assert driver.check_instance_shared_storage_remote(None, data) is True  # same host: shared
    driver.check_instance_shared_storage_cleanup(None, data)
    driver.destroy(None, inst, [], destroy_disks=False)
    inst.flavor = Flavor(name="small", memory_mb=256, vcpus=1, root_gb=1)
    driver.finish_revert_migration(None, inst, [], SAME)
    try:
        after = dom_of(driver, inst)
        assert (after.memory_kib, after.vcpus) == (before.memory_kib, before.vcpus)
        assert [d.source for d in after.disks] == [d.source for d in before.disks]
        assert os.path.getsize(after.disks[0].source) == GiB  # the old disk, not the grown one
        assert driver.get_info(inst).state == RUNNING
        assert not os.path.exists(os.path.join(driver.config.instances_path, inst.uuid) + RESIZE)
    finally:
        driver.destroy(None, inst, [])


def test_shrinking_refused_before_anything(driver) -> None:
    inst = make_instance(flavor=Flavor(name="m", memory_mb=256, vcpus=1, root_gb=2, ephemeral_gb=2))
    spawn(driver, inst)
    try:
        for small in (Flavor(memory_mb=256, root_gb=1, ephemeral_gb=2), Flavor(memory_mb=256, root_gb=2)):
            with pytest.raises(ResizeError, match="would shrink"):
                driver.migrate_disk_and_power_off(None, inst, driver.config.host_ip, small, [])
        assert driver.get_info(inst).state == RUNNING
        assert not os.path.exists(os.path.join(driver.config.instances_path, inst.uuid) + RESIZE)
    finally:
        driver.destroy(None, inst, [])


def test_resize_same_host_zfs(zfs_driver, zfs_host) -> None:
    inst = make_instance(flavor=Flavor(name="s", memory_mb=256, vcpus=1, root_gb=1, ephemeral_gb=1))
    spawn(zfs_driver, inst)
    ds = f"tank/bsdnet/instances/{inst.uuid}"
    big = Flavor(name="b", memory_mb=512, vcpus=2, root_gb=2, ephemeral_gb=2)
    info = zfs_driver.migrate_disk_and_power_off(None, inst, zfs_driver.config.host_ip, big, [])
    assert f"{ds}-resize/disk" in zfs_host.datasets() and f"{ds}/disk" not in zfs_host.datasets()
    inst.flavor = big
    zfs_driver.finish_migration(None, SAME, inst, info, [], IMAGE, True)
    d = zfs_host.datasets()
    assert d[f"{ds}/disk"]["origin"] == f"{ds}-resize/disk@moved"  # a clone: no copy
    assert d[f"{ds}/disk"]["props"]["volsize"] == str(2 * GiB) and d[f"{ds}/eph0"]["props"]["volsize"] == str(2 * GiB)
    with open(os.path.join(zfs_host.dev_dir, ds, "disk"), "rb") as f:
        assert f.read(9) == b"\xeb\x3c\x90BSDNET"
    zfs_driver.confirm_migration(None, SAME, inst, [])
    d = zfs_host.datasets()
    assert not [n for n in d if "-resize" in n or n.endswith("@moved")]  # promoted, kept copy and snapshot gone
    assert d[f"{ds}/disk"]["origin"] == zfs_driver.storage.image_volume("img-raw") + "@base"  # the image's
    zfs_driver.config.remove_unused_original_minimum_age_seconds = 0
    zfs_driver.manage_image_cache(None, [])  # Nova's list aside, a clone keeps the image in use
    assert zfs_driver.storage.image_volume("img-raw") in zfs_host.datasets()
    zfs_driver.destroy(None, inst, [])
    assert not [n for n in zfs_host.datasets() if inst.uuid in n]


def test_resize_revert_zfs(zfs_driver, zfs_host) -> None:
    inst = make_instance(flavor=Flavor(name="s", memory_mb=256, vcpus=1, root_gb=1))
    spawn(zfs_driver, inst)
    big = Flavor(name="b", memory_mb=512, vcpus=1, root_gb=2)
    info = zfs_driver.migrate_disk_and_power_off(None, inst, zfs_driver.config.host_ip, big, [])
    inst.flavor = big
    zfs_driver.finish_migration(None, SAME, inst, info, [], IMAGE, True)
    zfs_driver.destroy(None, inst, [], destroy_disks=True)  # Nova, were it to think the storage unshared
    inst.flavor = Flavor(name="s", memory_mb=256, vcpus=1, root_gb=1)
    zfs_driver.finish_revert_migration(None, inst, [], SAME)
    ds = f"tank/bsdnet/instances/{inst.uuid}"
    d = zfs_host.datasets()
    assert d[f"{ds}/disk"]["props"]["volsize"] == str(GiB) and not [n for n in d if "-resize" in n]
    assert not [n for n in d if n.startswith(ds) and "@" in n]
    assert zfs_driver.get_info(inst).state == RUNNING
    zfs_driver.destroy(None, inst, [])


# -- to another host ------------------------------------------------------
@pytest.fixture
def remote_host(tmp_path, driver):
    """'host2': ssh_standin.py runs its commands in a mount namespace where
    the instances directory is host2's own."""
    remote = tmp_path / "host2-instances"
    remote.mkdir()
    ssh = ssh_standin(str(tmp_path), {"host2": [(str(remote), driver.config.instances_path)]})
    if ssh is None:
        pytest.skip("a second host needs root and unshare(1) (a mount namespace)")
    driver.config.migration_ssh = ssh
    return remote


def test_cold_migration_copies_the_disks(driver, remote_host) -> None:
    inst = make_instance(flavor=Flavor(name="s", memory_mb=256, vcpus=1, root_gb=1, ephemeral_gb=1))
    spawn(driver, inst)
    idir = os.path.join(driver.config.instances_path, inst.uuid)
    driver.migrate_disk_and_power_off(None, inst, "host2", inst.flavor, [])
    there = remote_host / inst.uuid
    assert {"disk", "disk.eph0", "domain.resize.xml", "network_info.json"} <= set(os.listdir(there))
    assert root_bytes(str(there / "disk")) == b"\xeb\x3c\x90BSDNET"
    assert os.path.getsize(there / "disk.eph0") == GiB
    assert os.stat(there / "disk.eph0").st_blocks == 0  # holes kept over the wire
    assert os.path.isdir(idir + RESIZE)  # the source keeps its copy until confirmed
    moved = SimpleNamespace(source_compute="h1", dest_compute="h2")
    driver.confirm_migration(None, moved, inst, [])
    assert not driver.instance_exists(inst) and not os.path.exists(idir + RESIZE)


def test_unreachable_host_changes_nothing(driver, remote_host) -> None:
    inst = make_instance()
    spawn(driver, inst)
    try:
        with pytest.raises(ResizeError, match="Could not resolve hostname"):
            driver.migrate_disk_and_power_off(None, inst, "nosuchhost", inst.flavor, [])
        with pytest.raises(ResizeError, match="not a host name"):
            driver.migrate_disk_and_power_off(None, inst, "-oProxyCommand=evil", inst.flavor, [])
        assert driver.get_info(inst).state == RUNNING
    finally:
        driver.destroy(None, inst, [])


def test_cold_migration_zfs_sends_volumes(zfs_driver, zfs_host, tmp_path) -> None:
    """The other host has its own zfs (the stand-in's state, bind-mounted)."""
    from tests.driver.helpers import ZfsHost
    remote_inst = tmp_path / "host2-instances"
    remote_inst.mkdir()
    remote_zfs = ZfsHost(tmp_path / "host2-zfs")
    for cmd in ("zfs", "zpool"):  # the same commands, seeing host2's pool inside the namespace
        (tmp_path / "host2-zfs" / cmd).write_text(open(zfs_host.bins[cmd]).read())
    subprocess.run([zfs_host.bins["zfs"], "create", "-p", "tank/bsdnet/instances"], check=True)
    remote_zfs.run("create", "-p", "tank/bsdnet/instances")
    ssh = ssh_standin(str(tmp_path), {"host2": [(str(remote_inst), zfs_driver.config.instances_path),
                                                (remote_zfs.root, zfs_host.root)]})
    if ssh is None:
        pytest.skip("a second host needs root and unshare(1) (a mount namespace)")
    zfs_driver.config.migration_ssh = ssh
    inst = make_instance(flavor=Flavor(name="s", memory_mb=256, vcpus=1, root_gb=1))
    spawn(zfs_driver, inst)
    zfs_driver.migrate_disk_and_power_off(None, inst, "host2", inst.flavor, [])
    there = remote_zfs.datasets()
    vol = f"tank/bsdnet/instances/{inst.uuid}/disk"
    assert there[vol]["origin"] is None and there[vol]["props"]["volmode"] == "dev"  # whole, not a clone
    assert f"{vol}@moved" in there
    with open(os.path.join(remote_zfs.dev_dir, vol), "rb") as f:
        assert f.read(9) == b"\xeb\x3c\x90BSDNET"
    assert os.path.exists(remote_inst / inst.uuid / "domain.resize.xml")
    zfs_driver.confirm_migration(None, SimpleNamespace(source_compute="h1", dest_compute="h2"), inst, [])
    assert not [n for n in zfs_host.datasets() if inst.uuid in n]


def test_destination_finishes_with_the_disks_that_arrived(driver, remote_host, fake_net, image_dir, tmp_path) -> None:
    """host2's side: a driver whose instances directory is where the disks
    arrived defines the guest on them, grown to the new flavor.  (Both
    drivers share test:///default here, so the source's definition is
    dropped first, as host2's libvirt would not have it.)"""
    from bsdnet.driver.compute import images
    from bsdnet.driver.compute.config import DriverConfig
    from bsdnet.driver.compute.driver import BhyveDriver
    from bsdnet.driver.vif.bridge import BridgeVifDriver
    from tests.driver.xmlcheck import ValidatingConn
    inst = make_instance(flavor=Flavor(name="s", memory_mb=256, vcpus=1, root_gb=1))
    spawn(driver, inst)
    info = driver.migrate_disk_and_power_off(None, inst, "host2", inst.flavor, [])
    driver._undefine(driver.conn.lookupByUUIDString(inst.uuid))
    host2 = BhyveDriver(config=DriverConfig(connection_uri="test:///default", instances_path=str(remote_host),
                                            image_cache_path=str(tmp_path / "cache2")),
                        vif_driver=BridgeVifDriver(fake_net, uplink="em0"),
                        fetcher=images.local_fetcher(str(image_dir)),
                        connect=lambda uri: ValidatingConn(libvirt.open(uri)))
    host2.init_host("host2")
    inst.flavor = Flavor(name="b", memory_mb=512, vcpus=2, root_gb=2)
    try:
        host2.finish_migration(None, SimpleNamespace(source_compute="h1", dest_compute="h2"), inst, info, [],
                               IMAGE, True)
        dom = dom_of(host2, inst)
        there = str(remote_host / inst.uuid / "disk")
        assert [d.source for d in dom.disks] == [there] and (dom.memory_kib, dom.vcpus) == (512 * 1024, 2)
        assert os.path.getsize(there) == 2 * GiB and root_bytes(there) == b"\xeb\x3c\x90BSDNET"
        assert host2.get_info(inst).state == RUNNING
    finally:
        host2.destroy(None, inst, [])
        host2.cleanup_host("host2")
    driver.confirm_migration(None, SimpleNamespace(source_compute="h1", dest_compute="h2"), inst, [])
    assert not os.path.exists(os.path.join(driver.config.instances_path, inst.uuid) + RESIZE)
