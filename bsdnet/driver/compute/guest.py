"""Guest choice from image properties, and the domain model built from it.

Image properties are read the way Nova reads them (``hw_firmware_type``,
``os_type``, ``os_distro``, ``hw_disk_bus``, ``hw_vif_model``,
``hw_cdrom_bus``).  FreeBSD boots by bhyveload (or UEFI when asked), Linux by
UEFI (or grub-bhyve for BIOS images), Windows by UEFI with e1000 NICs, SATA
disks, local-time RTC and the LPC bridge on PCI slot 31, where Windows
expects it.  Whatever bhyve cannot do raises UnsupportedConfig here, at
spawn, rather than yielding a domain that will not start.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bsdnet.driver.domain import (Clock, Controller, CpuTopology, Disk, Domain, DomainOS,
                                  Features, Graphics, Input, Interface, Loader, NovaMetadata,
                                  Nvram, PciAddress, UnsupportedConfig, Video, CharDevice)
from bsdnet.driver.compute.partitions import GrubRoot
from bsdnet.driver.domain.check import SINCE, check_bhyve, check_strings

LOG = logging.getLogger(__name__)

LINUX_DISTROS = frozenset({
    "arch", "centos", "debian", "fedora", "gentoo", "mandrake", "mandriva", "mes", "opensuse",
    "rhel", "sled", "sles", "ubuntu", "alpine", "rocky", "almalinux", "linux"})
DISK_BUSES = ("virtio", "sata", "nvme")
NIC_MODELS = ("virtio", "e1000")
LPC_WINDOWS_SLOT = 0x1F


@dataclass(frozen=True)
class GuestProfile:
    family: str  # freebsd | linux | windows | other
    boot: str  # uefi | bhyveload | grub
    disk_bus: str
    nic_model: str
    cdrom_bus: str = "sata"
    lpc_slot31: bool = False
    clock: str = "utc"
    ignore_msrs: bool = False


def _family(props: Mapping[str, Any]) -> str:
    os_type = str(props.get("os_type") or "").lower()
    distro = str(props.get("os_distro") or "").lower()
    if os_type == "windows" or distro == "windows":
        return "windows"
    if os_type == "freebsd" or distro == "freebsd":
        return "freebsd"
    if os_type == "linux" or distro in LINUX_DISTROS:
        return "linux"
    return "other"


def choose_guest(props: Mapping[str, Any]) -> GuestProfile:
    """Pick boot method and device models from image properties."""
    family = _family(props)
    firmware = str(props.get("hw_firmware_type") or "").lower() or None
    if firmware not in (None, "uefi", "bios"):
        raise UnsupportedConfig(f"hw_firmware_type {firmware!r}: bhyve boots 'uefi' or 'bios'")
    if family == "windows":
        if firmware == "bios":
            raise UnsupportedConfig("bhyve boots Windows by UEFI only (hw_firmware_type=bios)")
        boot, disk, nic = "uefi", "sata", "e1000"
    elif family == "freebsd":
        boot, disk, nic = ("uefi" if firmware == "uefi" else "bhyveload"), "virtio", "virtio"
    else:
        # Linux and anything unnamed: UEFI, or grub-bhyve for BIOS-only images.
        boot, disk, nic = ("grub" if firmware == "bios" else "uefi"), "virtio", "virtio"
    disk = str(props.get("hw_disk_bus") or disk)
    if disk not in DISK_BUSES:
        raise UnsupportedConfig(f"hw_disk_bus {disk!r}: bhyve has {DISK_BUSES}")
    nic = str(props.get("hw_vif_model") or nic)
    if nic not in NIC_MODELS:
        raise UnsupportedConfig(f"hw_vif_model {nic!r}: bhyve has {NIC_MODELS}")
    cdrom = str(props.get("hw_cdrom_bus") or "sata")
    if cdrom != "sata":
        raise UnsupportedConfig(f"hw_cdrom_bus {cdrom!r}: bhyve attaches CD-ROMs on SATA only")
    return GuestProfile(family=family, boot=boot, disk_bus=disk, nic_model=nic, cdrom_bus=cdrom,
                        lpc_slot31=family == "windows",
                        clock="localtime" if family == "windows" else "utc",
                        ignore_msrs=family in ("windows", "linux"))


@dataclass
class DiskSpec:
    path: str
    device: str = "disk"  # disk | cdrom
    type: str = "file"  # file | block (a ZFS volume, a Cinder volume's device)
    bus: str | None = None  # None: the guest profile's bus (sata for CD-ROMs)
    readonly: bool = False
    serial: str | None = None
    queues: int | None = None
    queue_size: int | None = None
    boot: bool = False  # a volume Nova boots from


@dataclass
class GuestSpec:
    """Everything the domain needs, already resolved to local paths."""

    name: str
    uuid: str
    memory_mb: int
    vcpus: int
    image_props: Mapping[str, Any] = field(default_factory=dict)
    disks: list[DiskSpec] = field(default_factory=list)  # root disk first
    nics: list[Interface] = field(default_factory=list)  # from the VIF driver, model filled here
    console: str | None = None  # nmdm master path ("/dev/nmdm<uuid>A") or None
    vnc: bool = True
    vnc_port: int | None = None  # None: libvirt's autoport
    nvram_path: str | None = None
    topology: tuple[int, int, int] | None = None  # sockets, cores, threads
    wired: bool = False
    metadata: NovaMetadata | None = None
    boot_cdrom: bool = False  # install media: boot the first CD-ROM
    uefi_firmware: str = ""
    uefi_vars_template: str | None = None
    grub_bhyve: str = ""
    vnc_listen: str = "127.0.0.1"
    title: str | None = None  # Nova's instance name, when the domain name is not it
    grub_root: GrubRoot | None = None  # grub-bhyve: the partition with grub.cfg, when known
    grub_device_map: str | None = None  # grub-bhyve: the device.map naming the root disk hd0


def nmdm_pair(uuid: str) -> tuple[str, str]:
    """The nmdm(4) pair for a guest: bhyve holds A, the console logger reads B."""
    return f"/dev/nmdm{uuid}A", f"/dev/nmdm{uuid}B"


def _target_names(disks: list[Disk]) -> None:
    counters: dict[str, int] = {}
    for d in disks:
        # SATA disks and CD-ROMs share one AHCI name space (sda, sdb, ...).
        n = counters.get(d.target_bus, 0)
        counters[d.target_bus] = n + 1
        if d.target_bus == "nvme":
            d.target_dev = f"nvme{n}n1"
        else:
            d.target_dev = ("vd" if d.target_bus == "virtio" else "sd") + "abcdefghijklmnopqrstuvwxyz"[n]


def _disk(spec: DiskSpec, profile: GuestProfile) -> Disk:
    bus = spec.bus or (profile.cdrom_bus if spec.device == "cdrom" else profile.disk_bus)
    return Disk(source=spec.path, target_dev="", target_bus=bus, device=spec.device, type=spec.type,
                readonly=spec.readonly or spec.device == "cdrom", serial=spec.serial,
                queues=spec.queues, queue_size=spec.queue_size)


def _topology(spec: GuestSpec) -> CpuTopology | None:
    if spec.topology is None:
        return None
    top = CpuTopology(*spec.topology)
    if top.vcpus != spec.vcpus:
        raise UnsupportedConfig(f"CPU topology {spec.topology} gives {top.vcpus} vCPUs, flavor has {spec.vcpus}")
    return top


def _grub_args(spec: GuestSpec) -> str | None:
    """grub-bhyve's whole command line when the root partition is known
    (libvirt passes <bootloader_args> as they are, split on blanks, and
    adds nothing); None leaves libvirt's defaults ('--root hd0,msdos1',
    its own device.map), which suit an MBR image with Linux on partition 1."""
    root = spec.grub_root
    if root is None or spec.grub_device_map is None:
        return None
    args = ["--device-map", spec.grub_device_map, "--root", root.device]
    if root.grub_dir != "/boot/grub":
        args += ["--directory", root.grub_dir]
    args += ["--memory", str(spec.memory_mb)]  # bhyve's -m, in MiB: the two must agree
    if spec.wired:
        args.append("--wire-memory")
    if spec.console is not None:
        args += ["--cons-dev", spec.console]
    return " ".join([*args, spec.name])


def build_domain(spec: GuestSpec, libvirt_version: int | None = None) -> Domain:
    """The bhyve domain for ``spec``; raises UnsupportedConfig / DomainConfigError."""
    profile = choose_guest(spec.image_props)
    dom = Domain(name=spec.name, uuid=spec.uuid, title=spec.title, memory_kib=spec.memory_mb * 1024,
                 vcpus=spec.vcpus, topology=_topology(spec), locked=spec.wired,
                 metadata=spec.metadata, clock=Clock(profile.clock),
                 features=Features(acpi=True, apic=True,
                                   msrs_unknown="ignore" if profile.ignore_msrs else None),
                 os=DomainOS())
    dom.lifecycle = {"on_poweroff": "destroy", "on_reboot": "restart", "on_crash": "destroy"}
    disks = [_disk(d, profile) for d in spec.disks]
    _target_names(disks)
    if spec.boot_cdrom:
        cd = next((d for d in disks if d.is_cdrom), None)
        if cd is None:
            raise UnsupportedConfig("boot from CD-ROM asked without a CD-ROM")
        dom.os.boot_devs = ["cdrom"]
    elif disks and not disks[0].is_cdrom:
        # Without a boot order libvirt's loaders prefer a CD-ROM (grub-bhyve
        # gets '--root cd' and boots the config drive to a GRUB prompt).
        disks[0].boot_order = 1
    if profile.boot == "uefi":
        dom.os.loader = Loader(spec.uefi_firmware, readonly=True, type="pflash")
        nvram_ok = libvirt_version is None or libvirt_version >= SINCE["nvram"]
        if spec.nvram_path and nvram_ok:
            dom.os.nvram = Nvram(spec.nvram_path, template=spec.uefi_vars_template)
    elif profile.boot == "grub":
        dom.bootloader = spec.grub_bhyve
        dom.bootloader_args = _grub_args(spec)
    if profile.lpc_slot31:
        dom.devices.append(Controller("isa", index=0, address=PciAddress(slot=LPC_WINDOWS_SLOT)))
    dom.devices.extend(disks)
    for nic in spec.nics:
        nic.model = nic.model or profile.nic_model
        if nic.model not in NIC_MODELS:
            raise UnsupportedConfig(f"NIC model {nic.model!r}: bhyve has {NIC_MODELS}")
        dom.devices.append(nic)
    if spec.console is not None:
        master = spec.console
        slave = master[:-1] + "B" if master.endswith("A") else None
        dom.devices.append(CharDevice(kind="serial", type="nmdm", master=master, slave=slave))
    if spec.vnc:
        if profile.boot == "uefi":
            port = -1 if spec.vnc_port is None else spec.vnc_port
            dom.devices.append(Graphics(type="vnc", port=port, autoport=spec.vnc_port is None, listen=spec.vnc_listen))
            dom.devices.append(Video(model="gop", heads=1, primary=True))
            dom.devices.append(Controller("usb", model="nec-xhci"))
            dom.devices.append(Input("tablet", "usb"))
        else:
            # bhyve's framebuffer is a UEFI device; these guests' console is the serial port.
            LOG.info("%s boots by %s: no VNC framebuffer, serial console only", spec.name, profile.boot)
    check_strings(dom)
    check_bhyve(dom, libvirt_version)
    return dom
