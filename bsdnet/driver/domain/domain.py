"""``<domain type='bhyve'>``: the whole guest, devices in document order.

Elements the model has no class for are kept verbatim in ``extra`` /
``extra_devices`` (libvirt adds some when it returns a definition), so a
domain read back from libvirt can be written again without losing them;
``strict=True`` refuses them instead.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Union

from bsdnet.driver.domain.base import XMLElement, parse_xml, sub, text_int, text_of
from bsdnet.driver.domain.boot import DomainOS
from bsdnet.driver.domain.chardev import CHARDEV_TAGS, CharDevice
from bsdnet.driver.domain.disk import Disk
from bsdnet.driver.domain.display import Controller, Graphics, Input, Video
from bsdnet.driver.domain.errors import DomainConfigError
from bsdnet.driver.domain.features import Clock, Features
from bsdnet.driver.domain.interface import Interface
from bsdnet.driver.domain.metadata import NovaMetadata
from bsdnet.driver.domain.passthrough import (Audio, Commandline, Filesystem, Hostdev, Rng, Sound)
from bsdnet.driver.domain.resources import CpuTopology, CpuTune, memory_to_kib

Device = Union[Disk, Interface, CharDevice, Graphics, Video, Input, Controller,
               Filesystem, Rng, Sound, Audio, Hostdev]

DEVICE_CLASSES: dict[str, type[XMLElement]] = {
    "disk": Disk, "interface": Interface, "graphics": Graphics, "video": Video,
    "input": Input, "controller": Controller, "filesystem": Filesystem, "rng": Rng,
    "sound": Sound, "audio": Audio, "hostdev": Hostdev,
    **{tag: CharDevice for tag in CHARDEV_TAGS},
}
LIFECYCLE = ("on_poweroff", "on_reboot", "on_crash")
_KNOWN_TOP = {"name", "uuid", "title", "memory", "currentMemory", "memoryBacking", "vcpu", "cputune",
              "cpu", "bootloader", "bootloader_args", "os", "features", "clock", "devices",
              "metadata", Commandline.root_name, *LIFECYCLE}


@dataclass
class Domain(XMLElement):
    name: str
    uuid: str | None = None
    title: str | None = None  # one line; the driver keeps Nova's instance name here
    type: str = "bhyve"
    memory_kib: int = 0
    current_memory_kib: int | None = None
    locked: bool = False  # wired guest memory (bhyve -S)
    vcpus: int = 1
    vcpu_placement: str | None = None
    cputune: CpuTune | None = None
    topology: CpuTopology | None = None
    bootloader: str | None = None
    bootloader_args: str | None = None
    os: DomainOS = field(default_factory=DomainOS)
    features: Features | None = None
    clock: Clock | None = None
    lifecycle: dict[str, str] = field(default_factory=dict)
    devices: list[Device] = field(default_factory=list)
    metadata: NovaMetadata | None = None
    commandline: Commandline | None = None
    extra: list[ET.Element] = field(default_factory=list, compare=False)
    extra_devices: list[ET.Element] = field(default_factory=list, compare=False)
    root_name = "domain"

    # -- views ----------------------------------------------------------
    def of_type(self, cls: type) -> list:
        return [d for d in self.devices if isinstance(d, cls)]

    @property
    def disks(self) -> list[Disk]:
        return self.of_type(Disk)

    @property
    def interfaces(self) -> list[Interface]:
        return self.of_type(Interface)

    @property
    def chardevs(self) -> list[CharDevice]:
        return self.of_type(CharDevice)

    @property
    def graphics(self) -> list[Graphics]:
        return self.of_type(Graphics)

    @property
    def controllers(self) -> list[Controller]:
        return self.of_type(Controller)

    # -- XML ------------------------------------------------------------
    def format_dom(self) -> ET.Element:
        el = ET.Element("domain", {"type": self.type})
        sub(el, "name", text=self.name)
        if self.uuid is not None:
            sub(el, "uuid", text=self.uuid)
        if self.title is not None:
            sub(el, "title", text=self.title)
        if self.metadata is not None:
            sub(el, "metadata").append(self.metadata.format_dom())
        sub(el, "memory", {"unit": "KiB"}, self.memory_kib)
        if self.current_memory_kib is not None:
            sub(el, "currentMemory", {"unit": "KiB"}, self.current_memory_kib)
        if self.locked:
            sub(sub(el, "memoryBacking"), "locked")
        sub(el, "vcpu", {"placement": self.vcpu_placement}, self.vcpus)
        if self.cputune is not None:
            el.append(self.cputune.format_dom())
        if self.bootloader is not None:
            sub(el, "bootloader", text=self.bootloader)
        if self.bootloader_args is not None:
            sub(el, "bootloader_args", text=self.bootloader_args)
        el.append(self.os.format_dom())
        if self.features is not None:
            el.append(self.features.format_dom())
        if self.topology is not None:
            el.append(self.topology.format_dom())
        if self.clock is not None:
            el.append(self.clock.format_dom())
        for tag in LIFECYCLE:
            if tag in self.lifecycle:
                sub(el, tag, text=self.lifecycle[tag])
        devs = sub(el, "devices")
        for dev in self.devices:
            devs.append(dev.format_dom())
        devs.extend(self.extra_devices)
        el.extend(self.extra)
        if self.commandline is not None:
            el.append(self.commandline.format_dom())
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element, strict: bool = False) -> "Domain":
        if el.tag != "domain":
            raise DomainConfigError(f"expected <domain>, got <{el.tag}>")
        name = text_of(el.find("name"))
        if not name:
            raise DomainConfigError("<domain> without <name>")
        dom = cls(name=name, uuid=text_of(el.find("uuid")), title=text_of(el.find("title")),
                  type=el.get("type", "bhyve"))
        mem, cur = el.find("memory"), el.find("currentMemory")
        dom.memory_kib = memory_to_kib(mem) if mem is not None else 0
        dom.current_memory_kib = memory_to_kib(cur) if cur is not None else None
        dom.locked = el.find("memoryBacking/locked") is not None
        vcpu = el.find("vcpu")
        dom.vcpus = text_int(vcpu) or 1
        dom.vcpu_placement = vcpu.get("placement") if vcpu is not None else None
        for tag, attr, kind in (("cputune", "cputune", CpuTune), ("cpu", "topology", CpuTopology),
                                ("os", "os", DomainOS), ("features", "features", Features),
                                ("clock", "clock", Clock)):
            child = el.find(tag)
            if child is not None:
                setattr(dom, attr, kind.parse_dom(child))
        dom.bootloader = text_of(el.find("bootloader"))
        dom.bootloader_args = text_of(el.find("bootloader_args"))
        dom.lifecycle = {t: text_of(el.find(t)) or "" for t in LIFECYCLE if el.find(t) is not None}
        meta = el.find(f"metadata/{NovaMetadata.root_name}")
        if meta is not None:
            dom.metadata = NovaMetadata.parse_dom(meta)
        cmd = el.find(Commandline.root_name)
        if cmd is not None:
            dom.commandline = Commandline.parse_dom(cmd)
        for child in el.find("devices") if el.find("devices") is not None else []:
            kind = DEVICE_CLASSES.get(child.tag)
            if kind is None:
                if strict:
                    raise DomainConfigError(f"device <{child.tag}> is not in the bhyve model")
                dom.extra_devices.append(child)
            else:
                dom.devices.append(kind.parse_dom(child))  # type: ignore[arg-type]
        for child in el:
            if child.tag not in _KNOWN_TOP:
                if strict:
                    raise DomainConfigError(f"element <{child.tag}> is not in the bhyve model")
                dom.extra.append(child)
        return dom

    @classmethod
    def from_xml(cls, text: str | bytes, strict: bool = False) -> "Domain":  # type: ignore[override]
        return cls.parse_dom(parse_xml(text), strict=strict)


