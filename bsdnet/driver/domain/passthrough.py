"""Less common devices bhyve supports: 9p shares, virtio-rnd, HDA sound with
an OSS backend, PCI passthrough, and raw ``<bhyve:commandline>`` arguments."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace

from bsdnet.driver.domain.address import Address, PciAddress, parse_address
from bsdnet.driver.domain.base import BHYVE_NS, XMLElement, get_int, parse_yesno, sub, yesno


@dataclass
class Filesystem(XMLElement):
    """``<filesystem>`` -> virtio-9p share."""

    source_dir: str
    target_dir: str
    type: str | None = None
    accessmode: str | None = None
    readonly: bool = False
    root_name = "filesystem"

    def format_dom(self) -> ET.Element:
        el = ET.Element("filesystem")
        if self.type is not None:
            el.set("type", self.type)
        if self.accessmode is not None:
            el.set("accessmode", self.accessmode)
        sub(el, "source", {"dir": self.source_dir})
        sub(el, "target", {"dir": self.target_dir})
        if self.readonly:
            sub(el, "readonly")
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Filesystem":
        src, tgt = el.find("source"), el.find("target")
        return cls(source_dir=src.get("dir", "") if src is not None else "",
                   target_dir=tgt.get("dir", "") if tgt is not None else "",
                   type=el.get("type"), accessmode=el.get("accessmode"),
                   readonly=el.find("readonly") is not None)


@dataclass
class Rng(XMLElement):
    model: str = "virtio"
    backend_model: str = "random"
    backend_path: str | None = None
    root_name = "rng"

    def format_dom(self) -> ET.Element:
        el = ET.Element("rng", {"model": self.model})
        sub(el, "backend", {"model": self.backend_model}, self.backend_path)
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Rng":
        be = el.find("backend")
        return cls(model=el.get("model", "virtio"),
                   backend_model=be.get("model", "random") if be is not None else "random",
                   backend_path=(be.text.strip() or None) if be is not None and be.text else None)


@dataclass
class Sound(XMLElement):
    model: str = "ich7"
    audio_id: int | None = None
    root_name = "sound"

    def format_dom(self) -> ET.Element:
        el = ET.Element("sound", {"model": self.model})
        if self.audio_id is not None:
            sub(el, "audio", {"id": self.audio_id})
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Sound":
        return cls(model=el.get("model", "ich7"), audio_id=get_int(el.find("audio"), "id"))


@dataclass
class Audio(XMLElement):
    type: str = "oss"
    id: int = 1
    input_dev: str | None = None
    output_dev: str | None = None
    root_name = "audio"

    def format_dom(self) -> ET.Element:
        el = ET.Element("audio", {"type": self.type, "id": str(self.id)})
        if self.input_dev is not None:
            sub(el, "input", {"dev": self.input_dev})
        if self.output_dev is not None:
            sub(el, "output", {"dev": self.output_dev})
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Audio":
        i, o = el.find("input"), el.find("output")
        return cls(type=el.get("type", "oss"), id=get_int(el, "id") or 0,
                   input_dev=i.get("dev") if i is not None else None,
                   output_dev=o.get("dev") if o is not None else None)


@dataclass
class Hostdev(XMLElement):
    """PCI passthrough (ppt(4)); libvirt requires wired memory with it."""

    source: PciAddress
    managed: bool | None = None
    address: Address | None = None
    root_name = "hostdev"

    def format_dom(self) -> ET.Element:
        el = ET.Element("hostdev", {"mode": "subsystem", "type": "pci"})
        if self.managed is not None:
            el.set("managed", yesno(self.managed) or "")
        src = sub(el, "source")
        # libvirt writes the host address without a type attribute.
        src.append(replace(self.source, with_type=False).format_dom())
        if self.address is not None:
            el.append(self.address.format_dom())
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Hostdev":
        saddr = el.find("source/address")
        return cls(source=PciAddress.parse_dom(saddr) if saddr is not None else PciAddress(slot=0, with_type=False),
                   managed=parse_yesno(el.get("managed")),
                   address=parse_address(el.find("address")))


@dataclass
class Commandline(XMLElement):
    """``<bhyve:commandline>``: extra bhyve arguments, passed through verbatim."""

    args: list[str] = field(default_factory=list)
    root_name = f"{{{BHYVE_NS}}}commandline"

    def format_dom(self) -> ET.Element:
        el = ET.Element(self.root_name)
        for arg in self.args:
            ET.SubElement(el, f"{{{BHYVE_NS}}}arg", {"value": arg})
        return el

    @classmethod
    def parse_dom(cls, el: ET.Element) -> "Commandline":
        return cls(args=[a.get("value", "") for a in el.findall(f"{{{BHYVE_NS}}}arg")])
