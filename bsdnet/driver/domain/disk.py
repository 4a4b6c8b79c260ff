"""``<disk>``: virtio-blk, SATA (AHCI) disk and CD-ROM, NVMe, CTL (virtio-scsi)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from bsdnet.driver.domain.address import Address, parse_address
from bsdnet.driver.domain.base import XMLElement, get_int, sub

# bus -> target device name prefix, as libvirt and Nova name them.
DISK_PREFIX = {"virtio": "vd", "sata": "sd", "nvme": "nvme", "scsi": "sd"}


@dataclass
class Disk(XMLElement):
    """A disk or CD-ROM.  ``source`` is a file path (type 'file'), a device
    (type 'block', or 'ctl' for /dev/cam/ctl)."""

    source: str | None
    target_dev: str
    target_bus: str
    type: str = "file"
    device: str | None = "disk"  # 'disk' | 'cdrom'; None when the XML left it out
    driver_name: str | None = "file"
    driver_type: str | None = "raw"
    queues: int | None = None  # NVMe: maxq
    queue_size: int | None = None  # NVMe: qsz
    readonly: bool = False
    boot_order: int | None = None
    serial: str | None = None
    address: Address | None = None
    root_name = "disk"

    @property
    def is_cdrom(self) -> bool:
        return self.device == "cdrom"

    def format_dom(self) -> ET.Element:
        el = ET.Element("disk", {"type": self.type})
        if self.device is not None:
            el.set("device", self.device)
        if any(x is not None for x in (self.driver_name, self.driver_type, self.queues, self.queue_size)):
            sub(el, "driver", {"name": self.driver_name, "type": self.driver_type,
                               "queues": self.queues, "queue_size": self.queue_size})
        if self.source is not None:
            sub(el, "source", {"file" if self.type == "file" else "dev": self.source})
        sub(el, "target", {"dev": self.target_dev, "bus": self.target_bus})
        if self.boot_order is not None:
            sub(el, "boot", {"order": self.boot_order})
        if self.readonly:
            sub(el, "readonly")
        if self.serial is not None:
            sub(el, "serial", text=self.serial)
        if self.address is not None:
            el.append(self.address.format_dom())
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Disk":
        drv, src, tgt = el.find("driver"), el.find("source"), el.find("target")
        kind = el.get("type", "file")
        source = None
        if src is not None:
            source = src.get("file") if kind == "file" else src.get("dev")
        serial = el.find("serial")
        return cls(source=source,
                   target_dev=tgt.get("dev", "") if tgt is not None else "",
                   target_bus=tgt.get("bus", "") if tgt is not None else "",
                   type=kind, device=el.get("device"),
                   driver_name=drv.get("name") if drv is not None else None,
                   driver_type=drv.get("type") if drv is not None else None,
                   queues=get_int(drv, "queues"), queue_size=get_int(drv, "queue_size"),
                   readonly=el.find("readonly") is not None,
                   boot_order=get_int(el.find("boot"), "order"),
                   serial=serial.text if serial is not None else None,
                   address=parse_address(el.find("address")))
