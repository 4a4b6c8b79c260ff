"""BIOS Linux guests boot through grub-bhyve from the right partition, even
with a config drive attached and on GPT cloud images.  The partition tables
are written by sfdisk (util-linux), not by this project's own code."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from bsdnet.driver.compute.partitions import GrubRoot, grub_root
from bsdnet.driver.domain import Domain
from tests.driver.helpers import make_instance
from tests.driver.xmlcheck import assert_valid_domain

BIOS_LINUX = {"os_distro": "ubuntu", "hw_firmware_type": "bios"}
BIOS_BOOT = "21686148-6449-6E6F-744E-656564454649"
XBOOTLDR = "BC13C2FF-59E6-4262-A352-B275FD6F7172"
ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"

# sfdisk scripts: the layouts of real cloud images (partition numbers as theirs).
LAYOUTS = {
    # Debian 12 genericcloud, Ubuntu 22.04: root on 1, BIOS boot 14, ESP 15
    "gpt-root1": ("label: gpt\nimg1 : start=262144, size=65536, type={L}\n"
                  "img14 : start=2048, size=6144, type={B}\nimg15 : start=8192, size=16384, type={E}\n"),
    # Ubuntu 24.04: /boot is partition 16 (XBOOTLDR), grub.cfg at /grub/grub.cfg there
    "gpt-boot16": ("label: gpt\nimg1 : start=262144, size=65536, type={L}\n"
                   "img14 : start=2048, size=6144, type={B}\nimg15 : start=8192, size=16384, type={E}\n"
                   "img16 : start=24576, size=32768, type={X}\n"),
    # CentOS 7 style MBR: swap first, active Linux second
    "mbr-active2": ("label: dos\nimg1 : start=2048, size=8192, type=82\n"
                    "img2 : start=10240, size=65536, type=83, bootable\n"),
    "mbr-linux1": "label: dos\nimg1 : start=2048, size=65536, type=83\n",
}


@pytest.fixture(scope="module")
def sfdisk() -> str:
    path = shutil.which("sfdisk") or shutil.which("sfdisk", path="/usr/sbin:/sbin")
    if path is None:
        pytest.skip("sfdisk not installed (fdisk package): cannot write real partition tables")
    return path


def make_image(sfdisk: str, path, layout: str) -> None:
    """``path`` must not end in a digit: sfdisk names partitions path + number."""
    with open(path, "wb") as f:
        f.truncate(200 * 1024 * 1024)
    script = LAYOUTS[layout].format(L=LINUX, B=BIOS_BOOT, E=ESP, X=XBOOTLDR).replace("img", str(path))
    subprocess.run([sfdisk, "-q", "--no-reread", "--no-tell-kernel", str(path)], input=script, text=True,
                   check=True, capture_output=True)


@pytest.mark.parametrize("layout,want", [
    ("gpt-root1", GrubRoot("gpt", 1)), ("gpt-boot16", GrubRoot("gpt", 16, "/grub")),
    ("mbr-active2", GrubRoot("msdos", 2)), ("mbr-linux1", GrubRoot("msdos", 1)),
])
def test_grub_root_of_real_tables(sfdisk, tmp_path, layout, want) -> None:
    img = tmp_path / "disk.img"
    make_image(sfdisk, img, layout)
    assert grub_root(str(img)) == want


def test_no_table_no_guess(tmp_path) -> None:
    blank = tmp_path / "blank"
    blank.write_bytes(b"\0" * 4096)
    assert grub_root(str(blank)) is None
    short = tmp_path / "short"
    short.write_bytes(b"\0" * 100)
    assert grub_root(str(short)) is None


@pytest.mark.parametrize("layout,root,extra", [
    ("gpt-root1", "hd0,gpt1", []), ("gpt-boot16", "hd0,gpt16", ["--directory", "/grub"]),
    ("mbr-active2", "hd0,msdos2", []),
])
def test_config_drive_guest_boots_its_disk(driver, sfdisk, image_dir, layout, root, extra) -> None:
    if shutil.which("xorriso") is None:
        pytest.skip("xorriso not installed")
    make_image(sfdisk, image_dir / f"{layout}.img", layout)
    inst = make_instance(config_drive=True)
    driver.spawn(None, inst, {"id": f"{layout}.img", "disk_format": "raw", "properties": BIOS_LINUX}, network_info=[])
    try:
        xml = driver.conn.lookupByUUIDString(inst.uuid).XMLDesc(0)
        assert_valid_domain(xml)
        dom = Domain.from_xml(xml)
        idir = os.path.join(driver.config.instances_path, inst.uuid)
        disk, cd = dom.disks
        assert cd.is_cdrom and disk.boot_order == 1
        assert dom.bootloader == driver.config.grub_bhyve
        # grub-bhyve's whole command line (libvirt adds nothing to <bootloader_args>)
        assert dom.bootloader_args.split() == [
            "--device-map", os.path.join(idir, "device.map"), "--root", root, *extra, "--memory", "256",
            "--cons-dev", f"/dev/nmdm{inst.uuid}A", dom.name]
        with open(os.path.join(idir, "device.map")) as f:
            assert f.read() == f"(hd0) {disk.source}\n"
    finally:
        driver.destroy(None, inst, [])


def test_unknown_table_keeps_libvirt_default_with_boot_order(driver) -> None:
    """No table recognised: no bootloader_args, but the root disk still has
    boot order 1, so libvirt gives grub-bhyve '--root hd0,msdos1', not 'cd'."""
    if shutil.which("xorriso") is None:
        pytest.skip("xorriso not installed")
    inst = make_instance(config_drive=True)
    driver.spawn(None, inst, {"id": "img-raw", "properties": BIOS_LINUX}, network_info=[], power_on=False)
    try:
        dom = Domain.from_xml(driver.conn.lookupByUUIDString(inst.uuid).XMLDesc(0))
        assert dom.bootloader_args is None
        assert [d.boot_order for d in dom.disks] == [1, None]
    finally:
        driver.destroy(None, inst, [])
