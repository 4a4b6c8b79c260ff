"""What libvirt's bhyve driver can express, checked before anything is written.

``check_bhyve(domain, libvirt_version)`` raises ``UnsupportedConfig`` for a
setting the bhyve driver of that libvirt would refuse or silently drop (the
rules follow libvirt's ``bhyve_command.c`` / ``bhyve_domain.c``, and the
version gates the release that added each feature, per the test corpus in
``shared/reference/libvirt-bhyve``).  ``check_strings(domain)`` runs every
name, MAC, path and metadata string through ``validate``.
"""

from __future__ import annotations

from bsdnet.driver.domain import validate as v
from bsdnet.driver.domain.chardev import CharDevice
from bsdnet.driver.domain.disk import Disk
from bsdnet.driver.domain.display import Controller, Graphics, Input, Video
from bsdnet.driver.domain.domain import Domain
from bsdnet.driver.domain.errors import DomainConfigError, UnsupportedConfig
from bsdnet.driver.domain.interface import Interface
from bsdnet.driver.domain.passthrough import Audio, Filesystem, Hostdev, Rng, Sound


def version(major: int, minor: int, micro: int = 0) -> int:
    """libvirt's integer version encoding (virGetVersion)."""
    return major * 1_000_000 + minor * 1000 + micro


# Feature -> first libvirt release whose bhyve driver writes it.
SINCE = {
    "nvme": version(11, 9), "virtio-scsi": version(12, 0), "slirp": version(12, 0),
    "vnc-wait": version(11, 10), "multi-serial": version(11, 6), "tcp-serial": version(11, 6),
    "nvram": version(11, 4), "virtio-rnd": version(11, 3), "vcpupin": version(12, 1),
    "virtio-console": version(12, 2), "passthru": version(11, 10),
}
NIC_MODELS = ("virtio", "e1000")
DISK_BUSES = ("virtio", "sata", "nvme", "scsi")


def _gate(feature: str, libvirt_version: int | None) -> None:
    need = SINCE[feature]
    if libvirt_version is not None and libvirt_version < need:
        have = f"{libvirt_version // 1_000_000}.{libvirt_version // 1000 % 1000}"
        raise UnsupportedConfig(f"{feature} needs libvirt >= {need // 1_000_000}.{need // 1000 % 1000}"
                                f" (bhyve driver); this libvirt is {have}")


def _check_disk(d: Disk, lv: int | None) -> None:
    if d.target_bus not in DISK_BUSES:
        raise UnsupportedConfig(f"disk {d.target_dev}: bus {d.target_bus!r} is not one bhyve has {DISK_BUSES}")
    if d.driver_type not in (None, "raw"):
        raise UnsupportedConfig(f"disk {d.target_dev}: bhyve reads raw images only, not {d.driver_type!r}")
    if d.is_cdrom and d.target_bus != "sata":
        raise UnsupportedConfig(f"CD-ROM {d.target_dev}: bhyve attaches CD-ROMs on SATA (ahci-cd) only")
    if d.target_bus == "nvme":
        _gate("nvme", lv)
    if d.target_bus == "scsi" or d.type == "ctl":
        if not (d.target_bus == "scsi" and d.type == "ctl"):
            raise UnsupportedConfig("bhyve's virtio-scsi is a CTL target: disk type 'ctl' on bus 'scsi'")
        _gate("virtio-scsi", lv)
    elif d.type not in ("file", "block"):
        raise UnsupportedConfig(f"disk {d.target_dev}: type {d.type!r} is not one bhyve has")
    if (d.queues is not None or d.queue_size is not None) and d.target_bus != "nvme":
        raise UnsupportedConfig(f"disk {d.target_dev}: queues apply to NVMe only")


def _check_nic(n: Interface, lv: int | None) -> None:
    if n.type not in ("bridge", "network", "user"):
        raise UnsupportedConfig(f"interface type {n.type!r}: libvirt's bhyve driver takes bridge, network, user")
    if n.type == "user":
        _gate("slirp", lv)
    if n.model not in (None, *NIC_MODELS):
        raise UnsupportedConfig(f"NIC model {n.model!r}: bhyve has {NIC_MODELS}")
    if n.type == "bridge" and not n.source_bridge:
        raise UnsupportedConfig("a bridge interface needs <source bridge>")


def _check_serials(devs: list[CharDevice], lv: int | None) -> None:
    def port(c: CharDevice) -> tuple:
        return (c.type, c.master, c.slave, c.host, c.service, c.path)

    serials = [c for c in devs if c.kind == "serial"]
    # libvirt echoes serial 0 back as a <console> too: the same port, not a fifth.
    serials += [c for c in devs if c.kind == "console" and port(c) not in {port(s) for s in serials}]
    if len(serials) > 4:
        raise UnsupportedConfig("bhyve has four COM ports")
    if len(serials) > 1:
        _gate("multi-serial", lv)
    for c in serials:
        if c.type == "tcp":
            _gate("tcp-serial", lv)
        elif c.type != "nmdm":
            raise UnsupportedConfig(f"{c.kind} type {c.type!r}: bhyve serial ports are nmdm (or tcp)")
    for c in devs:
        if c.kind == "channel":
            if c.type != "unix" or c.target_type != "virtio":
                raise UnsupportedConfig("bhyve channels are unix sockets on virtio-console")
            _gate("virtio-console", lv)


def check_bhyve(dom: Domain, libvirt_version: int | None = None) -> None:
    """Raise UnsupportedConfig if libvirt's bhyve driver cannot express ``dom``."""
    if dom.type != "bhyve":
        raise UnsupportedConfig(f"domain type {dom.type!r}, expected 'bhyve'")
    if dom.os.type != "hvm":
        raise UnsupportedConfig("bhyve guests are hvm")
    if dom.os.is_uefi and dom.bootloader is not None:
        raise UnsupportedConfig("a UEFI loader and an external bootloader exclude each other")
    if dom.os.nvram is not None:
        # Older bhyve drivers ignore <nvram>: UEFI variables would not persist.
        _gate("nvram", libvirt_version)
    lv = libvirt_version
    if dom.cputune is not None and dom.cputune.pins:
        _gate("vcpupin", lv)
    if dom.topology is not None and dom.topology.vcpus != dom.vcpus:
        raise UnsupportedConfig(f"CPU topology gives {dom.topology.vcpus} vCPUs, domain has {dom.vcpus}")
    for d in dom.disks:
        _check_disk(d, lv)
    for n in dom.interfaces:
        _check_nic(n, lv)
    _check_serials(dom.chardevs, lv)
    graphics = dom.of_type(Graphics)
    if len(graphics) > 1:
        raise UnsupportedConfig("bhyve has one framebuffer")
    for g in graphics:
        if g.type != "vnc":
            raise UnsupportedConfig(f"graphics {g.type!r}: bhyve's framebuffer speaks VNC only")
        if not dom.os.is_uefi:
            raise UnsupportedConfig("bhyve's VNC framebuffer needs a UEFI guest")
        if g.wait:
            _gate("vnc-wait", lv)
    for vid in dom.of_type(Video):
        if vid.model != "gop":
            raise UnsupportedConfig(f"video model {vid.model!r}: bhyve has gop")
    has_xhci = any(c.type == "usb" and c.model == "nec-xhci" for c in dom.of_type(Controller))
    for inp in dom.of_type(Input):
        if (inp.type, inp.bus) != ("tablet", "usb"):
            raise UnsupportedConfig("bhyve's only input device is a USB tablet")
        if not has_xhci:
            raise UnsupportedConfig("a USB tablet needs <controller type='usb' model='nec-xhci'>")
    for c in dom.of_type(Controller):
        if c.type not in ("isa", "usb", "sata", "pci"):
            raise UnsupportedConfig(f"controller {c.type!r} is not one bhyve has")
    if dom.of_type(Rng):
        _gate("virtio-rnd", lv)
    if dom.of_type(Hostdev):
        _gate("passthru", lv)
        if not dom.locked:
            raise UnsupportedConfig("PCI passthrough needs wired guest memory (<memoryBacking><locked/>)")
    for s in dom.of_type(Sound):
        if s.model != "ich7":
            raise UnsupportedConfig("bhyve's sound device is HDA (model ich7)")
    for a in dom.of_type(Audio):
        if a.type != "oss":
            raise UnsupportedConfig("bhyve plays sound through OSS")
    if dom.extra_devices:
        raise UnsupportedConfig(f"devices outside the bhyve model: {[e.tag for e in dom.extra_devices]}")


def check_strings(dom: Domain) -> None:
    """Run every free-form value through its checker (raises DomainConfigError)."""
    v.check_name(dom.name)
    if dom.uuid is not None:
        v.check_uuid(dom.uuid)
    if dom.title is not None:
        v.check_text(dom.title, "title", 255)
        if "\n" in dom.title or "\r" in dom.title:
            raise DomainConfigError("a domain title is one line")
    for path in (dom.os.loader.path if dom.os.loader else None,
                 dom.os.nvram.path if dom.os.nvram else None,
                 dom.os.nvram.template if dom.os.nvram else None,
                 dom.bootloader):
        if path is not None:
            v.check_path(path)
    if dom.bootloader_args is not None:
        v.check_text(dom.bootloader_args, "bootloader_args", 512)
    for d in dom.disks:
        if d.source is not None:
            v.check_path(d.source)
        if not d.target_dev or not d.target_dev.isalnum():
            raise DomainConfigError(f"disk target {d.target_dev!r} must be alphanumeric")
        if d.serial is not None and not d.serial.replace("-", "").isalnum():
            raise DomainConfigError(f"disk serial {d.serial!r} must be alphanumeric")
    for n in dom.interfaces:
        if n.mac is not None:
            v.check_mac(n.mac)
        for ifname in (n.source_bridge, n.target_dev):
            if ifname is not None:
                v.check_ifname(ifname)
        if n.source_network is not None:
            v.check_name(n.source_network)
    for c in dom.chardevs:
        for path in (c.master, c.slave, c.path):
            if path is not None:
                v.check_path(path)
    for g in dom.of_type(Graphics):
        if g.passwd is not None and (not g.passwd.isprintable() or "," in g.passwd or len(g.passwd) > 8):
            raise DomainConfigError("VNC password: up to 8 printable characters, no comma")
    for fs in dom.of_type(Filesystem):
        v.check_path(fs.source_dir)
        v.check_text(fs.target_dir, "9p tag", 64)
    if dom.metadata is not None:
        md = dom.metadata
        for what in ("name", "package", "creation_time", "flavor_name", "user_name", "project_name"):
            value = getattr(md, what)
            if value is not None:
                v.check_text(value, f"metadata {what}", 255)
        for what in ("user_uuid", "project_uuid", "root_uuid"):
            if getattr(md, what):
                v.check_text(getattr(md, what), f"metadata {what}", 64)
    if dom.commandline is not None:
        for arg in dom.commandline.args:
            v.check_text(arg, "bhyve argument", 1024)
