"""The ZFS image backend on the zfs/zpool stand-in: root disks cloned from one
snapshot per image, sparse ephemeral and swap volumes with volmode=dev,
everything under the configured dataset and gone on destroy; and the
stand-in's own rules, so it refuses what zfs refuses."""

from __future__ import annotations

import os

import pytest

from bsdnet.driver.compute.zfs import Zfs, ZfsError, check_dataset
from bsdnet.driver.domain import Domain
from tests.driver.helpers import make_instance

IMAGE = {"id": "img-raw", "disk_format": "raw", "properties": {"os_distro": "freebsd"}}


# -- the stand-in refuses what zfs refuses --------------------------------
@pytest.mark.parametrize("argv,message", [
    (["create", "-V", "1M", "tank/a/b"], "parent does not exist"),
    (["create", "-V", "1M", "nopool/v"], "dataset does not exist"),
    (["create", "-V", "1M", "tank/bad name"], "invalid character"),
    (["create", "-V", "1M", "tank/" + "x" * 260], "name is too long"),
    (["create", "-s", "tank/fs"], "only be used when creating a volume"),
    (["create", "-o", "volmode=dev", "tank/fs"], "does not apply to datasets of this type"),
    (["create", "-o", "volmode=bogus", "-V", "1M", "tank/v"], "'volmode' must be one of"),
    (["create", "-o", "nosuchprop=1", "-V", "1M", "tank/v"], "invalid property"),
    (["clone", "tank", "tank/c"], "only applies to snapshots"),
    (["clone", "tank@nope", "tank/c"], "dataset does not exist"),
    (["promote", "tank"], "not a cloned filesystem"),
    (["frobnicate", "tank"], "unrecognized command"),
])
def test_standin_refuses(zfs_host, argv, message) -> None:
    r = zfs_host.run(*argv)
    assert r.returncode != 0 and message in r.stderr, r.stderr


def test_standin_destroy_rules(zfs_host) -> None:
    assert zfs_host.run("create", "-s", "-V", "1M", "tank/base").returncode == 0
    assert zfs_host.run("snapshot", "tank/base@s").returncode == 0
    assert zfs_host.run("clone", "tank/base@s", "tank/c").returncode == 0
    r = zfs_host.run("destroy", "tank/base")
    assert r.returncode == 1 and "has children" in r.stderr and "tank/base@s" in r.stderr
    r = zfs_host.run("destroy", "-r", "tank/base")
    assert r.returncode == 1 and "dependent clones" in r.stderr and "tank/c" in r.stderr
    # promote moves the snapshot to the clone: the original can then go
    assert zfs_host.run("promote", "tank/c").returncode == 0
    assert zfs_host.datasets()["tank/base"]["origin"] == "tank/c@s"
    assert zfs_host.datasets()["tank/c"]["origin"] is None  # base's origin: it was no clone
    assert zfs_host.run("destroy", "tank/base").returncode == 0
    assert "tank/c@s" in zfs_host.datasets()
    r = zfs_host.run("set", "volsize=1000", "tank/c")
    assert r.returncode == 1 and "multiple of volume block size" in r.stderr


def test_volume_size_rounded_up_and_device_made(zfs_host) -> None:
    assert zfs_host.run("create", "-V", "1000", "-o", "volmode=dev", "tank/v").returncode == 0
    assert zfs_host.datasets()["tank/v"]["props"]["volsize"] == "16384"
    assert os.path.getsize(os.path.join(zfs_host.dev_dir, "tank/v")) == 16384
    assert zfs_host.run("create", "-V", "1M", "-o", "volmode=none", "tank/hidden").returncode == 0
    assert not os.path.exists(os.path.join(zfs_host.dev_dir, "tank/hidden"))


@pytest.mark.parametrize("bad", ["", "-tank", "tank/-o", "tank/../x", "tank/a b", "tank/a\n", "1tank/a",
                                 "tank/" + "a" * 251, "tank/a@b@c"])
def test_driver_checks_names_before_zfs_sees_them(bad) -> None:
    with pytest.raises(ZfsError):
        check_dataset(bad)


def test_zfs_errors_carry_the_commands_words(zfs_host) -> None:
    z = Zfs(zfs_host.bins["zfs"], zfs_host.bins["zpool"])
    with pytest.raises(ZfsError, match="parent does not exist"):
        z.create_volume("tank/x/y", 2 ** 20)
    assert z.pool_health("tank") == "ONLINE"
    assert not z.exists("tank/x")
    with pytest.raises(ZfsError, match="not found"):
        Zfs("/nonexistent/zfs").exists("tank")


# -- the backend ------------------------------------------------------------
def test_layout_clone_and_destroy(zfs_driver, zfs_host, tmp_path) -> None:
    a, b = make_instance(), make_instance()
    a.flavor.root_gb, a.flavor.ephemeral_gb, a.flavor.swap = 1, 1, 64
    zfs_driver.spawn(None, a, IMAGE, network_info=[])
    zfs_driver.spawn(None, b, IMAGE, network_info=[], power_on=False)
    ds = zfs_host.datasets()
    image_vol = zfs_driver.storage.image_volume("img-raw")
    base = f"{image_vol}@base"
    root_a = f"tank/bsdnet/instances/{a.uuid}/disk"
    try:
        # one image volume and snapshot, both root disks clones of it (no copy)
        assert ds[root_a]["origin"] == base and ds[f"tank/bsdnet/instances/{b.uuid}/disk"]["origin"] == base
        assert [n for n in ds if n.startswith("tank/bsdnet/images/")] == [image_vol, base]
        for vol in (root_a, f"tank/bsdnet/instances/{a.uuid}/eph0", f"tank/bsdnet/instances/{a.uuid}/swap"):
            assert ds[vol]["props"]["volmode"] == "dev"
        assert ds[root_a]["props"]["volsize"] == str(2 ** 30)  # grown to the flavor's root_gb
        assert ds[f"tank/bsdnet/instances/{a.uuid}/eph0"]["props"]["volsize"] == str(2 ** 30)
        assert "refreservation" not in ds[f"tank/bsdnet/instances/{a.uuid}/eph0"]["props"]  # sparse
        assert ds[f"tank/bsdnet/instances/{a.uuid}/swap"]["props"]["volsize"] == str(64 * 2 ** 20)
        dom = Domain.from_xml(zfs_driver.conn.lookupByUUIDString(a.uuid).XMLDesc(0))
        assert [(d.type, d.source) for d in dom.disks] == [
            ("block", os.path.join(zfs_host.dev_dir, root_a)),
            ("block", os.path.join(zfs_host.dev_dir, f"tank/bsdnet/instances/{a.uuid}/eph0")),
            ("block", os.path.join(zfs_host.dev_dir, f"tank/bsdnet/instances/{a.uuid}/swap"))]
        with open(dom.disks[0].source, "rb") as f:
            assert f.read(9) == b"\xeb\x3c\x90BSDNET"  # the image's bytes, through the clone
        assert not os.listdir(zfs_driver.config.image_cache_path)  # the raw file went into the volume
        info = {d["path"]: d for d in __import__("json").loads(zfs_driver.get_instance_disk_info(a))}
        assert info[dom.disks[0].source]["virt_disk_size"] == 2 ** 30
    finally:
        zfs_driver.destroy(None, a, [])
    ds = zfs_host.datasets()
    assert not [n for n in ds if a.uuid in n]  # the instance's dataset is gone with it
    assert base in ds  # the image stays: b's disk is its clone
    zfs_driver.destroy(None, b, [])
    assert not [n for n in zfs_host.datasets() if "/instances/" in n]


def test_failed_spawn_leaves_no_volumes(zfs_driver, zfs_host) -> None:
    inst = make_instance()
    inst.flavor.ephemeral_gb = 1
    with pytest.raises(Exception):
        zfs_driver.spawn(None, inst, {"id": "img-raw", "properties": {"os_distro": "freebsd",
                                                                      "hw_disk_bus": "ide"}}, network_info=[])
    real_define = zfs_driver.conn.defineXMLFlags

    def refuse(xml, flags):
        raise __import__("libvirt").libvirtError("injected: define failed")
    zfs_driver.conn.defineXMLFlags = refuse
    try:
        with pytest.raises(Exception, match="injected"):
            zfs_driver.spawn(None, inst, IMAGE, network_info=[])
    finally:
        zfs_driver.conn.defineXMLFlags = real_define
    assert not [n for n in zfs_host.datasets() if inst.uuid in n]
    # a leftover dataset of that UUID does not block the next spawn
    zfs_host.run("create", "-p", f"tank/bsdnet/instances/{inst.uuid}")
    zfs_host.run("create", "-s", "-V", "1M", f"tank/bsdnet/instances/{inst.uuid}/disk")
    zfs_driver.spawn(None, inst, IMAGE, network_info=[], power_on=False)
    zfs_driver.destroy(None, inst, [])


def test_image_cache_pruning(zfs_driver, zfs_host) -> None:
    inst = make_instance()
    zfs_driver.spawn(None, inst, IMAGE, network_info=[], power_on=False)
    image_vol = zfs_driver.storage.image_volume("img-raw")
    zfs_driver.manage_image_cache(None, [inst])
    assert image_vol in zfs_host.datasets()  # in use
    zfs_driver.destroy(None, inst, [])
    zfs_driver.manage_image_cache(None, [])
    assert image_vol in zfs_host.datasets()  # unused, but not for long enough
    zfs_driver.config.remove_unused_original_minimum_age_seconds = 0
    zfs_driver.config.remove_unused_base_images = False
    zfs_driver.manage_image_cache(None, [])
    assert image_vol in zfs_host.datasets()  # pruning switched off
    zfs_driver.config.remove_unused_base_images = True
    zfs_driver.manage_image_cache(None, [])
    assert not [n for n in zfs_host.datasets() if n.startswith(image_vol)]


def test_disk_inventory_is_the_pool(zfs_driver) -> None:
    res = zfs_driver.get_available_resource("n")
    assert res["local_gb"] == 64  # the stand-in pool's size, not the instances path's file system
    assert zfs_driver.get_inventory("n")["DISK_GB"]["total"] == 64
