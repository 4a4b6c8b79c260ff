"""Each element class round-trips on its own; every string is checked before
it reaches XML; what bhyve cannot express is refused with a reason."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

import pytest

from bsdnet.driver.domain import (Audio, CharDevice, Clock, Commandline, Controller, CpuTopology,
                                  CpuTune, Disk, Domain, DomainConfigError, DomainOS, DriveAddress,
                                  Features, Filesystem, Graphics, Hostdev, Input, Interface, Loader,
                                  NovaMetadata, NovaPort, Nvram, PciAddress, Rng, Sound,
                                  UnsupportedConfig, VcpuPin, Video, grub_device_map)
from bsdnet.driver.domain import validate as v
from bsdnet.driver.domain.check import check_bhyve, check_strings, version

SAMPLES = [
    PciAddress(slot=31), DriveAddress(target=2),
    Loader("/fw/BHYVE_UEFI.fd"), Nvram("/i/nvram.fd", template="/fw/VARS.fd"),
    DomainOS(loader=Loader("/fw/x.fd"), nvram=Nvram("/n.fd"), boot_devs=["cdrom", "hd"]),
    DomainOS(firmware="efi"),
    CpuTopology(2, 2, 1), CpuTune([VcpuPin(0, "1-3"), VcpuPin(1, "0")]),
    Features(acpi=True, apic=True, msrs_unknown="ignore"), Clock("localtime"),
    Disk("/d/disk", "vda", "virtio", address=PciAddress(slot=4)),
    Disk("/d/cd.iso", "sdb", "sata", device="cdrom", readonly=True, boot_order=1,
         address=DriveAddress(target=4)),
    Disk("/d/n.img", "nvme0n1", "nvme", queues=2, queue_size=256, serial="abc123"),
    Disk("/dev/cam/ctl", "sda", "scsi", type="ctl", device=None, driver_name=None, driver_type=None),
    Interface(mac="52:54:00:00:00:01", source_bridge="br0", target_dev="tap0", model="e1000"),
    Interface(type="user", model="e1000"),
    CharDevice(master="/dev/nmdm1A", slave="/dev/nmdm1B"),
    CharDevice(kind="serial", type="tcp", mode="bind", host="127.0.0.1", service="4555", protocol="raw"),
    CharDevice(kind="channel", type="unix", mode="bind", path="/run/a.sock", target_type="virtio",
               target_name="org.qemu.guest_agent.0"),
    Graphics(port=5904, passwd="s3cr3t", wait=True), Graphics(port=-1, autoport=True),
    Video(heads=1, primary=True, width=1920, height=1080, vgaconf="on"),
    Input(), Controller("isa", index=0, address=PciAddress(slot=31)), Controller("usb", model="nec-xhci"),
    Filesystem("/shared", "tag0", readonly=True), Rng(), Sound(audio_id=1),
    Audio(input_dev="/dev/dsp0", output_dev="/dev/dsp0"),
    Hostdev(PciAddress(slot=0, bus=3, with_type=False), managed=False, address=PciAddress(slot=7)),
    Commandline(["-H", "-w"]),
    NovaMetadata(name="vm1", package="bsdnet", creation_time="2026-01-01 00:00:00", flavor_name="m1",
                 memory_mb=512, disk_gb=1, swap_mb=0, ephemeral_gb=0, vcpus=1, user_uuid="u",
                 user_name="alice", project_uuid="p", project_name="demo", root_type="image",
                 root_uuid="img", ports=[NovaPort("port1", [("fixed", "10.0.0.5", 4)])]),
]


@pytest.mark.parametrize("obj", SAMPLES, ids=lambda o: type(o).__name__)
def test_element_round_trip(obj) -> None:
    el = obj.format_dom()
    back = type(obj).parse_dom(ET.fromstring(ET.tostring(el)))
    assert back == obj


def full_domain() -> Domain:
    dom = Domain(name="instance-0000002a", uuid="df3be7e7-a104-11e3-aeb0-50e5492bd3dc",
                 memory_kib=1024 * 1024, vcpus=2, topology=CpuTopology(1, 2, 1), locked=True,
                 os=DomainOS(loader=Loader("/fw/BHYVE_UEFI.fd")), features=Features(acpi=True),
                 clock=Clock("utc"), metadata=copy.deepcopy(SAMPLES[-1]))
    dom.devices = [copy.deepcopy(s) for s in SAMPLES
                   if isinstance(s, (Disk, Interface, Graphics, Video, Input, Controller))]
    return dom


def test_domain_round_trip_with_metadata() -> None:
    dom = full_domain()
    text = dom.to_xml()
    assert 'xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1"' in text
    assert Domain.from_xml(text, strict=True) == dom


def test_unknown_elements_kept_or_refused() -> None:
    text = ("<domain type='bhyve'><name>a</name><memory>1024</memory><os><type>hvm</type></os>"
            "<seclabel type='none'/><devices><watchdog model='i6300esb'/></devices></domain>")
    dom = Domain.from_xml(text)
    assert [e.tag for e in dom.extra] == ["seclabel"]
    assert [e.tag for e in dom.extra_devices] == ["watchdog"]
    assert "<watchdog" in dom.to_xml() and "<seclabel" in dom.to_xml()
    with pytest.raises(DomainConfigError):
        Domain.from_xml(text, strict=True)
    with pytest.raises(UnsupportedConfig, match="watchdog"):
        check_bhyve(dom)


def test_dtd_refused() -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]>'
            "<domain><name>&b;</name></domain>")
    with pytest.raises(DomainConfigError, match="DTD"):
        Domain.from_xml(bomb)
    with pytest.raises(DomainConfigError, match="malformed"):
        Domain.from_xml("<domain><name>x</domain>")


def test_markup_in_metadata_is_escaped_not_injected() -> None:
    dom = full_domain()
    dom.metadata.name = "</nova:name><evil/>&"
    text = dom.to_xml()
    assert "<evil" not in text
    assert Domain.from_xml(text).metadata.name == "</nova:name><evil/>&"


@pytest.mark.parametrize("bad", ["", "a" * 32, "-rf", "a b", "a/b", "na\u00efve", "x;y", "guest\n"])
def test_bad_names(bad: str) -> None:
    with pytest.raises(DomainConfigError):
        v.check_name(bad)


def test_checkers_accept_and_normalise() -> None:
    assert v.check_name("instance-0000002a") == "instance-0000002a"
    assert v.check_mac("FA-16-3E-00-00-01") == "fa:16:3e:00:00:01"
    assert v.check_ifname("tap0123456789a") == "tap0123456789a"
    assert v.check_path("/var/lib/bsdnet/instances/x/disk") == "/var/lib/bsdnet/instances/x/disk"
    assert v.check_uuid("DF3BE7E7-A104-11E3-AEB0-50E5492BD3DC") == "df3be7e7-a104-11e3-aeb0-50e5492bd3dc"


@pytest.mark.parametrize("check,bad", [
    (v.check_mac, "01:00:5e:00:00:01"), (v.check_mac, "52:54:00:00:00"), (v.check_mac, "zz:54:00:00:00:00"),
    (v.check_path, "relative/disk"), (v.check_path, "/a,b"), (v.check_path, "/a b"),
    (v.check_path, "/a/../etc/passwd"), (v.check_path, "/a\nb"),
    (v.check_ifname, "tap0123456789abc"), (v.check_ifname, "-tap"), (v.check_ifname, "ta p"),
    (v.check_ifname, "tap0\n"),  # '$' would match before a trailing newline
    (v.check_uuid, "not-a-uuid"), (v.check_text, "a\x00b"), (v.check_text, "a\x1bb"),
])
def test_checkers_refuse(check, bad) -> None:
    with pytest.raises(DomainConfigError):
        check(bad)


def test_check_strings_walks_the_whole_domain() -> None:
    dom = full_domain()
    check_strings(dom)
    dom.disks[0].source = "/images/a,b"  # a comma would split bhyve's -s option
    with pytest.raises(DomainConfigError, match="comma"):
        check_strings(dom)
    dom = full_domain()
    dom.interfaces[0].mac = "ff:ff:ff:ff:ff:ff"
    with pytest.raises(DomainConfigError, match="multicast"):
        check_strings(dom)
    dom = full_domain()
    dom.metadata.project_name = "bell\x07"
    with pytest.raises(DomainConfigError):
        check_strings(dom)


def base() -> Domain:
    return Domain(name="g", memory_kib=262144, os=DomainOS(loader=Loader("/fw/x.fd")),
                  devices=[Disk("/d/disk", "vda", "virtio")])


@pytest.mark.parametrize("mutate,reason", [
    (lambda d: d.devices.append(Disk("/d/cd", "vdb", "virtio", device="cdrom")), "SATA"),
    (lambda d: setattr(d.devices[0], "driver_type", "qcow2"), "raw"),
    (lambda d: setattr(d.devices[0], "target_bus", "ide"), "bus"),
    (lambda d: d.devices.append(Interface(type="ethernet", target_dev="tap0")), "ethernet"),
    (lambda d: d.devices.append(Interface(source_bridge="br0", model="rtl8139")), "rtl8139"),
    (lambda d: d.devices.append(Interface(type="bridge")), "source bridge"),
    (lambda d: d.devices.append(Input()), "xhci"),
    (lambda d: d.devices.append(Graphics(type="spice")), "VNC"),
    (lambda d: (setattr(d.os, "loader", None), d.devices.append(Graphics())), "UEFI"),
    (lambda d: setattr(d, "bootloader", "/usr/local/sbin/grub-bhyve"), "exclude"),
    (lambda d: d.devices.append(Hostdev(PciAddress(slot=0, with_type=False))), "wired"),
    (lambda d: d.devices.append(CharDevice(type="pty")), "nmdm"),
    (lambda d: d.devices.extend(CharDevice(master=f"/dev/nmdm{i}A") for i in range(5)), "four"),
    (lambda d: setattr(d, "topology", CpuTopology(2, 2, 1)), "topology"),
    (lambda d: d.devices.append(Video(model="vga")), "gop"),
])
def test_unexpressible_settings_refused(mutate, reason) -> None:
    dom = base()
    check_bhyve(dom)
    mutate(dom)
    with pytest.raises(UnsupportedConfig, match=reason):
        check_bhyve(dom)


def test_version_gates() -> None:
    dom = base()
    dom.devices.append(Disk("/d/n", "nvme0n1", "nvme"))
    check_bhyve(dom, version(11, 9))
    with pytest.raises(UnsupportedConfig, match="libvirt >= 11.9"):
        check_bhyve(dom, version(11, 8))


def test_grub_device_map_matches_libvirt() -> None:
    # libvirt's grub-defaults and disk-cdrom-grub .devmap files
    assert grub_device_map([("disk", "/tmp/freebsd.img")]) == "(hd0) /tmp/freebsd.img\n"
    assert grub_device_map([("cdrom", "/tmp/cdrom.iso")]) == "(cd) /tmp/cdrom.iso\n"
