"""How the guest boots: ``<os>`` (UEFI loader, NVRAM, boot order) and the
domain-level ``<bootloader>`` / ``<bootloader_args>`` (bhyveload, grub-bhyve).

libvirt's bhyve driver runs bhyveload when neither a loader nor a bootloader
is given; with ``<loader>`` (or ``firmware='efi'``) bhyve boots UEFI itself.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from bsdnet.driver.domain.base import XMLElement, parse_yesno, sub, text_of, yesno
from bsdnet.driver.domain.errors import DomainConfigError

GRUB_BHYVE = "/usr/local/sbin/grub-bhyve"
BHYVELOAD = "/usr/sbin/bhyveload"
# The firmware FreeBSD's edk2-bhyve package installs.
UEFI_FIRMWARE = "/usr/local/share/uefi-firmware/BHYVE_UEFI.fd"
UEFI_VARS_TEMPLATE = "/usr/local/share/uefi-firmware/BHYVE_UEFI_VARS.fd"
BOOT_DEVS = ("hd", "cdrom", "network", "fd")


@dataclass
class Loader(XMLElement):
    """``<loader readonly='yes' type='pflash'>/path/BHYVE_UEFI.fd</loader>``."""

    path: str
    readonly: bool | None = True
    type: str | None = "pflash"
    root_name = "loader"

    def format_dom(self) -> ET.Element:
        el = ET.Element("loader")
        if self.readonly is not None:
            el.set("readonly", yesno(self.readonly) or "")
        if self.type is not None:
            el.set("type", self.type)
        el.text = self.path
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Loader":
        return cls(path=text_of(el) or "", readonly=parse_yesno(el.get("readonly")), type=el.get("type"))


@dataclass
class Nvram(XMLElement):
    """``<nvram template='...'>path</nvram>``: per-guest UEFI variable store."""

    path: str | None = None
    template: str | None = None
    root_name = "nvram"

    def format_dom(self) -> ET.Element:
        el = ET.Element("nvram")
        if self.template is not None:
            el.set("template", self.template)
        if self.path is not None:
            el.text = self.path
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Nvram":
        return cls(path=text_of(el) or None, template=el.get("template"))


@dataclass
class DomainOS(XMLElement):
    """``<os>``: guest type, firmware and boot order."""

    type: str = "hvm"
    arch: str | None = None
    machine: str | None = None
    firmware: str | None = None  # 'efi': libvirt picks the firmware file itself
    loader: Loader | None = None
    nvram: Nvram | None = None
    boot_devs: list[str] = field(default_factory=list)
    root_name = "os"

    def format_dom(self) -> ET.Element:
        el = ET.Element("os")
        if self.firmware is not None:
            el.set("firmware", self.firmware)
        sub(el, "type", {"arch": self.arch, "machine": self.machine}, self.type)
        if self.loader is not None:
            el.append(self.loader.format_dom())
        if self.nvram is not None:
            el.append(self.nvram.format_dom())
        for dev in self.boot_devs:
            if dev not in BOOT_DEVS:
                raise DomainConfigError(f"boot device {dev!r} is not one of {BOOT_DEVS}")
            sub(el, "boot", {"dev": dev})
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "DomainOS":
        t = el.find("type")
        loader = el.find("loader")
        nvram = el.find("nvram")
        return cls(type=text_of(t) or "hvm",
                   arch=t.get("arch") if t is not None else None,
                   machine=t.get("machine") if t is not None else None,
                   firmware=el.get("firmware"),
                   loader=Loader.parse_dom(loader) if loader is not None else None,
                   nvram=Nvram.parse_dom(nvram) if nvram is not None else None,
                   boot_devs=[b.get("dev", "") for b in el.findall("boot")])

    @property
    def is_uefi(self) -> bool:
        return self.loader is not None or self.firmware == "efi"


def grub_device_map(disks: list[tuple[str, str]]) -> str:
    """The grub-bhyve device.map libvirt writes: ``(hd0) /path`` / ``(cd) /path``.

    ``disks`` is a list of (device, path) with device 'disk' or 'cdrom', in
    boot order.  Written out for operators who pass ``--device-map`` in
    ``<bootloader_args>`` themselves; by default libvirt builds the same map.
    """
    lines, hd = [], 0
    for device, path in disks:
        if device == "cdrom":
            lines.append(f"(cd) {path}")
        else:
            lines.append(f"(hd{hd}) {path}")
            hd += 1
    return "\n".join(lines) + "\n"
